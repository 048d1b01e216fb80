"""kioskd: a municipal pickup-and-return locker kiosk."""

__version__ = "0.1.0"
