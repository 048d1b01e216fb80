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
from typing import Protocol

import cv2
import numpy as np

from kioskd.drivers.qr import BACKGROUND, QrDecoder, render_qr  # re-exported: callers import them from here
from kioskd.drivers.qr_pipeline import DecodePipeline, PipelineSettings
from kioskd.drivers.worker import BACKOFF_MAX as BACKOFF_MAX  # re-exported: defined here before
from kioskd.drivers.worker import BACKOFF_MIN as BACKOFF_MIN  # re-exported: defined here before
from kioskd.drivers.worker import DeviceLifecycle, DeviceWorker
from kioskd.events import Post, QrScanned

log = logging.getLogger(__name__)

STALL_SECONDS = 2.0  # no frame for this long: the camera counts as lost
READ_TIMEOUT = 0.25  # longest a read may block, so stop() joins promptly
# A frame whose 32x24 thumbnail differs from the last decoded frame's by less than this (mean absolute
# difference, 0-255) shows the same scene: its decode is skipped and the last result stands. An empty reader
# slot costs a resize per frame instead of a decode; a phone brought into view changes the scene at once.
STILL_THRESHOLD = 2.5
STILL_RECHECK_SECONDS = 2.0  # even an unchanged scene is decoded again this often
# After this long without a change the camera is read at IDLE_FPS only (an empty slot on the start screen
# costs almost nothing); the first changed frame brings back the full rate. A phone held up to a still
# scene is therefore seen within 1/IDLE_FPS seconds, then read at full speed.
STILL_SLOWDOWN_SECONDS = 3.0
IDLE_FPS = 2.0
_THUMB = (32, 24)
SIM_WAIT_SECONDS = 3.0


class CodeScanner(DeviceLifecycle, Protocol):
    """What the composition root needs from any code scanner, real or simulated."""


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
            # frames the scanner is too slow (or idle) for are dropped, not queued: read the newest
            self._capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
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


