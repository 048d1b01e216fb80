"""Camera QR scanner: real rendered codes through the real decoder, the scanner thread, the Sim camera."""

import random
import string
import threading
import time

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from pyzbar.pyzbar import ZBarSymbol
from pyzbar.pyzbar import decode as pyzbar_decode

from kioskd.drivers.camera import (
    BACKGROUND,
    OpenCvFrameSource,
    QrDecoder,
    QrScanner,
    SimCamera,
    SimFrameSource,
    render_qr,
)
from kioskd.events import DeviceStatus, QrScanned

from conftest import Events, wait_until

DECODER = QrDecoder()
TOKEN = "".join(random.Random(7).choices(string.ascii_letters + string.digits + "-_", k=200))


def scanner_threads():
    return [t for t in threading.enumerate() if t.name == "qr-scanner" and t.is_alive()]


# ---- rendering and decoding ---------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "hello", TOKEN, "R-1001", "0123456789" * 5, "HTTPS://EXAMPLE.ORG/ABC-123",
    "é", "naïve café à Zürich", "Ça coûte 5 €", "日本語", "line one\nline two\ttab", "x",
])
def test_render_decode_round_trip(text):
    assert DECODER.decode(render_qr(text)) == [text]


def test_render_geometry_quiet_zone_and_background():
    frame = render_qr("R-1001", width=320, height=240, box_size=5)
    assert frame.shape == (240, 320, 3) and frame.dtype == np.uint8
    code = np.argwhere((frame != BACKGROUND).any(axis=2))
    (top, left), (bottom, right) = code.min(axis=0), code.max(axis=0) + 1
    assert bottom - top == right - left == (21 + 8) * 5  # version 1 plus a 4-module quiet zone each side
    assert (top, left) == ((240 - 145) // 2, (320 - 145) // 2)
    square = frame[top:bottom, left:right, 0]
    quiet = 4 * 5
    ring = np.ones(square.shape, bool)
    ring[quiet:-quiet, quiet:-quiet] = False
    assert (square[ring] == 255).all()
    assert (square[~ring] == 0).any()
    assert (frame[0, 0] == BACKGROUND).all()
    assert DECODER.decode(frame) == ["R-1001"]


def test_render_scales_to_fit_and_refuses_what_cannot_fit():
    small = render_qr(TOKEN, width=200, height=160)
    assert small.shape == (160, 200, 3)
    assert DECODER.decode(small) == [TOKEN]
    with pytest.raises(ValueError, match="does not fit"):
        render_qr("R-1001", width=100, height=100, box_size=4)
    with pytest.raises(ValueError, match="does not fit"):
        render_qr(TOKEN, width=40, height=40)
    with pytest.raises(ValueError, match="does not fit in a QR code"):
        render_qr("x" * 3000)


def _tinted(text):
    """Dark modules pure blue, light modules white: the code lives only in the green and red channels."""
    grey = render_qr(text)[:, :, 0]
    frame = np.empty(grey.shape + (3,), np.uint8)
    frame[:, :, 0] = 255
    frame[:, :, 1] = frame[:, :, 2] = np.where(grey == 0, 0, 255)
    return frame


def test_colour_frame_is_converted_not_cut_to_its_first_channel():
    frame = _tinted("R-1001")
    assert pyzbar_decode(frame, symbols=[ZBarSymbol.QRCODE]) == []  # what pyzbar alone sees
    assert DECODER.decode(frame) == ["R-1001"]
    bgra = cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA)
    assert DECODER.decode(bgra) == ["R-1001"]


def test_grey_and_single_channel_and_strided_frames():
    frame = render_qr("R-1001")
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    assert DECODER.decode(grey) == ["R-1001"]
    assert DECODER.decode(grey[:, :, None]) == ["R-1001"]
    wide = np.repeat(frame, 2, axis=1)[:, ::2]  # a non-contiguous view
    assert not wide.flags.c_contiguous
    assert DECODER.decode(wide) == ["R-1001"]


def test_two_codes_in_one_frame_in_stable_order():
    frame = np.full((480, 960, 3), BACKGROUND, np.uint8)
    frame[:, :480] = render_qr("zulu", width=480, height=480)
    frame[:, 480:] = render_qr("alpha", width=480, height=480)
    assert DECODER.decode(frame) == ["alpha", "zulu"]
    assert DECODER.decode(frame[:, ::-1]) == ["alpha", "zulu"]


def test_blank_and_noise_frames_have_no_codes():
    rng = np.random.default_rng(3)
    assert DECODER.decode(np.full((480, 640, 3), BACKGROUND, np.uint8)) == []
    assert DECODER.decode(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)) == []
    assert DECODER.decode(np.zeros((0, 0), np.uint8)) == []
    assert DECODER.decode(np.zeros((1, 1), np.uint8)) == []


