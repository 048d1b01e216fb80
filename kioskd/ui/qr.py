"""The modules of a QR code the kiosk shows on its screen (itsme), as plain booleans.

Kept apart from the renderer so the frame can size a code before it is drawn: a code is drawn with a
whole number of pixels per module, so its side must be a multiple of its module count. Error correction
M and a four-module quiet zone, as the camera side of the kiosk expects of a phone (``kioskd.drivers.qr``).
"""

from __future__ import annotations

import math
from functools import lru_cache

from kioskd.qrcodes import QUIET_ZONE_MODULES, qr_matrix

MIN_SIDE_MM = 35.0  # a phone at arm's length reads a code this size from a screen at once
MAX_SIDE_MM = 70.0  # larger only makes the phone step back


@lru_cache(maxsize=16)
def modules(text: str) -> tuple[tuple[bool, ...], ...]:
    """Rows of dark (True) and light modules, quiet zone included; ValueError if ``text`` is too long."""
    return tuple(tuple(bool(cell) for cell in row) for row in qr_matrix(text, QUIET_ZONE_MODULES))


def module_count(text: str) -> int:
    """Modules across the code, quiet zone included."""
    return len(modules(text))


def side_px(text: str, px_per_mm: float, room: int) -> int:
    """The side to draw ``text``'s code at: a whole number of pixels per module, at least ``MIN_SIDE_MM``,
    and at most ``MAX_SIDE_MM`` or ``room`` pixels, whichever is smaller (but never below the minimum)."""
    n = module_count(text)
    largest = min(room, round(MAX_SIDE_MM * px_per_mm))
    smallest = math.ceil(MIN_SIDE_MM * px_per_mm)
    return max(largest // n, math.ceil(smallest / n), 1) * n
