"""QR codes: decoding camera frames with zbar, and rendering codes as camera-like frames.

Kept apart from the scanner thread so the decoder can be used and tested without a camera, and so
the Sim renders exactly what the real decoder has to read.
"""

from __future__ import annotations

import logging
from ctypes import byref, c_int, c_void_p, cast, string_at

import cv2
import numpy as np
from pyzbar import wrapper as zbar
from pyzbar.pyzbar import ZBarSymbol

from kioskd.qrcodes import QUIET_ZONE_MODULES, qr_matrix

log = logging.getLogger(__name__)

BACKGROUND = 200  # light grey around the code, like a phone screen in a dim reader slot
_Y800 = int.from_bytes(b"Y800", "little")  # zbar's fourcc for 8-bit greyscale


def _qr_binary_config() -> int | None:
    """zbar's "binary" option number, or None for a zbar too old to have it (before 0.23).

    Without it zbar guesses the character set of byte-mode QR data and often takes short UTF-8
    text for Shift-JIS ("é" comes back as a CJK character), so the raw bytes are asked for and
    decoded as UTF-8 here.
    """
    symbology, config, value = c_int(), c_int(), c_int()
    if zbar.zbar_parse_config(b"qrcode.binary", byref(symbology), byref(config), byref(value)) != 0:
        return None
    return config.value


Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive) in pixels


def _symbol_box(symbol) -> Box:
    points = [(zbar.zbar_symbol_get_loc_x(symbol, i), zbar.zbar_symbol_get_loc_y(symbol, i))
              for i in range(zbar.zbar_symbol_get_loc_size(symbol))]
    if not points:
        return (0, 0, 0, 0)
    xs, ys = [x for x, _ in points], [y for _, y in points]
    return (min(xs), min(ys), max(xs) + 1, max(ys) + 1)


_TO_GRAY = {3: cv2.COLOR_BGR2GRAY, 4: cv2.COLOR_BGRA2GRAY}


def to_gray(frame: np.ndarray) -> np.ndarray | None:
    """One 8-bit luminance plane, or None for a frame with no pixels or an unknown layout.

    zbar reads a single plane; handing it a colour array makes pyzbar keep only the blue channel,
    which loses codes printed or displayed in red or green.
    """
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.size == 0 or not (frame.ndim == 2 or frame.ndim == 3 and frame.shape[2] in _TO_GRAY):
        return None
    frame = np.ascontiguousarray(frame)
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, _TO_GRAY[frame.shape[2]])


class QrDecoder:
    """Finds QR codes in a camera frame and returns their texts.

    Uses zbar through pyzbar's bindings, limited to QR codes so a barcode on a parcel or a poster
    behind the citizen is never taken for a token.
    """

    def __init__(self) -> None:
        self._binary = _qr_binary_config()
        if self._binary is None:
            log.info("this zbar cannot return raw QR bytes; non-ASCII codes may be misread")

    def decode(self, frame: np.ndarray) -> list[str]:
        """The distinct UTF-8 texts of the QR codes in ``frame`` (grey, BGR or BGRA), sorted, so
        the same codes always give the same list whatever order zbar finds them in."""
        if not isinstance(frame, np.ndarray):
            raise TypeError(f"frame must be a numpy array, not {type(frame).__name__}")
        if frame.dtype != np.uint8:
            raise TypeError(f"frame must be uint8, not {frame.dtype}")
        gray = to_gray(frame)
        if gray is None:
            return []
        texts = set()
        for data, _box in self.scan(gray):
            try:
                texts.add(data.decode("utf-8"))
            except UnicodeDecodeError:
                log.info("ignoring a QR code whose %d bytes are not UTF-8", len(data))
        return sorted(texts)

    def scan(self, gray: np.ndarray) -> list[tuple[bytes, Box]]:
        """The raw bytes of each QR code zbar finds in a contiguous 8-bit ``gray`` plane, with the
        code's bounding box ``(x0, y0, x1, y1)`` in pixels of ``gray``."""
        height, width = gray.shape
        pixels = gray.tobytes()  # kept referenced until zbar is done with it
        scanner = zbar.zbar_image_scanner_create()
        try:
            for symbol in ZBarSymbol:
                if symbol not in (ZBarSymbol.NONE, ZBarSymbol.QRCODE):
                    zbar.zbar_image_scanner_set_config(scanner, symbol, zbar.ZBarConfig.CFG_ENABLE, 0)
            zbar.zbar_image_scanner_set_config(scanner, ZBarSymbol.QRCODE, zbar.ZBarConfig.CFG_ENABLE, 1)
            if self._binary is not None:
                zbar.zbar_image_scanner_set_config(scanner, ZBarSymbol.QRCODE, self._binary, 1)
            image = zbar.zbar_image_create()
            try:
                zbar.zbar_image_set_format(image, _Y800)
                zbar.zbar_image_set_size(image, width, height)
                zbar.zbar_image_set_data(image, cast(pixels, c_void_p), len(pixels), None)
                if zbar.zbar_scan_image(scanner, image) < 0:
                    log.warning("zbar refused a %dx%d frame", width, height)
                    return []
                found = []
                symbol = zbar.zbar_image_first_symbol(image)
                while symbol:
                    data = string_at(zbar.zbar_symbol_get_data(symbol), zbar.zbar_symbol_get_data_length(symbol))
                    found.append((data, _symbol_box(symbol)))
                    symbol = zbar.zbar_symbol_next(symbol)
                return found
            finally:
                zbar.zbar_image_destroy(image)
        finally:
            zbar.zbar_image_scanner_destroy(scanner)


def render_qr(text: str, *, width: int = 640, height: int = 480, box_size: int | None = None) -> np.ndarray:
    """A camera-like BGR frame showing ``text`` as a QR code, for the Sim camera and tests.

    Error correction M and a full quiet zone, as a phone shows a token; by default the modules are
    as large as whole pixels allow, so the decoder gets a clean image.
    """
    if width < 1 or height < 1:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    modules = np.array(qr_matrix(text, QUIET_ZONE_MODULES), dtype=bool)
    size = modules.shape[0]
    box = box_size if box_size is not None else min(width, height) // size
    if box < 1 or box * size > min(width, height):
        raise ValueError(f"a QR code of {size} modules (with quiet zone) at {box} px per module "
                         f"does not fit a {width}x{height} frame")
    image = np.where(modules, 0, 255).astype(np.uint8).repeat(box, axis=0).repeat(box, axis=1)
    frame = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
    top, left = (height - image.shape[0]) // 2, (width - image.shape[1]) // 2
    frame[top:top + image.shape[0], left:left + image.shape[1]] = image[:, :, None]
    return frame