@pytest.mark.parametrize("bad", [None, b"\x00" * 16, [[0, 255], [255, 0]], np.zeros((8, 8), np.float32)])
def test_decoder_rejects_non_frames(bad):
    with pytest.raises(TypeError):
        DECODER.decode(bad)


@settings(max_examples=150, deadline=None)
@given(frame=hnp.arrays(np.uint8, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=48)))
def test_any_uint8_array_never_raises(frame):
    texts = DECODER.decode(frame)
    assert isinstance(texts, list) and all(isinstance(t, str) for t in texts)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=120))
def test_random_texts_round_trip(text):
    assert DECODER.decode(render_qr(text)) == [text]


# ---- the Sim frame source -----------------------------------------------------------------------


def test_sim_source_blocks_when_nothing_changed_and_repeats_after_timeout():
    source = SimFrameSource(160, 120)
    first = source.read(0.5)
    assert first.shape == (120, 160, 3) and source.last_read_seq == 0
    started = time.monotonic()
    again = source.read(0.2)
    assert time.monotonic() - started >= 0.19
    assert again is first and source.last_read_seq == 0
    seq = source.show("R-1001")
    started = time.monotonic()
    shown = source.read(5.0)
    assert time.monotonic() - started < 0.1
    assert source.last_read_seq == seq == 1 and DECODER.decode(shown) == ["R-1001"]
    source.close()
    assert source.read(1.0) is None


# ---- the scanner thread -------------------------------------------------------------------------


@pytest.fixture
def scanning():
    events = Events()
    source = SimFrameSource(320, 240)
    scanner = QrScanner(source, events, fps=60.0, absent_frames=3)
    scanner.start()
    yield source, scanner, events
    scanner.stop()


def show_frames(source, scanner, text, frames):
    for _ in range(frames):
        assert scanner.wait_for_seq(source.show(text))


def test_held_code_is_posted_once_and_again_after_absence(scanning):
    source, scanner, events = scanning
    show_frames(source, scanner, "R-1001", 6)
    assert events == [QrScanned("R-1001")]
    show_frames(source, scanner, None, 2)  # a glitch of two frames: still the same presentation
    show_frames(source, scanner, "R-1001", 2)
    assert events == [QrScanned("R-1001")]
    show_frames(source, scanner, None, 3)  # taken away for absent_frames frames
    show_frames(source, scanner, "R-1001", 1)
    assert events == [QrScanned("R-1001"), QrScanned("R-1001")]
    assert scanner.ok and scanner.status == "scanning"


def test_wait_for_seq_counts_frames_from_that_seq(scanning):
    source, scanner, events = scanning
    seq = source.show("R-1001")
    before = scanner.frames_processed
    assert scanner.wait_for_seq(seq, frames_after=2, timeout=3.0)  # the repeat comes after the read timeout
    assert scanner.frames_processed >= before + 2
    assert not scanner.wait_for_seq(seq + 5, timeout=0.3)
    assert events == [QrScanned("R-1001")]


