"""Packaged data: the pilot catalogue."""
