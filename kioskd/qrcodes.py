"""A text as QR-code modules: one encoding for the Sim camera's frames and the itsme code on the screen.

Error correction M and the standard quiet zone, as a phone shows a token; without cv2 or pygame, so the screen
can draw a code without loading the camera's libraries.
"""

from __future__ import annotations

import qrcode
from qrcode.exceptions import DataOverflowError

QUIET_ZONE_MODULES = 4  # what the QR standard asks for; less makes decoders miss codes


def qr_matrix(text: str, border: int = QUIET_ZONE_MODULES) -> list[list[bool]]:
    """Rows of dark (True) and light modules, ``border`` modules of quiet zone included; ValueError when the
    text does not fit in a QR code."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=1, border=border)
    try:
        code.add_data(text.encode("utf-8"))
        code.make(fit=True)
    except (DataOverflowError, ValueError):  # qrcode 5 reports overflow as an invalid version 41
        raise ValueError(f"text of {len(text.encode('utf-8'))} bytes does not fit in a QR code") from None
    return code.get_matrix()