class FlakyDecoder(QrDecoder):
    """The real decoder, failing on every other frame as a corrupted camera frame would make it."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def decode(self, frame):
        self.calls += 1
        if self.calls % 2:
            raise cv2.error("corrupt frame")
        return super().decode(frame)


def test_decoder_failure_skips_the_frame_only():
    events = Events()
    source = SimFrameSource(320, 240)
    decoder = FlakyDecoder()
    scanner = QrScanner(source, events, decoder=decoder, fps=60.0)
    scanner.start()
    try:
        show_frames(source, scanner, "R-1001", 4)
        assert decoder.calls >= 2  # the corrupt frame was skipped, the next one decoded
        assert events == [QrScanned("R-1001")]
        assert scanner.ok and scanner_threads()
    finally:
        scanner.stop()


class BrokenSource:
    """A camera that fails on every read, one way or another."""

    def __init__(self, fail):
        self.fail = fail
        self.closed = False

    def read(self, timeout):
        if self.fail == "raise":
            raise OSError("unplugged")
        return None

    def close(self):
        self.closed = True


def test_lost_camera_is_reported_reopened_and_reported_back():
    events = Events()
    broken = BrokenSource("raise")
    replacement = SimFrameSource(320, 240)
    replacement.show("R-1001")
    attempts = []

    def reopen():
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise OSError("no such device")
        return replacement

    scanner = QrScanner(broken, events, fps=20.0, reopen=reopen)
    scanner.start()
    try:
        assert wait_until(lambda: len(events) >= 3, 6.0)
        assert events[:3] == [DeviceStatus("camera", False, "camera read failed: unplugged"),
                              DeviceStatus("camera", True), QrScanned("R-1001")]
        assert broken.closed and len(attempts) == 2
        assert scanner.ok and scanner.status == "scanning"
    finally:
        scanner.stop()


def test_silent_camera_without_reopen_is_reported_and_stop_joins():
    events = Events()
    scanner = QrScanner(BrokenSource("none"), events, fps=20.0)
    scanner.start()
    assert wait_until(lambda: events, 4.0)
    assert events == [DeviceStatus("camera", False, "no frame for 2 s")]
    assert not scanner.ok and scanner.status.startswith("down: no frame for 2 s")
    assert scanner_threads()
    started = time.monotonic()
    scanner.stop()
    assert time.monotonic() - started < 1.0
    assert not scanner_threads()


def test_opencv_source_reads_a_video_and_scanner_reopens_it(tmp_path):
    video = str(tmp_path / "camera.avi")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    assert writer.isOpened()
    for _ in range(3):
        writer.write(render_qr("R-1001"))
    writer.release()
    missing = OpenCvFrameSource(str(tmp_path / "video-missing"))
    assert not missing.opened and missing.read(0.1) is None
    missing.close()

    events = Events()
    scanner = QrScanner(OpenCvFrameSource(video), events, fps=20.0,
                        reopen=lambda: OpenCvFrameSource(video))  # the clip ends: the camera went away
    scanner.start()
    try:
        assert wait_until(lambda: len(events) >= 4, 6.0)
        assert events[:4] == [QrScanned("R-1001"), DeviceStatus("camera", False, "no frame for 2 s"),
                              DeviceStatus("camera", True), QrScanned("R-1001")]
    finally:
        scanner.stop()


def test_scanner_validates_settings():
    with pytest.raises(ValueError):
        QrScanner(SimFrameSource(), Events(), fps=0)
    with pytest.raises(ValueError):
        QrScanner(SimFrameSource(), Events(), absent_frames=0)


# ---- the Sim camera -----------------------------------------------------------------------------


def test_sim_camera_show_semantics():
    events = Events()
    camera = SimCamera(events, width=320, height=240, fps=60.0)
    camera.start()
    try:
        assert camera.ok
        assert camera.show("R-1001")
        assert events == [QrScanned("R-1001")]
        assert camera.show("R-1001")  # still held
        assert events == [QrScanned("R-1001")]
        assert camera.show(None)
        assert camera.show("R-1001")  # shown again after being taken away
        assert camera.show("R-2002")  # swapped for another code
        assert camera.show("R-1001")
        assert camera.show(None)
        assert camera.show(None)
        assert events == [QrScanned("R-1001")] * 2 + [QrScanned("R-2002"), QrScanned("R-1001")]
        assert camera.scanner.frames_processed >= 1 + 1 + 3 + 1 + 3 + 3 + 3 + 1
    finally:
        camera.stop()
    assert camera.status == "stopped" and not camera.ok
    started = time.monotonic()
    assert not camera.show("R-3003")  # nothing scans any more: returns at once
    assert time.monotonic() - started < 0.5


class CountingDecoder(QrDecoder):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def decode(self, frame):
        self.calls += 1
        return super().decode(frame)


def test_an_unchanged_scene_is_not_decoded_again_and_a_change_is(monkeypatch):
    """The empty reader slot costs a thumbnail per frame, not a decode; a code brought into view is read
    at once, and one held still stays in view (never posted twice)."""
    from kioskd.drivers import camera

    events = Events()
    source = SimFrameSource(320, 240)
    decoder = CountingDecoder()
    scanner = QrScanner(source, events, decoder=decoder, fps=60.0)
    scanner.start()
    try:
        show_frames(source, scanner, None, 1)
        calls = decoder.calls
        for _ in range(5):  # the same empty scene in new arrays, as a real camera delivers it
            source.show(None)
            assert scanner.wait_for_seq(source.seq)
        assert decoder.calls == calls and scanner.decodes_skipped >= 5
        show_frames(source, scanner, "R-1001", 1)  # a phone brought into view changes the scene
        assert events == [QrScanned("R-1001")] and decoder.calls == calls + 1
        show_frames(source, scanner, "R-1001", 4)  # held still: in view, not decoded, not posted again
        assert events == [QrScanned("R-1001")] and decoder.calls == calls + 1
        monkeypatch.setattr(camera, "STILL_RECHECK_SECONDS", 0.0)  # an old result is checked again
        show_frames(source, scanner, "R-1001", 1)
        assert decoder.calls == calls + 2 and events == [QrScanned("R-1001")]
    finally:
        scanner.stop()
