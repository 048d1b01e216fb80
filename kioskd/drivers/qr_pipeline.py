"""The QR decoding pipeline behind the scanner: several cheap attempts in turn, stopping at the first read.

A citizen's code reaches the camera on a phone in dark mode, behind glass, with moiré, or on a
creased letter; no single decoder call reads all of these, and trying everything on every frame
would cost the Raspberry Pi a core all day. So each frame goes through a short list of stages,
cheapest and most often successful first, until one reads a code or the frame's time budget is
spent (docs/qr.md has the stages and what each one measurably adds).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from kioskd.drivers.qr import Box, QrDecoder, to_gray

DECODERS = ("zxing", "zbar", "opencv")
ROI_MISSES = 5  # frames without a read after which the last code's place is forgotten
ROI_MARGIN = 0.5  # of the code's size, added on every side of the region looked at first
BASE_SIDE = 1280  # longer side a large frame is first looked at in (a 1080p code is still huge there)
SMALL_SIDE = 400  # at most this long (frame or region): an upscaled copy helps tiny modules


@dataclass(frozen=True)
class PipelineSettings:
    """Which stages run. The defaults are what the kiosk uses; ``decoders=("zbar",), invert=False,
    pyramid=False, roi=False`` is the plain pyzbar decoder the pipeline replaced (the baseline)."""

    decoders: tuple[str, ...] = ("zxing", "zbar")  # tried in this order at each scale
    invert: bool = True  # also look for light-on-dark codes (phones in dark mode)
    pyramid: bool = True  # also try smaller copies (screens, large codes) and a larger one (tiny codes)
    roi: bool = True  # look first where the last code was
    budget_ms: float | None = 40.0  # no new stage starts after this; None: run every stage

    def __post_init__(self) -> None:
        unknown = [name for name in self.decoders if name not in DECODERS]
        if unknown or not self.decoders:
            raise ValueError(f"decoders must be a non-empty choice of {', '.join(DECODERS)}, got {self.decoders}")
        if self.budget_ms is not None and not self.budget_ms > 0:
            raise ValueError(f"budget_ms must be positive, got {self.budget_ms}")


Found = list[tuple[str, Box]]
Reader = Callable[[np.ndarray, bool], Found]  # (grey plane, also try inverted) -> texts with boxes


class _Zbar:
    def __init__(self) -> None:
        self._decoder = QrDecoder()

    def __call__(self, gray: np.ndarray, inverted: bool) -> Found:
        found = []
        for data, box in self._decoder.scan(cv2.bitwise_not(gray) if inverted else gray):
            try:
                found.append((data.decode("utf-8"), box))
            except UnicodeDecodeError:
                continue  # a token is always UTF-8; other bytes are someone else's code
        return found


class _Zxing:
    """zxing-cpp: the best single decoder on camera photos and the fastest (docs/qr.md)."""

    def __init__(self, *, try_invert: bool, try_downscale: bool) -> None:
        import zxingcpp  # optional at import time so the baseline runs without it

        self._zxing = zxingcpp
        self._options = {"formats": zxingcpp.BarcodeFormat.QRCode, "try_rotate": True,
                         "try_invert": try_invert, "try_downscale": try_downscale,
                         "text_mode": zxingcpp.TextMode.Plain}  # HRI would write control bytes as "<SOH>"

    def __call__(self, gray: np.ndarray, inverted: bool) -> Found:
        if inverted:
            return []  # zxing-cpp tries the inverted image itself (try_invert)
        found = []
        for barcode in self._zxing.read_barcodes(gray, **self._options):
            try:
                text = barcode.bytes.decode("utf-8")
            except UnicodeDecodeError:
                text = barcode.text  # zxing-cpp knows the code's declared character set
            p = barcode.position
            xs = (p.top_left.x, p.top_right.x, p.bottom_right.x, p.bottom_left.x)
            ys = (p.top_left.y, p.top_right.y, p.bottom_right.y, p.bottom_left.y)
            found.append((text, (min(xs), min(ys), max(xs) + 1, max(ys) + 1)))
        return found


class _OpenCv:
    def __init__(self) -> None:
        self._detector = cv2.QRCodeDetectorAruco()

    def __call__(self, gray: np.ndarray, inverted: bool) -> Found:
        image = cv2.bitwise_not(gray) if inverted else gray
        ok, texts, points, _ = self._detector.detectAndDecodeMulti(image)
        if not ok or points is None:
            return []
        found = []
        for text, corners in zip(texts, points, strict=False):
            if text:
                xs, ys = corners[:, 0], corners[:, 1]
                found.append((text, (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)))
        return found


def _reader(name: str, settings: PipelineSettings) -> Reader:
    if name == "zbar":
        return _Zbar()
    if name == "zxing":
        return _Zxing(try_invert=settings.invert, try_downscale=settings.pyramid)
    return _OpenCv()


@dataclass
class _View:
    """One picture a stage looks at: a scaled crop of the frame, and how to map its boxes back."""

    gray: np.ndarray
    scale: float  # view pixels per frame pixel
    left: int = 0
    top: int = 0

    def to_frame(self, box: Box) -> Box:
        x0, y0, x1, y1 = box
        s = self.scale
        return (int(x0 / s) + self.left, int(y0 / s) + self.top, int(x1 / s) + self.left, int(y1 / s) + self.top)


def _resized(gray: np.ndarray, scale: float) -> np.ndarray:
    height, width = gray.shape
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


class DecodePipeline:
    """Finds QR codes in camera frames, trying stages cheap-first until one reads a code.

    Keeps the place of the last code between frames (``roi``), so one instance belongs to one
    camera (one thread). ``last_ms`` is how long the last ``decode`` took.
    """

    def __init__(self, settings: PipelineSettings | None = None) -> None:
        self.settings = settings or PipelineSettings()
        self._readers = [(name, _reader(name, self.settings)) for name in self.settings.decoders]
        self.last_ms = 0.0
        self.last_stage = ""  # which stage read the last code ("" when none did), for the benchmark and logs
        self._roi: Box | None = None
        self._roi_shape: tuple[int, int] | None = None
        self._roi_misses = 0

    def decode(self, frame: np.ndarray) -> list[str]:
        """The distinct texts of the QR codes in ``frame`` (grey, BGR or BGRA, uint8 or uint16),
        sorted; empty when no stage read a code within the budget."""
        started = time.perf_counter()
        try:
            return self._decode(frame, started)
        finally:
            self.last_ms = (time.perf_counter() - started) * 1000

    def _decode(self, frame: np.ndarray, started: float) -> list[str]:
        if not isinstance(frame, np.ndarray):
            raise TypeError(f"frame must be a numpy array, not {type(frame).__name__}")
        if frame.dtype == np.uint16:
            frame = (frame >> 8).astype(np.uint8)
        elif frame.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 or uint16, not {frame.dtype}")
        gray = to_gray(frame)
        self.last_stage = ""
        if gray is None:
            return []
        budget = self.settings.budget_ms
        deadline = None if budget is None else started + budget / 1000
        first = True
        for stage, view, reader, inverted in self._stages(gray):
            if not first and deadline is not None and time.perf_counter() >= deadline:
                break
            first = False
            found = reader(view.gray, inverted)
            if found:
                self.last_stage = stage
                self._remember(gray.shape, [view.to_frame(box) for _, box in found])
                return sorted({text for text, _ in found})
        self._forget_slowly()
        return []

    def _stages(self, gray: np.ndarray) -> Iterator[tuple[str, _View, Reader, bool]]:
        """(name, view, reader, inverted) in the order they are tried; views are made only when reached."""
        s = self.settings
        polarities = (False, True) if s.invert else (False,)
        roi = self._roi_view(gray) if s.roi else None
        if roi is not None:
            for name, reader in self._readers:
                for inverted in polarities:
                    yield f"roi:{name}{':inv' if inverted else ''}", roi, reader, inverted
        longest = max(gray.shape)
        base_scale = min(1.0, BASE_SIDE / longest) if s.pyramid else 1.0
        base = _View(gray if base_scale == 1.0 else _resized(gray, base_scale), base_scale)
        for name, reader in self._readers:
            for inverted in polarities:
                yield f"{name}{':inv' if inverted else ''}", base, reader, inverted
        if not s.pyramid:
            return
        for scale in self._pyramid_scales(longest, base_scale):
            view = _View(_resized(gray, scale), scale)
            readers = self._readers[:1] if scale > 1 else self._readers  # zbar on a doubled frame of noise: ~40 ms
            for name, reader in readers:
                for inverted in polarities:
                    yield f"{name}@{scale:g}{':inv' if inverted else ''}", view, reader, inverted

    @staticmethod
    def _pyramid_scales(longest: int, base_scale: float) -> list[float]:
        """Halvings of the base down to ~320 px (moiré and blur average out, large codes shrink into
        the decoders' comfort zone), then the full size if the base was reduced, then a doubled copy
        of a small frame (tiny modules)."""
        scales = []
        scale = base_scale / 2
        while longest * scale >= 160:
            scales.append(scale)
            scale /= 2
        if base_scale < 1.0:
            scales.append(1.0)
        elif longest <= SMALL_SIDE * 2:
            scales.append(2.0)
        return scales

    def _roi_view(self, gray: np.ndarray) -> _View | None:
        if self._roi is None or self._roi_shape != gray.shape:
            return None
        height, width = gray.shape
        x0, y0, x1, y1 = self._roi
        mx, my = int((x1 - x0) * ROI_MARGIN) + 8, int((y1 - y0) * ROI_MARGIN) + 8
        left, top = max(0, x0 - mx), max(0, y0 - my)
        right, bottom = min(width, x1 + mx), min(height, y1 + my)
        if right - left < 16 or bottom - top < 16 or (right - left) * (bottom - top) > 0.6 * width * height:
            return None  # a code filling the frame gains nothing from a crop
        crop = np.ascontiguousarray(gray[top:bottom, left:right])
        scale = 2.0 if max(crop.shape) <= SMALL_SIDE // 2 else 1.0
        return _View(crop if scale == 1.0 else _resized(crop, scale), scale, left, top)

    def forget(self) -> None:
        """Drop the last code's place: the next frame is a first look (another camera, another file)."""
        self._roi = self._roi_shape = None
        self._roi_misses = 0

    def _remember(self, shape: tuple[int, int], boxes: list[Box]) -> None:
        self._roi = (min(b[0] for b in boxes), min(b[1] for b in boxes),
                     max(b[2] for b in boxes), max(b[3] for b in boxes))
        self._roi_shape = shape
        self._roi_misses = 0

    def _forget_slowly(self) -> None:
        self._roi_misses += 1
        if self._roi_misses >= ROI_MISSES:
            self.forget()


def read_image(path: str) -> np.ndarray:
    """An image file as a frame the pipeline takes: 8-bit grey or BGR, transparency flattened on
    white (a code saved with a transparent background is dark modules on nothing). Raises
    ValueError for a file that is not a readable image."""
    if not os.path.isfile(path):
        raise ValueError("no such file")
    try:
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ValueError(f"not a readable image: {exc.err}") from None
    if image is None:
        raise ValueError("not a readable image")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(f"unsupported pixel type {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 4:
        alpha = image[:, :, 3:4].astype(np.float32) / 255
        image = (image[:, :, :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    elif image.ndim == 3 and image.shape[2] == 2:  # grey + alpha
        alpha = image[:, :, 1].astype(np.float32) / 255
        image = (image[:, :, 0] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    return image
