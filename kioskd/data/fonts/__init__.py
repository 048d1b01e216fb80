"""The bundled font, Atkinson Hyperlegible (SIL Open Font License; see README.md and OFL.txt here)."""
