"""The kiosk's voice with real parts: espeak-ng writes real WAV clips, pygame.mixer plays them on SDL's dummy
driver (and on its disk driver, whose output file proves sound really went out)."""

import importlib.machinery
import importlib.util
import logging
import math
import os
import struct
import subprocess
import sys
import textwrap
import threading
import time
import wave
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pygame
import pytest

from kioskd.clock import ManualClock
from kioskd.config import SIM_TEST_PUBLIC_KEY_B64, parse_config
from kioskd.drivers.speech import (
    MixerSpeaker,
    PromptLibrary,
    RecordingSpeaker,
    SpeechError,
    VolumePolicy,
    build_speaker,
)
from kioskd.ui import prompt_set as prompts_module
from kioskd.ui.prompts import Utterance

from conftest import ROOT

TOOL = ROOT / "tools" / "prompts"
BRUSSELS = ZoneInfo("Europe/Brussels")
ATTRACT_NL = Utterance("screen.attract", "nl", "Welkom. Raak het scherm aan om te beginnen.")
LOCKER_FR = Utterance("screen.locker_open.4", "fr", "Le casier 4 est ouvert, à gauche, deuxième rangée.")
HELP_EN = Utterance("screen.help", "en", "Need help? Call the town hall.")


def brussels(hour: int, minute: int = 0) -> float:
    return datetime(2026, 12, 1, hour, minute, tzinfo=BRUSSELS).timestamp()


def write_sine(path: Path, seconds: float, frequency: float = 440.0, rate: int = 22050) -> Path:
    """A mono 16-bit WAV as a person's recording would be."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * frequency * i / rate)))
                      for i in range(int(seconds * rate)))
    with wave.open(str(path), "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(rate)
        clip.writeframes(frames)
    return path


def duration(path: Path) -> float:
    with wave.open(str(path), "rb") as clip:
        return clip.getnframes() / clip.getframerate()


@pytest.fixture
def library(tmp_path):
    return PromptLibrary(tmp_path / "cache", tmp_path / "recordings", rate=170)


@pytest.fixture
def speakers():
    """MixerSpeakers on SDL's dummy audio driver (pygame.mixer is process-wide: each is closed after)."""
    made = []

    def make(library, **kwargs):
        speaker = MixerSpeaker(library, **kwargs)
        made.append(speaker)
        assert speaker.available, speaker.status
        return speaker

    yield make
    for speaker in made:
        speaker.close()


# ---- clips ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("utterance", [ATTRACT_NL, LOCKER_FR, HELP_EN], ids=lambda u: u.lang)
def test_espeak_writes_a_real_wav_per_language(library, utterance):
    path = library.synthesize(utterance)
    assert path.parent == library.cache_dir / utterance.lang
    assert path.name.startswith(utterance.prompt_id + "-") and len(path.stem) == len(utterance.prompt_id) + 9
    assert path.read_bytes()[:4] == b"RIFF"
    with wave.open(str(path), "rb") as clip:
        assert (clip.getnchannels(), clip.getsampwidth(), clip.getframerate()) == (1, 2, 22050)
    assert duration(path) > 0.3
    assert library.path_for(utterance) == path
    assert not list(path.parent.glob("*.tmp")), "the temporary file was replaced, not left behind"


def test_generate_skips_cached_clips_and_regenerates_changed_words(library, tmp_path):
    utterances = [ATTRACT_NL, LOCKER_FR, HELP_EN]
    assert library.generate(utterances) == {"generated": 3, "cached": 0, "recorded": 0, "failed": 0}
    clips = {u: library.cached(u) for u in utterances}
    stamps = {u: clips[u].stat().st_mtime_ns for u in utterances}

    # a library that cannot run espeak-ng at all still finds every clip: the cache answered
    offline = PromptLibrary(library.cache_dir, rate=170, executable=str(tmp_path / "no-espeak"))
    assert offline.generate(utterances) == {"generated": 0, "cached": 3, "recorded": 0, "failed": 0}
    assert {u: clips[u].stat().st_mtime_ns for u in utterances} == stamps

    neighbour = Utterance("screen.attract-b", "nl", "Een andere prompt.")  # same prefix, another prompt
    library.generate([neighbour])
    corrected = Utterance(ATTRACT_NL.prompt_id, "nl", "Welkom bij de gemeente. Raak het scherm aan.")
    assert library.generate([corrected])["generated"] == 1
    new = library.cached(corrected)
    assert new is not None and new != clips[ATTRACT_NL]
    assert not clips[ATTRACT_NL].exists(), "the clip with the old words is removed"
    assert library.cached(neighbour) is not None, "another prompt's clip is left alone"
    assert library.cached(ATTRACT_NL) is None
    # another rate is another voice too
    assert PromptLibrary(library.cache_dir, rate=120).cache_path(corrected) != new


