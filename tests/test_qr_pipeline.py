"""The QR decoding pipeline: real rendered codes, degraded with OpenCV, through the real decoders.

Behaviour only (what is read, what is rejected, that nothing raises); the time figures belong to
tools/bench, not to assertions here.
"""

import json
import time

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kioskd import ctl
from kioskd.drivers.qr import render_qr
from kioskd.drivers.qr_pipeline import DecodePipeline, PipelineSettings
from kioskd.effects import SetScanning

from conftest import reservation

TOKEN = "R-1001.eyJrIjoiQUxULTEiLCJyIjoiUi0xMDAxIn0.c2lnbmF0dXJl"
BASELINE = PipelineSettings(decoders=("zbar",), invert=False, pyramid=False, roi=False)


def pipeline(**overrides) -> DecodePipeline:
    return DecodePipeline(PipelineSettings(budget_ms=None, **overrides))  # no budget: behaviour, not speed


def code(text=TOKEN, box=4) -> np.ndarray:
    """The bare code with its quiet zone, grey, ``box`` pixels per module."""
    frame = render_qr(text, width=2000, height=2000, box_size=box)[..., 0]
    ys, xs = np.nonzero(frame != 200)
    return frame[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def on_canvas(image: np.ndarray, width=640, height=480, background=200) -> np.ndarray:
    canvas = np.full((height, width), background, np.uint8)
    top, left = (height - image.shape[0]) // 2, (width - image.shape[1]) // 2
    canvas[top:top + image.shape[0], left:left + image.shape[1]] = image
    return canvas


def test_defaults_read_a_plain_code_in_grey_bgr_and_bgra():
    frame = render_qr(TOKEN)
    p = DecodePipeline()
    assert p.decode(frame) == [TOKEN]
    assert p.decode(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)) == [TOKEN]
    assert p.decode(cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA)) == [TOKEN]
    assert p.last_ms > 0


def test_baseline_settings_are_plain_zbar_and_miss_inverted_codes():
    frame = render_qr(TOKEN)
    baseline = DecodePipeline(BASELINE)
    assert baseline.decode(frame) == [TOKEN]
    assert baseline.decode(255 - frame) == []  # what the pipeline adds, see the next test


@pytest.mark.parametrize("decoders", [("zxing", "zbar"), ("zbar",), ("opencv",)])
def test_inverted_dark_mode_code_is_read(decoders):
    dark = 255 - on_canvas(code(box=6), background=255)  # white modules on a black screen
    assert pipeline(decoders=decoders).decode(dark) == [TOKEN]


def test_large_code_filling_a_1080p_frame_is_read():
    frame = cv2.resize(code(box=8), (1060, 1060), interpolation=cv2.INTER_NEAREST)
    assert pipeline().decode(on_canvas(frame, 1920, 1080)) == [TOKEN]


def test_small_code_in_a_vga_frame_is_read():
    small = cv2.resize(code("R-1001", box=1), None, fx=2.2, fy=2.2, interpolation=cv2.INTER_LINEAR)
    assert pipeline().decode(on_canvas(small)) == ["R-1001"]


def test_red_on_white_code_is_read():
    grey = on_canvas(code(box=6), background=255)
    bgr = np.dstack([np.full_like(grey, 255), grey, grey])  # dark modules red: blue stays 255
    assert DecodePipeline(BASELINE).decode(bgr[..., 0].copy()) == []  # the blue plane alone shows nothing
    assert pipeline().decode(bgr) == [TOKEN]


def test_perspective_and_blur_within_reason_are_read():
    frame = on_canvas(code(box=7), background=255)
    h, w = frame.shape
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32([[40, 20], [w - 10, 50], [w - 60, h - 10], [20, h - 40]])
    warped = cv2.warpPerspective(frame, cv2.getPerspectiveTransform(src, dst), (w, h), borderValue=255)
    blurred = cv2.GaussianBlur(warped, (5, 5), 1.2)
    assert pipeline().decode(blurred) == [TOKEN]