class QrScanner(DeviceWorker):
    """Reads frames at most ``fps`` times a second and posts each code once while it stays in view.

    A code held in front of the camera is in nearly every frame, and sometimes missing from one
    (glare, motion blur); it is posted when it appears and again only after it was absent from
    ``absent_frames`` consecutive frames, so a citizen can take the phone away and scan again.
    While the screen accepts no code (``set_scanning(False)``) no frame is read or decoded; nobody
    sees a phone taken away meanwhile, so a code shown after scanning resumes is a new presentation.
    """

    device = "camera"
    _name = "QR scanner"
    _thread_name = "qr-scanner"
    _log = log

    def __init__(self, source: FrameSource, post: Post, *, decoder: QrDecoder | DecodePipeline | None = None,
                 fps: float = 10.0, absent_frames: int = 3, reopen: Callable[[], FrameSource] | None = None,
                 frame_budget_ms: float = PipelineSettings.budget_ms) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if absent_frames < 1:
            raise ValueError(f"absent_frames must be at least 1, got {absent_frames}")
        super().__init__(post)
        self._decoder = decoder or DecodePipeline(PipelineSettings(budget_ms=frame_budget_ms))
        self._scanning = True
        self._pauses = self._pauses_seen = 0  # a pause forgets the codes in view (the thread clears them)
        self._wake = threading.Event()
        self._interval = 1.0 / fps
        self._absent_frames = absent_frames
        self._reopen = reopen
        self._source: FrameSource | None = source
        self._in_view: dict[str, int] = {}  # text -> consecutive frames it has been missing from
        self._frames_processed = 0
        self._last_frame: np.ndarray | None = None  # a source repeating the very same array needs no new decode
        self._last_texts: list[str] | None = None
        self._last_thumb: np.ndarray | None = None  # of the last decoded frame (see STILL_THRESHOLD)
        self._last_decoded_at = 0.0
        self._scene_changed_at = 0.0
        self.decodes_skipped = 0
        self._seq_starts: deque[tuple[int, int]] = deque(maxlen=256)  # (seq, frames processed before it)
        self._problem = "no frames yet"
        self._last_decode_error = ""
        self._last_frame_at = 0.0
        self._next_read_at = 0.0

    @property
    def scanning(self) -> bool:
        return self._scanning

    def set_scanning(self, on: bool) -> None:
        """Scan (read and decode frames at ``fps``) or idle; called from the main loop."""
        if not on:
            self._pauses += 1
        self._scanning = bool(on)
        self._wake.set()

    @property
    def frames_processed(self) -> int:
        with self._progress:
            return self._frames_processed

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

    def _starting(self) -> None:
        self._ok, self._status = True, "scanning"  # frames are expected; silence turns into "down"
        self._last_frame_at = time.monotonic()

    def _run_loop(self) -> None:
        while not self._stop.is_set():
            if self._down_reported:
                self._recover()
            else:
                self._scan_once()

    def _scan_once(self) -> None:
        if not self._scanning:
            self._wake.wait(READ_TIMEOUT)  # short, so stop() still joins promptly
            self._wake.clear()
            self._last_frame_at = time.monotonic()  # an idle camera is not a lost one
            return
        delay = self._next_read_at - time.monotonic()
        if delay > 0 and self._stop.wait(delay):
            return
        still = time.monotonic() - self._scene_changed_at >= STILL_SLOWDOWN_SECONDS
        self._next_read_at = time.monotonic() + (max(self._interval, 1.0 / IDLE_FPS) if still else self._interval)
        got = self._read()
        now = time.monotonic()
        if got is not None:
            self._last_frame_at = now
            self._process(*got)
        elif now - self._last_frame_at >= STALL_SECONDS:
            self._in_view.clear()  # a code still held when the camera returns is a new presentation
            self._reset_backoff()
            self._went_down(self._problem)

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
        if self._pauses_seen != self._pauses:
            self._pauses_seen = self._pauses
            self._in_view.clear()
        try:
            if frame is self._last_frame or self._unchanged(frame):
                texts = self._last_texts
                self.decodes_skipped += 1
            else:
                texts = self._decoder.decode(frame)
                self._last_frame, self._last_texts = frame, texts
                self._last_decoded_at = time.monotonic()
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

    def _unchanged(self, frame: np.ndarray) -> bool:
        """Whether ``frame`` shows the scene last decoded (and that decode is recent); keeps its thumbnail."""
        if frame.ndim not in (2, 3) or frame.size == 0:
            return False
        thumb = cv2.resize(frame, _THUMB, interpolation=cv2.INTER_AREA).astype(np.int16)
        last, self._last_thumb = self._last_thumb, thumb
        now = time.monotonic()
        if last is None or last.shape != thumb.shape or float(np.abs(thumb - last).mean()) >= STILL_THRESHOLD:
            self._scene_changed_at = now
            return False
        if self._last_texts is None or now - self._last_decoded_at >= STILL_RECHECK_SECONDS:
            return False  # the same scene, checked again now and then
        self._last_thumb = last  # compared with the last decoded scene, so a slow drift adds up
        return True

    def _recover(self) -> None:
        self._went_down(self._problem)  # already reported: only shows the latest problem
        if self._back_off():
            return
        if self._reopen is not None:
            self._release()
            try:
                self._source = self._reopen()
            except _SOURCE_ERRORS as exc:
                self._problem = f"reopening the camera failed: {exc}"
                return
        got = self._read()
        if got is None:
            return
        self._last_frame_at = time.monotonic()
        self._came_up("scanning")
        self._process(*got)

    def _release(self) -> None:
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
                 absent_frames: int = 3, frame_budget_ms: float = PipelineSettings.budget_ms) -> None:
        self.source = SimFrameSource(width, height)
        super().__init__(self.source, post, fps=fps, absent_frames=absent_frames, frame_budget_ms=frame_budget_ms)
        self._show_lock = threading.Lock()

    @property
    def scanner(self) -> QrScanner:
        """The scanner, which the Sim camera itself is (kept for callers that hold a pair)."""
        return self

    def show(self, text: str | None) -> bool:
        """Show ``text`` (None: take the code away); True once the scanner has caught up, False at
        once while it idles (the screen accepts no code, as a real camera would be ignored)."""
        with self._show_lock:
            if not self._scanning:
                self.source.show(text)
                return False
            previous = self.source.text
            frames = self._absent_frames if previous is not None and previous != text else 1
            deadline = time.monotonic() + SIM_WAIT_SECONDS
            for _ in range(frames):  # fresh frames, as a real camera would deliver them
                if not self.wait_for_seq(self.source.show(text), 1, max(0.0, deadline - time.monotonic())):
                    return False
            return True