def test_generate_reports_bad_prompts_and_goes_on(library, caplog):
    prompts = [ATTRACT_NL, Utterance("screen.attract", "nl", "Other words for the same id"),
               Utterance("screen.x", "de", "Guten Tag"), Utterance("Bad/Id", "nl", "x"),
               Utterance("screen.empty", "en", "  "), HELP_EN, HELP_EN]
    with caplog.at_level(logging.ERROR):
        counts = library.generate(prompts)
    assert counts == {"generated": 2, "cached": 0, "recorded": 0, "failed": 4}
    assert "given twice with different words" in caplog.text
    assert "no voice for language 'de'" in caplog.text
    assert "empty text" in caplog.text


def test_prompts_with_the_same_words_share_one_clip(library):
    keys = Utterance("screen.help.keys", "en", "Need help? Call the town hall.")
    touch = Utterance("screen.help.touch", "en", "Need help? Call the town hall.")
    assert library.generate([keys, touch])["generated"] == 2
    assert library.cached(keys).stat().st_ino == library.cached(touch).stat().st_ino


def test_an_unreadable_recording_is_reported(library, caplog):
    (library.recordings_dir / "nl").mkdir(parents=True)
    (library.recordings_dir / "nl" / "screen.attract.wav").write_bytes(b"ID3 this is an mp3")
    write_sine(library.recordings_dir / "en" / "screen.help.wav", 0.2, rate=44100)
    with caplog.at_level(logging.WARNING):
        assert library.generate([ATTRACT_NL, HELP_EN]) == {"generated": 0, "cached": 0, "recorded": 1, "failed": 1}
    assert "not a readable PCM WAV" in caplog.text and "44100 Hz; mono 16-bit 22050 Hz is recommended" in caplog.text


def test_a_recording_overrides_the_generated_clip(library, speakers):
    library.synthesize(ATTRACT_NL)
    recording = write_sine(library.recordings_dir / "nl" / "screen.attract.wav", 0.5)
    assert library.recording_for(ATTRACT_NL) == recording
    assert library.path_for(ATTRACT_NL) == recording
    assert library.recording_for(Utterance("screen.attract", "fr", "Bienvenue")) is None, "per language"
    assert library.generate([ATTRACT_NL])["recorded"] == 1

    speaker = speakers(library)
    speaker.say(ATTRACT_NL)
    assert speaker.wait_idle()
    playing = pygame.mixer.Channel(0).get_sound()
    assert playing is not None and playing.get_length() == pytest.approx(0.5, abs=0.01)
    assert speaker.played == [("screen.attract", "nl")]


def test_a_recording_dropped_in_while_running_is_used_next_time(library, speakers):
    speaker = speakers(library, sound_cache_seconds=1.0)
    channel = pygame.mixer.Channel(0)
    speaker.say(ATTRACT_NL)
    assert speaker.wait_idle()
    generated = duration(library.cached(ATTRACT_NL))
    assert channel.get_sound().get_length() == pytest.approx(generated, abs=0.01)
    recording = write_sine(library.recordings_dir / "nl" / "screen.attract.wav", 0.3)
    speaker.say(ATTRACT_NL)
    assert speaker.wait_idle()
    assert channel.get_sound().get_length() == pytest.approx(0.3, abs=0.01)
    write_sine(recording, 0.6)  # re-recorded: same name, new file
    os.utime(recording, ns=(time.time_ns() + 10**9,) * 2)
    speaker.say(ATTRACT_NL)
    assert speaker.wait_idle()
    assert channel.get_sound().get_length() == pytest.approx(0.6, abs=0.01)
    assert sum(s.get_length() for s in speaker._sounds.values()) <= max(1.0, generated), "the LRU is bounded"


