"""The real voice in the real daemon: espeak-ng clips played through pygame.mixer, recordings first."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

import pytest

from conftest import NOW, SIM_CONFIG, reservation


def sim_config_with(tmp_path: Path, speech: str) -> Path:
    """config/sim.toml with its [speech] section replaced, written beside the test-only key it needs."""
    text = SIM_CONFIG.read_text(encoding="utf-8")
    head, _, tail = text.partition("[speech]")
    rest = tail.split("\n[", 1)
    text = head + "[speech]\n" + speech + ("\n[" + rest[1] if len(rest) > 1 else "\n")
    path = tmp_path / "sim.toml"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "sim-test-backend.key").write_bytes((SIM_CONFIG.parent / "sim-test-backend.key").read_bytes())
    return path


def write_tone_wav(path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(22050)
        frames = int(22050 * seconds)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 10))) for i in range(frames)))


@pytest.fixture
def voiced(tmp_path):
    from kioskd.sim import Harness

    recordings = tmp_path / "recordings"
    config = sim_config_with(tmp_path, f'driver = "mixer"\nrecordings_dir = "{recordings}"')
    write_tone_wav(recordings / "en" / "screen.method.qr.touch.wav", 0.75)  # a "human" recording
    with Harness(config=config, data_dir=tmp_path / "data", start=NOW, speech="mixer") as k:
        if not k.parts.speaker.available:
            pytest.skip(f"no audio output: {k.parts.speaker.status}")
        yield k


def test_screens_are_spoken_through_the_mixer_and_a_recording_overrides_the_generated_clip(voiced):
    k = voiced
    speaker = k.parts.speaker
    k.press("lang:en")
    assert speaker.wait_idle()
    assert speaker.played[-1] == ("screen.attract.touch", "en")
    generated = list((k.parts.data_dir / "prompts" / "en").glob("screen.attract.touch-*.wav"))
    assert len(generated) == 1  # made by espeak-ng on first use and kept in the cache
    k.press("pickup")
    assert speaker.wait_idle()
    assert speaker.played[-1] == ("screen.method.qr.touch", "en")
    # the clip on the speech channel is the 0.75 s recording, not a generated one
    assert speaker._speech.get_sound().get_length() == pytest.approx(0.75, abs=0.01)
    assert not list((k.parts.data_dir / "prompts" / "en").glob("screen.method.qr.touch-*.wav"))


def test_a_new_screen_interrupts_the_prompt_still_playing(voiced):
    k = voiced
    speaker = k.parts.speaker
    k.press("pickup")
    assert speaker.wait_idle()
    k.press("method:pin")
    assert speaker.wait_idle()
    assert speaker.played[-1] == ("screen.pin.8.touch", "nl")
    sound = speaker._speech.get_sound()
    assert sound is not None and sound.get_length() > 2  # the long PIN prompt replaced the method prompt


def test_the_voiced_kiosk_still_never_says_a_pin(voiced):
    k = voiced
    k.load([reservation(pin="40213377")])
    k.press("pickup")
    k.press("method:pin")
    k.type_code("40213377")
    assert k.screen == "locker_open"
    assert k.parts.speaker.wait_idle()
    assert all("40213377" not in text and not any(c.isdigit() for c in text) for _, _, text in k.spoken)
    assert k.parts.speaker.played[-1][0] == "screen.locker_open.3.touch"
