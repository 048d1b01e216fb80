"""The reference town-hall server for kioskd: the kiosk sync API v1 and the staff console (docs/townhall.md)."""