# ---- the mixer speaker ------------------------------------------------------------------------------------


def test_sound_really_goes_out_through_the_disk_audio_driver(tmp_path):
    """SDL's disk driver writes the mixed output (mono int16 at 22050 Hz) to a file, in real time."""
    output = tmp_path / "out.raw"
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from kioskd.drivers.speech import MixerSpeaker, PromptLibrary
        from kioskd.ui.prompts import Utterance
        speaker = MixerSpeaker(PromptLibrary(Path({str(tmp_path / "cache")!r})))
        assert speaker.available, speaker.status
        speaker.say(Utterance("screen.test", "nl", "Kluis vier is open."))
        assert speaker.wait_idle(10)
        deadline = time.monotonic() + 5
        while speaker.speaking and time.monotonic() < deadline:
            time.sleep(0.05)
        assert speaker.played == [("screen.test", "nl")], speaker.played
        speaker.close()
    """)
    env = {**os.environ, "SDL_AUDIODRIVER": "disk", "SDL_DISKAUDIOFILE": str(output),
           "PYGAME_HIDE_SUPPORT_PROMPT": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    data = output.read_bytes()
    samples = struct.unpack(f"<{len(data) // 2}h", data[:len(data) // 2 * 2])
    loud = sum(1 for s in samples if abs(s) > 1000)
    assert max(abs(s) for s in samples) > 5000
    assert loud > 0.1 * 22050, f"only {loud} audible samples went out"


def test_a_new_prompt_interrupts_and_the_old_one_is_not_resumed(library, speakers):
    long = Utterance("screen.long", "nl", "lang")
    short = Utterance("screen.short", "nl", "kort")
    write_sine(library.recordings_dir / "nl" / "screen.long.wav", 2.0)
    write_sine(library.recordings_dir / "nl" / "screen.short.wav", 0.2, frequency=880)
    speaker = speakers(library)
    channel = pygame.mixer.Channel(0)
    speaker.say(long)
    assert speaker.wait_idle()
    assert channel.get_sound().get_length() == pytest.approx(2.0, abs=0.01)
    speaker.say(short)
    assert speaker.wait_idle()
    assert channel.get_sound().get_length() == pytest.approx(0.2, abs=0.01)
    time.sleep(0.5)
    assert not channel.get_busy(), "the interrupted prompt does not come back"
    assert speaker.played == [("screen.long", "nl"), ("screen.short", "nl")]
    assert [s[0] for s in speaker.spoken] == ["screen.long", "screen.short"]


class SlowLibrary(PromptLibrary):
    """espeak-ng held up for one prompt until the test lets it finish."""

    def __init__(self, *args, slow: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.slow, self.started, self.release = slow, threading.Event(), threading.Event()

    def synthesize(self, u):
        if u.prompt_id == self.slow:
            self.started.set()
            assert self.release.wait(10)
        return super().synthesize(u)


def test_a_slow_clip_finishing_after_a_newer_prompt_is_not_played(tmp_path, speakers):
    library = SlowLibrary(tmp_path / "cache", tmp_path / "recordings", slow="screen.slow")
    write_sine(library.recordings_dir / "nl" / "screen.next.wav", 0.4)
    speaker = speakers(library)
    speaker.say(Utterance("screen.slow", "nl", "Dit duurt lang."))
    assert library.started.wait(5)
    speaker.say(Utterance("screen.next", "nl", "Volgende."))
    assert speaker.spoken[-1] == ("screen.next", "nl", "Volgende."), "say() returned while espeak-ng runs"
    library.release.set()
    assert speaker.wait_idle()
    assert speaker.played == [("screen.next", "nl")]
    assert pygame.mixer.Channel(0).get_sound().get_length() == pytest.approx(0.4, abs=0.01)
    assert library.cached(Utterance("screen.slow", "nl", "Dit duurt lang.")) is not None, "kept for next time"


def test_stop_silences_and_cancels_a_waiting_prompt(tmp_path, speakers):
    library = SlowLibrary(tmp_path / "cache", slow="screen.slow")
    speaker = speakers(library)
    speaker.say(Utterance("screen.slow", "nl", "Dit duurt lang."))
    assert library.started.wait(5)
    speaker.stop()
    library.release.set()
    assert speaker.wait_idle()
    assert speaker.played == [] and not speaker.speaking


# ---- volume, tones, failures ------------------------------------------------------------------------------


def test_volume_is_lower_at_night_and_returns_to_the_default_after_a_session():
    clock = ManualClock(brussels(14))
    speaker = RecordingSpeaker(VolumePolicy(0.8, 0.4, "22:00-07:00", "Europe/Brussels"), clock)
    assert speaker.volume == 0.8
    clock.set(brussels(23, 30))
    assert speaker.volume == 0.4
    clock.set(brussels(6))
    assert speaker.volume == 0.4
    clock.set(brussels(7))
    assert speaker.volume == 0.8
    speaker.change_volume(+1)
    assert speaker.volume == pytest.approx(0.9)
    speaker.change_volume(+5)
    assert speaker.volume == 1.0
    clock.set(brussels(23, 30))
    assert speaker.volume == 1.0, "the citizen's level holds until the session ends"
    speaker.change_volume(-20)
    assert speaker.volume == pytest.approx(0.1)
    speaker.reset_volume()
    assert speaker.volume == 0.4
    clock.set(brussels(12))
    assert speaker.volume == 0.8
    # a night range inside one day
    assert not VolumePolicy(night_hours="01:00-05:00", timezone="Europe/Brussels").is_night(brussels(23, 30))


def test_mixer_applies_the_volume_to_speech_and_tones(library, speakers):
    clock = ManualClock(brussels(23, 30))
    speaker = speakers(library, policy=VolumePolicy(0.8, 0.4, "22:00-07:00", "Europe/Brussels"), clock=clock)
    speech, beeper = pygame.mixer.Channel(0), pygame.mixer.Channel(1)
    assert speech.get_volume() == pytest.approx(0.4, abs=0.01) and beeper.get_volume() == pytest.approx(0.4, abs=0.01)
    speaker.change_volume(+3)
    assert speech.get_volume() == pytest.approx(0.7, abs=0.01) and beeper.get_volume() == pytest.approx(0.7, abs=0.01)
    speaker.reset_volume()
    assert speech.get_volume() == pytest.approx(0.4, abs=0.01)


def test_tones_play_on_their_own_channel_and_are_never_speech(library, speakers):
    speaker = speakers(library)
    beeper = pygame.mixer.Channel(1)
    lengths = {}
    for name in ("key", "complete", "warning", "error"):
        speaker.tone(name)
        assert beeper.get_busy()
        lengths[name] = beeper.get_sound().get_length()
    assert speaker.tones == ["key", "complete", "warning", "error"]
    assert speaker.spoken == [] and speaker.played == []
    assert not pygame.mixer.Channel(0).get_busy()
    assert lengths["key"] < 0.1 and len(set(lengths.values())) == 4
    with pytest.raises(ValueError, match="unknown tone"):
        speaker.tone("beep")


def test_missing_espeak_is_logged_and_the_kiosk_goes_on(tmp_path, speakers, caplog):
    library = PromptLibrary(tmp_path / "cache", executable="no-such-espeak-ng")
    with caplog.at_level(logging.WARNING):
        speaker = speakers(library)
        speaker.say(ATTRACT_NL)
        assert speaker.wait_idle()
    assert speaker.spoken == [("screen.attract", "nl", ATTRACT_NL.text)] and speaker.played == []
    assert "no-such-espeak-ng not found" in caplog.text and "screen.attract (nl) not spoken" in caplog.text
    with pytest.raises(SpeechError, match="not found"):
        library.synthesize(ATTRACT_NL)


def test_without_an_audio_device_the_speaker_only_records(library, monkeypatch, caplog):
    pygame.mixer.quit()
    monkeypatch.setenv("SDL_AUDIODRIVER", "no-such-audio-driver")
    with caplog.at_level(logging.WARNING):
        speaker = MixerSpeaker(library)
    assert not speaker.available and speaker.status.startswith("down: no audio device")
    assert "no audio device" in caplog.text
    speaker.say(ATTRACT_NL)
    speaker.tone("key")
    speaker.change_volume(-1)
    speaker.stop()
    speaker.close()
    assert speaker.spoken == [("screen.attract", "nl", ATTRACT_NL.text)] and speaker.tones == ["key"]
    assert speaker.volume == pytest.approx(speaker.policy.level_at(time.time()) - 0.1)


# ---- composition and the tool ----------------------------------------------------------------------------


def tiny_config(tmp_path: Path, driver: str = "mixer") -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(textwrap.dedent(f"""
        [kiosk]
        id = "test-1"
        data_dir = "data"
        languages = ["nl", "en"]
        [[lockers]]
        number = 1
        size = "S"
        row = 1
        column = 1
        [identification]
        qr_public_key = "{SIM_TEST_PUBLIC_KEY_B64}"
        [speech]
        driver = "{driver}"
        night_volume = 0.3
    """))
    return path


def test_build_speaker_follows_the_config(tmp_path):
    clock = ManualClock(brussels(23))
    sim = parse_config(tiny_config(tmp_path, "sim").read_text(), tmp_path / "kiosk.toml")
    speaker = build_speaker(sim.speech, data_dir=tmp_path / "data", timezone="Europe/Brussels", clock=clock)
    assert type(speaker) is RecordingSpeaker and speaker.volume == 0.3
    mixer = parse_config(tiny_config(tmp_path, "mixer").read_text(), tmp_path / "kiosk.toml")
    speaker = build_speaker(mixer.speech, data_dir=tmp_path / "data", timezone="Europe/Brussels", clock=clock)
    try:
        assert isinstance(speaker, MixerSpeaker) and speaker.available
        assert speaker.library.cache_dir == tmp_path / "data" / "prompts" and speaker.volume == 0.3
    finally:
        speaker.close()


def load_tool():
    loader = importlib.machinery.SourceFileLoader("tools_prompts", str(TOOL))
    spec = importlib.util.spec_from_loader("tools_prompts", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_tool_generates_then_finds_everything_cached(tmp_path, monkeypatch, capsys):
    tool = load_tool()
    wanted = [ATTRACT_NL, HELP_EN, Utterance("screen.locker_open.1", "nl", "Kluis 1 is open.")]
    monkeypatch.setattr(prompts_module, "all_prompts", lambda config: iter(wanted), raising=False)
    config, out = tiny_config(tmp_path), tmp_path / "out"
    assert tool.main(["prompts", "--config", str(config), "--out", str(out)]) == 0
    assert "3 generated, 0 cached, 0 recorded, 0 failed" in capsys.readouterr().out
    assert len(list(out.glob("*/*.wav"))) == 3
    assert tool.main(["prompts", "--config", str(config), "--out", str(out)]) == 0
    assert "0 generated, 3 cached" in capsys.readouterr().out
    wanted.append(Utterance("screen.x", "de", "Guten Tag"))
    assert tool.main(["prompts", "--config", str(config), "--out", str(out)]) == 1
    assert "1 failed" in capsys.readouterr().out


def test_tool_without_espeak_says_what_to_install(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # no espeak-ng there
    result = subprocess.run([sys.executable, str(TOOL), "--config", str(tiny_config(tmp_path))], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "espeak-ng not found" in result.stderr and "apt-get install espeak-ng" in result.stderr


def test_tool_on_the_real_prompt_set(tmp_path):
    result = subprocess.run([sys.executable, str(TOOL), "--config", str(tiny_config(tmp_path)),
                             "--data-dir", str(tmp_path / "data")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert " 0 failed" in result.stdout
    assert list((tmp_path / "data" / "prompts" / "nl").glob("screen.*.wav"))
