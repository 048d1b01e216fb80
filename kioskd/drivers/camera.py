"""Camera QR scanner: frames from a camera (or the Sim's rendered frames) through a real decoder.

The Sim camera renders real QR images with the ``qrcode`` package and feeds them through the same
decoder and duplicate suppression as a USB camera, so a test that shows a code exercises the path
a citizen's phone takes. The scanner thread only posts ``QrScanned`` and ``DeviceStatus`` events;
a camera that stops delivering frames is reported and reopened while the kiosk keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from ctypes import byref, c_int, c_void_p, cast, string_at
from typing import Protocol

import cv2
import numpy as np
import qrcode
from pyzbar import wrapper as zbar
from pyzbar.pyzbar import ZBarSymbol
from qrcode.exceptions import DataOverflowError

from kioskd.events import DeviceStatus, Post, QrScanned

log = logging.getLogger(__name__)

BACKGROUND = 200  # light grey around the code, like a phone screen in a dim reader slot
QUIET_ZONE_MODULES = 4  # what the QR standard asks for; less makes decoders miss codes
STALL_SECONDS = 2.0  # no frame for this long: the camera counts as lost
READ_TIMEOUT = 0.25  # longest a read may block, so stop() joins promptly
BACKOFF_MIN = 0.5
BACKOFF_MAX = 10.0
SIM_WAIT_SECONDS = 3.0
_Y800 = int.from_bytes(b"Y800", "little")  # zbar's fourcc for 8-bit greyscale


class CodeScanner(Protocol):
    """What the composition root needs from any code scanner, real or simulated."""

    @property
    def ok(self) -> bool: ...
    @property
    def status(self) -> str: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...


# ---- decoding -----------------------------------------------------------------------------------


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


_TO_GRAY = {3: cv2.COLOR_BGR2GRAY, 4: cv2.COLOR_BGRA2GRAY}


def _to_gray(frame: np.ndarray) -> np.ndarray | None:
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
        gray = _to_gray(frame)
        if gray is None:
            return []
        texts = set()
        for data in self._scan(gray):
            try:
                texts.add(data.decode("utf-8"))
            except UnicodeDecodeError:
                log.info("ignoring a QR code whose %d bytes are not UTF-8", len(data))
        return sorted(texts)

    def _scan(self, gray: np.ndarray) -> list[bytes]:
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
                    found.append(string_at(zbar.zbar_symbol_get_data(symbol),
                                           zbar.zbar_symbol_get_data_length(symbol)))
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
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=1, border=QUIET_ZONE_MODULES)
    try:
        code.add_data(text.encode("utf-8"))
        code.make(fit=True)
    except (DataOverflowError, ValueError):  # qrcode 5 reports overflow as an invalid version 41
        raise ValueError(f"text of {len(text.encode('utf-8'))} bytes does not fit in a QR code") from None
    modules = np.array(code.get_matrix(), dtype=bool)
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


# ---- frame sources ------------------------------------------------------------------------------


class FrameSource(Protocol):
    """Where frames come from. A source that numbers its pictures also has ``last_read_seq`` (the
    number of the frame ``read`` last returned), so a harness can wait for a picture to be scanned."""

    def read(self, timeout: float) -> np.ndarray | None: ...
    def close(self) -> None: ...


class OpenCvFrameSource:
    """A V4L2/USB camera (or a video file) through OpenCV.

    ``read`` blocks for as long as the capture backend does (``timeout`` cannot be passed down);
    a camera that cannot open or stops delivering returns None, and the scanner decides when that
    counts as lost and reopens.
    """

    def __init__(self, device: int | str, *, width: int = 640, height: int = 480) -> None:
        self.device = device
        self._capture = cv2.VideoCapture(device)
        if self._capture.isOpened():
            self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        else:
            log.warning("camera %r did not open", device)

    @property
    def opened(self) -> bool:
        return bool(self._capture.isOpened())

    def read(self, timeout: float) -> np.ndarray | None:
        if not self._capture.isOpened():
            return None
        ok, frame = self._capture.read()
        return frame if ok and frame is not None else None

    def close(self) -> None:
        self._capture.release()


class SimFrameSource:
    """The Sim camera's sensor: the last shown frame, numbered by ``seq``.

    Like a real camera it keeps delivering the current picture, but an unchanged picture is only
    repeated every ``timeout`` seconds, so an idle Sim camera costs next to no CPU.
    """

    def __init__(self, width: int = 640, height: int = 480) -> None:
        self.width, self.height = width, height
        self._blank = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
        self._blank.flags.writeable = False
        self._frame = self._blank
        self._text: str | None = None
        self._seq = 0
        self._last_read_seq = -1
        self._closed = False
        self._changed = threading.Condition()

    @property
    def seq(self) -> int:
        return self._seq

    @property
    def last_read_seq(self) -> int:
        """The ``seq`` of the frame the last ``read`` returned (-1 before the first)."""
        return self._last_read_seq

    @property
    def text(self) -> str | None:
        return self._text

    def show(self, text: str | None) -> int:
        """Put ``text`` (None: nothing) in front of the camera as a new frame; returns its ``seq``."""
        frame = self._blank if text is None else render_qr(text, width=self.width, height=self.height)
        frame.flags.writeable = False  # shared with the scanner thread
        with self._changed:
            self._frame, self._text = frame, text
            self._seq += 1
            self._changed.notify_all()
            return self._seq

    def read(self, timeout: float) -> np.ndarray | None:
        with self._changed:
            self._changed.wait_for(lambda: self._seq != self._last_read_seq or self._closed, timeout)
            if self._closed:
                return None
            self._last_read_seq = self._seq
            return self._frame

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()


# ---- the scanner thread -------------------------------------------------------------------------

_SOURCE_ERRORS = (cv2.error, OSError, RuntimeError)


class QrScanner:
    """Reads frames at most ``fps`` times a second and posts each code once while it stays in view.

    A code held in front of the camera is in nearly every frame, and sometimes missing from one
    (glare, motion blur); it is posted when it appears and again only after it was absent from
    ``absent_frames`` consecutive frames, so a citizen can take the phone away and scan again.
    """

    device = "camera"

    def __init__(self, source: FrameSource, post: Post, *, decoder: QrDecoder | None = None, fps: float = 10.0,
                 absent_frames: int = 3, reopen: Callable[[], FrameSource] | None = None) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if absent_frames < 1:
            raise ValueError(f"absent_frames must be at least 1, got {absent_frames}")
        self._post = post
        self._decoder = decoder or QrDecoder()
        self._interval = 1.0 / fps
        self._absent_frames = absent_frames
        self._reopen = reopen
        self._source: FrameSource | None = source
        self._in_view: dict[str, int] = {}  # text -> consecutive frames it has been missing from
        self._progress = threading.Condition()
        self._frames_processed = 0
        self._last_frame: np.ndarray | None = None  # a source repeating the very same array needs no new decode
        self._last_texts: list[str] | None = None
        self._seq_starts: deque[tuple[int, int]] = deque(maxlen=256)  # (seq, frames processed before it)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ok = False
        self._status = "not started"
        self._down = False
        self._problem = "no frames yet"
        self._last_decode_error = ""
        self._backoff = BACKOFF_MIN
        self._last_frame_at = 0.0
        self._next_read_at = 0.0

    @property
    def ok(self) -> bool:
        return self._ok

    @property
    def status(self) -> str:
        return self._status

    @property
    def frames_processed(self) -> int:
        with self._progress:
            return self._frames_processed

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("QR scanner already started")
        self._ok, self._status = True, "scanning"
        self._last_frame_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="qr-scanner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is None:  # never started: nothing else will release the device
            self._close_source()
        elif thread is not threading.current_thread():
            thread.join(timeout=1.0)
            if thread.is_alive():
                log.warning("QR scanner thread did not stop within 1 s (camera read blocking)")
        with self._progress:
            self._progress.notify_all()
        self._ok, self._status = False, "stopped"

    def wait_for_seq(self, seq: int, frames_after: int = 1, timeout: float = 3.0) -> bool:
        """Wait until ``frames_after`` frames numbered ``seq`` or later have been fully handled
        (events posted). For sources without numbering every frame counts as ``seq`` 0."""
        with self._progress:
            self._progress.wait_for(
                lambda: self._frames_since(seq) >= frames_after or not self._running(), timeout)
            return self._frames_since(seq) >= frames_after

    def _frames_since(self, seq: int) -> int:
        for start_seq, before in self._seq_starts:
            if start_seq >= seq:
                return self._frames_processed - before
        return 0

    def _running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self._down:
                    self._recover()
                else:
                    self._scan_once()
        finally:
            self._close_source()
            with self._progress:
                self._progress.notify_all()

    def _scan_once(self) -> None:
        delay = self._next_read_at - time.monotonic()
        if delay > 0 and self._stop.wait(delay):
            return
        self._next_read_at = time.monotonic() + self._interval
        got = self._read()
        now = time.monotonic()
        if got is not None:
            self._last_frame_at = now
            self._process(*got)
        elif now - self._last_frame_at >= STALL_SECONDS:
            self._go_down()

    def _read(self) -> tuple[np.ndarray, int] | None:
        source = self._source
        if source is None:
            self._problem = "no camera"
            return None
        try:
            frame = source.read(READ_TIMEOUT)
        except _SOURCE_ERRORS as exc:
            self._problem = f"camera read failed: {exc}"
            log.debug("%s", self._problem)
            return None
        if frame is None:
            self._problem = f"no frame for {STALL_SECONDS:.0f} s"
            return None
        return frame, getattr(source, "last_read_seq", 0)

    def _process(self, frame: np.ndarray, seq: int) -> None:
        try:
            if frame is self._last_frame:
                texts = self._last_texts
            else:
                texts = self._decoder.decode(frame)
                self._last_frame, self._last_texts = frame, texts
        except (cv2.error, ValueError) as exc:
            level = logging.DEBUG if str(exc) == self._last_decode_error else logging.WARNING
            log.log(level, "skipped a frame the decoder rejected: %s", exc)
            self._last_decode_error = str(exc)
            texts = None
        if texts is not None:
            for text in texts:
                if text not in self._in_view:
                    self._post(QrScanned(text))
                self._in_view[text] = 0
            for text in [t for t in self._in_view if t not in texts]:
                self._in_view[text] += 1
                if self._in_view[text] >= self._absent_frames:
                    del self._in_view[text]
        with self._progress:  # after posting, so a waiter sees the events already queued
            if not self._seq_starts or self._seq_starts[-1][0] != seq:
                self._seq_starts.append((seq, self._frames_processed))
            self._frames_processed += 1
            self._progress.notify_all()

    def _go_down(self) -> None:
        self._down, self._ok = True, False
        self._status = f"down: {self._problem}"
        self._in_view.clear()  # a code still held when the camera returns is a new presentation
        self._backoff = BACKOFF_MIN
        log.warning("camera down: %s", self._problem)
        self._post(DeviceStatus(self.device, False, self._problem))

    def _recover(self) -> None:
        delay = self._backoff
        self._status = f"down: {self._problem}; retrying in {delay:.1f} s"
        if self._stop.wait(delay):
            return
        self._backoff = min(delay * 2, BACKOFF_MAX)
        if self._reopen is not None:
            self._close_source()
            try:
                self._source = self._reopen()
            except _SOURCE_ERRORS as exc:
                self._problem = f"reopening the camera failed: {exc}"
                return
        got = self._read()
        if got is None:
            return
        self._down, self._ok, self._status = False, True, "scanning"
        self._last_frame_at = time.monotonic()
        log.info("camera back")
        self._post(DeviceStatus(self.device, True))
        self._process(*got)

    def _close_source(self) -> None:
        source, self._source = self._source, None
        if source is None:
            return
        try:
            source.close()
        except _SOURCE_ERRORS as exc:
            log.debug("closing the camera: %s", exc)


class SimCamera(QrScanner):
    """The Sim twin: a real ``QrScanner`` looking at a ``SimFrameSource``.

    ``show`` returns once the scanner has seen enough frames for the change to count: a new code
    has been posted, and a code taken away (or replaced) has been absent for ``absent_frames``
    frames, so showing it again later posts it again.
    """

    def __init__(self, post: Post, *, width: int = 640, height: int = 480, fps: float = 30.0,
                 absent_frames: int = 3) -> None:
        self.source = SimFrameSource(width, height)
        super().__init__(self.source, post, fps=fps, absent_frames=absent_frames)
        self._show_lock = threading.Lock()

    @property
    def scanner(self) -> QrScanner:
        """The scanner, which the Sim camera itself is (kept for callers that hold a pair)."""
        return self

    def show(self, text: str | None) -> bool:
        """Show ``text`` (None: take the code away); True once the scanner has caught up."""
        with self._show_lock:
            previous = self.source.text
            frames = self._absent_frames if previous is not None and previous != text else 1
            deadline = time.monotonic() + SIM_WAIT_SECONDS
            for _ in range(frames):  # fresh frames, as a real camera would deliver them
                if not self.wait_for_seq(self.source.show(text), 1, max(0.0, deadline - time.monotonic())):
                    return False
            return True