@pytest.mark.parametrize("garbage", [
    np.zeros((480, 640), np.uint8), np.full((480, 640, 3), 255, np.uint8),
    np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8),
    np.repeat(np.random.default_rng(2).integers(0, 2, (1, 640), dtype=np.uint8) * 255, 480, axis=0),
    np.zeros((0, 0, 3), np.uint8), np.zeros((1, 1), np.uint8), np.zeros((3000, 4, 3), np.uint8),
])
def test_garbage_frames_give_nothing(garbage):
    assert DecodePipeline().decode(garbage) == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), width=st.integers(1, 800), height=st.integers(1, 600),
       channels=st.sampled_from([None, 1, 3, 4]))
def test_random_frames_never_raise(seed, width, height, channels):
    shape = (height, width) if channels is None else (height, width, channels)
    frame = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    assert DecodePipeline().decode(frame) == []


@settings(max_examples=15, deadline=None)
@given(text=st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=60),
       invert=st.booleans())
def test_any_text_round_trips_in_either_polarity(text, invert):
    frame = render_qr(text)
    assert pipeline().decode(255 - frame if invert else frame) == [text]


def test_the_last_place_is_looked_at_first_and_forgotten():
    p = DecodePipeline()
    frame = on_canvas(code("R-1001", box=3), 1280, 720)
    assert p.decode(frame) == ["R-1001"] and not p.last_stage.startswith("roi")
    assert p.decode(frame) == ["R-1001"] and p.last_stage.startswith("roi")
    p.forget()
    assert p.decode(frame) == ["R-1001"] and not p.last_stage.startswith("roi")


def test_frames_of_the_wrong_type_are_refused():
    with pytest.raises(TypeError):
        DecodePipeline().decode([[0]])
    with pytest.raises(ValueError):
        DecodePipeline().decode(np.zeros((10, 10), np.float32))
    with pytest.raises(ValueError):
        PipelineSettings(decoders=("tesseract",))


# ---- scanning only where a screen accepts codes ------------------------------------------------------


def test_harness_scanner_idles_during_the_door_and_scans_again_after(kiosk):
    k = kiosk
    camera = k.parts.camera
    k.load([reservation()])
    assert k.screen == "attract" and camera.scanning
    k.press("pickup")
    k.press("method:pin")
    k.type_code("40213377")
    assert k.screen == "locker_open" and not camera.scanning
    # a frame the scanner was already decoding when the screen changed may still finish: wait for it
    frames = camera.frames_processed
    while True:
        time.sleep(0.2)
        if camera.frames_processed == frames:
            break
        frames = camera.frames_processed
    assert camera.show("R-9999") is False  # nobody looks: no decode, no event
    assert camera.frames_processed == frames
    k.open_door(3)
    k.advance(5)
    k.close_door(3)
    k.press("done")
    assert k.screen == "attract" and camera.scanning
    assert camera.show(None) is True


def test_set_scanning_is_in_the_effects_when_the_door_opens(kiosk):
    k = kiosk
    k.load([reservation()])
    seen = []
    run = k.kiosk.runner.run
    k.kiosk.runner.run = lambda effects: (seen.extend(effects), run(effects))[1]
    k.press("pickup")
    k.press("method:pin")
    k.type_code("40213377")
    assert SetScanning(False) in seen


# ---- kioskctl decode ---------------------------------------------------------------------------------


def test_kioskctl_decode_prints_one_json_line_per_file(tmp_path, capsys):
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), 255 - render_qr(TOKEN))
    empty = tmp_path / "empty.png"
    cv2.imwrite(str(empty), np.full((100, 100), 200, np.uint8))
    rc = ctl.main(["--config", "config/sim.toml", "decode", str(good), str(empty)])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 0
    assert [(d["file"], d["texts"]) for d in lines] == [(str(good), [TOKEN]), (str(empty), [])]
    assert all(isinstance(d["ms"], float) for d in lines)


def test_kioskctl_decode_reports_unreadable_files_and_fails_at_the_end(tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), render_qr("R-1001"))
    rc = ctl.main(["--config", "config/sim.toml", "decode", str(text), str(tmp_path / "missing.png"), str(good)])
    out = capsys.readouterr()
    lines = [json.loads(line) for line in out.out.splitlines()]
    assert rc == 1 and "Traceback" not in out.err
    assert [sorted(d) for d in lines] == [["error", "file"], ["error", "file"], ["file", "ms", "texts"]]
    assert lines[2]["texts"] == ["R-1001"]
