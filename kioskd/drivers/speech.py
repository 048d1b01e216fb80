"""Speaker: the kiosk's voice. Prompts (``Utterance`` values from kioskd.ui.prompts) become sound.

A prompt is played from a WAV clip: a human recording named after the prompt when one exists, else a clip
espeak-ng generated into the cache (by tools/prompts ahead of time, or on first use). Generated clips are
named after the prompt *and* a hash of their words, voice and rate, so a corrected translation is spoken
anew instead of replaying the old clip. Generating takes espeak-ng some milliseconds to a second, so the
real speaker does it on one background thread: the main loop never waits on espeak-ng, and a newer prompt
simply supersedes one still being generated.

The driver says only what it is given; the rule that PIN digits are never spoken is kept by the prompts
module (a code screen says how many digits are wanted, never which), and key presses get a ``key`` tone.

``RecordingSpeaker`` is the Sim twin and the fallback when there is no audio device: it keeps what was
said and follows the same volume policy, silently. ``build_speaker`` picks one from the config.
"""

from __future__ import annotations

import io
import logging
import threading
import wave
import zoneinfo
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np
import pygame

from kioskd.clock import Clock, SystemClock
from kioskd.config import SpeechSection, clock_range
from kioskd.drivers.prompt_clips import (  # noqa: F401 - re-exported: the driver's public names
    ESPEAK,
    SAMPLE_RATE,
    VOICES,
    PromptLibrary,
    SpeechError,
    library_for,
    wav_format,
)
from kioskd.ui.prompts import Utterance

log = logging.getLogger(__name__)

VOLUME_STEP, VOLUME_MIN, VOLUME_MAX = 0.1, 0.1, 1.0  # what a citizen can set: never fully silent
TONES = ("key", "complete", "warning", "error")
SOUND_CACHE_SECONDS = 240.0  # loaded clips kept in memory, in seconds of sound (~10 MB at 22050 Hz mono)


class Speaker(Protocol):
    spoken: list[tuple[str, str, str]]  # (prompt_id, lang, text) of every say(), in order, bounded
    tones: list[str]  # names of the tones played, in order, bounded
    available: bool  # False when the configured audio device could not be opened (the kiosk reports it down)
    status: str

    @property
    def volume(self) -> float: ...
    def say(self, utterance: Utterance) -> None: ...
    def tone(self, name: str) -> None: ...
    def stop(self) -> None: ...
    def reset_volume(self) -> None: ...
    def change_volume(self, steps: int) -> None: ...
    def close(self) -> None: ...


# ---- volume policy --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VolumePolicy:
    """The default level for a moment: ``night_volume`` inside ``night_hours`` (local time), else ``volume``."""

    volume: float = 0.8
    night_volume: float = 0.4
    night_hours: str = "22:00-07:00"
    timezone: str = "Europe/Brussels"

    @classmethod
    def from_section(cls, section: SpeechSection, timezone: str) -> VolumePolicy:
        return cls(section.volume, section.night_volume, section.night_hours, timezone)

    @cached_property
    def _night(self) -> tuple[int, int]:
        return clock_range(self.night_hours)

    @cached_property
    def _zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def is_night(self, ts: float) -> bool:
        local = datetime.fromtimestamp(ts, self._zone)
        minute = local.hour * 60 + local.minute
        start, end = self._night
        return start <= minute < end if start < end else minute >= start or minute < end

    def level_at(self, ts: float) -> float:
        return self.night_volume if self.is_night(ts) else self.volume


# ---- speakers -------------------------------------------------------------------------------------------


class RecordingSpeaker:
    """Keeps what it was asked to say and which tones, in order, and tracks the volume: the Sim twin, the
    ``none`` driver and the stand-in for a kiosk without a working audio device.

    Until a citizen changes it, the volume follows the clock (day or night level); ``reset_volume`` (at the
    end of each session) forgets the citizen's level, so the next one starts from the default again.
    """

    available = True

    def __init__(self, policy: VolumePolicy | None = None, clock: Clock | None = None, *, limit: int = 1000,
                 status: str = "recording only (no audio)") -> None:
        self.policy = policy or VolumePolicy()
        self.clock = clock or SystemClock()
        self.spoken: list[tuple[str, str, str]] = []
        self.tones: list[str] = []
        self.status = status
        self._limit = limit
        self._chosen_level: float | None = None  # set by change_volume, cleared by reset_volume

    @property
    def volume(self) -> float:
        if self._chosen_level is not None:
            return self._chosen_level
        return self.policy.level_at(self.clock.time())

    def say(self, utterance: Utterance) -> None:
        self.spoken.append((utterance.prompt_id, utterance.lang, utterance.text))
        del self.spoken[:-self._limit]
        log.debug("say %s (%s)", utterance.prompt_id, utterance.lang)

    def tone(self, name: str) -> None:
        if name not in TONES:
            raise ValueError(f"unknown tone {name!r}; choose from {', '.join(TONES)}")
        self.tones.append(name)
        del self.tones[:-self._limit]

    def stop(self) -> None:
        pass

    def reset_volume(self) -> None:
        self._chosen_level = None
        self._volume_changed()

    def change_volume(self, steps: int) -> None:
        level = round(self.volume + steps * VOLUME_STEP, 2)
        self._chosen_level = min(VOLUME_MAX, max(VOLUME_MIN, level))
        self._volume_changed()

    def _volume_changed(self) -> None:
        """Hook: the real speaker applies the new level to what is playing."""

    def close(self) -> None:
        pass


def tone_wav(name: str) -> bytes:
    """A tone as WAV bytes (mono 16-bit): short, distinct in pitch and rhythm, soft (peak 0.3 of full scale),
    with 5 ms ramps so it does not click. WAV, so pygame converts it to whatever format the mixer runs at."""
    notes = {  # (frequency in Hz, 0 for a pause; seconds)
        "key": [(1200, 0.035)],
        "complete": [(660, 0.08), (0, 0.02), (990, 0.12)],
        "warning": [(880, 0.09), (0, 0.07)] * 2 + [(880, 0.09)],
        "error": [(330, 0.14), (247, 0.26)],
    }[name]
    parts = []
    for frequency, seconds in notes:
        index = np.arange(int(SAMPLE_RATE * seconds))
        ramp = np.clip(np.minimum(index, index[-1] - index) / (SAMPLE_RATE * 0.005), 0, 1)
        parts.append(np.sin(2 * np.pi * frequency * index / SAMPLE_RATE) * ramp)
    samples = (0.3 * 32767 * np.concatenate(parts)).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(SAMPLE_RATE)
        clip.writeframes(samples.tobytes())
    return buffer.getvalue()


class MixerSpeaker(RecordingSpeaker):
    """Plays prompts and tones through pygame.mixer: channel 0 speaks, channel 1 beeps.

    ``say`` records the utterance, silences the speech channel and hands the utterance to the worker
    thread, which finds or generates its clip and plays it only if no newer ``say`` or ``stop`` came in the
    meantime (only the latest waiting request is kept). Without an audio device it logs a warning once,
    sets ``available = False`` and behaves as a RecordingSpeaker.
    """

    def __init__(self, library: PromptLibrary, policy: VolumePolicy | None = None, clock: Clock | None = None,
                 *, limit: int = 1000, sound_cache_seconds: float = SOUND_CACHE_SECONDS) -> None:
        super().__init__(policy, clock, limit=limit)
        self.library = library
        self.played: list[tuple[str, str]] = []  # (prompt_id, lang) of clips that really started, bounded
        self._sounds: OrderedDict[tuple[str, int, int], pygame.mixer.Sound] = OrderedDict()
        self._sound_cache_seconds = sound_cache_seconds
        self._lock = threading.Condition()
        self._latest = 0  # number of the newest say/stop; a clip plays only for the newest say
        self._pending: tuple[int, Utterance] | None = None
        self._busy = False
        self._closing = False
        self._owns_mixer = False
        self._worker: threading.Thread | None = None
        try:
            if pygame.mixer.get_init() is None:
                pygame.mixer.init(frequency=SAMPLE_RATE, size=-16, channels=1, buffer=512)
                self._owns_mixer = True
            pygame.mixer.set_num_channels(max(pygame.mixer.get_num_channels(), 2))
            pygame.mixer.set_reserved(2)
            self._speech = pygame.mixer.Channel(0)
            self._beeper = pygame.mixer.Channel(1)
            self._tones = {name: pygame.mixer.Sound(file=io.BytesIO(tone_wav(name))) for name in TONES}
        except pygame.error as exc:
            if self._owns_mixer:
                pygame.mixer.quit()
            self.available = False
            self.status = f"down: no audio device ({exc})"
            log.warning("speech: no audio device, prompts are not played: %s", exc)
            return
        frequency, size, channels = pygame.mixer.get_init()
        self.status = f"mixer {frequency} Hz, {channels} channel(s), {abs(size)}-bit"
        try:
            library.check()
        except SpeechError as exc:  # recordings and pre-generated clips still play
            log.warning("speech: %s", exc)
        self._apply_volume()
        self._worker = threading.Thread(target=self._run, name="speech", daemon=True)
        self._worker.start()

    # ---- the caller's side (the main loop) ----

    def say(self, utterance: Utterance) -> None:
        super().say(utterance)
        if not self.available:
            return
        with self._lock:
            self._latest += 1
            self._speech.stop()
            self._pending = (self._latest, utterance)
            self._lock.notify_all()

    def tone(self, name: str) -> None:
        super().tone(name)
        if not self.available:
            return
        with self._lock:
            try:
                self._apply_volume()  # the clock may have crossed into the night since the last prompt
                self._beeper.play(self._tones[name])
            except pygame.error as exc:  # the device went away: the kiosk goes on without the click
                log.warning("speech: tone %s not played: %s", name, exc)

    def stop(self) -> None:
        if not self.available:
            return
        with self._lock:
            self._latest += 1
            self._pending = None
            self._speech.stop()
            self._beeper.stop()

    def _volume_changed(self) -> None:
        if self.available:
            self._apply_volume()

    def _apply_volume(self) -> None:
        level = self.volume
        self._speech.set_volume(level)
        self._beeper.set_volume(level)

    @property
    def speaking(self) -> bool:
        return self.available and bool(self._speech.get_busy())

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until the worker has handled every request (clip found or generated, and started); for
        tests and the harness. True if it did within ``timeout`` seconds."""
        if not self.available:
            return True
        with self._lock:
            return self._lock.wait_for(lambda: self._pending is None and not self._busy, timeout)

    def close(self) -> None:
        if not self.available or self._closing:
            return
        with self._lock:
            self._closing = True
            self._latest += 1
            self._pending = None
            self._lock.notify_all()
        if self._worker is not None:
            # espeak-ng may still be making a clip (up to its timeout); the worker is a daemon thread and
            # ends with it, and it plays nothing once closing is set
            self._worker.join(timeout=1.0)
        if self._worker is None or not self._worker.is_alive():
            self._sounds.clear()
        if pygame.mixer.get_init() is not None:  # pygame.quit() elsewhere may have closed it already
            self._speech.stop()
            self._beeper.stop()
            if self._owns_mixer:
                pygame.mixer.quit()

    # ---- the worker thread ----

    def _run(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._pending is not None or self._closing)
                request = self._pending
                if self._closing or request is None:
                    return
                number, utterance = request
                self._pending, self._busy = None, True
            try:
                sound = self._sound_for(utterance)
                with self._lock:
                    if sound is not None and number == self._latest and not self._closing:
                        self._apply_volume()  # the clock may have crossed into the night
                        self._speech.play(sound)
                        self.played.append((utterance.prompt_id, utterance.lang))
                        del self.played[:-self._limit]
            except Exception:  # noqa: BLE001 - the worker's boundary: one bad prompt must not silence the kiosk
                log.exception("speech: %s (%s) failed", utterance.prompt_id, utterance.lang)
            finally:
                with self._lock:
                    self._busy = False
                    self._lock.notify_all()

    def _sound_for(self, u: Utterance) -> pygame.mixer.Sound | None:
        """The loaded clip: a recording (unless unplayable), else the cached or newly generated clip.
        Any failure is logged and the prompt stays silent; the kiosk goes on."""
        try:
            recording = self.library.recording_for(u)
            if recording is not None:
                try:
                    return self._load(recording)
                except pygame.error as exc:
                    log.warning("speech: recording %s cannot be played (%s); using the generated voice",
                                recording, exc)
            return self._load(self.library.cached(u) or self.library.synthesize(u))
        except (SpeechError, pygame.error, OSError) as exc:
            log.warning("speech: %s (%s) not spoken: %s", u.prompt_id, u.lang, exc)
            return None

    def _load(self, path: Path) -> pygame.mixer.Sound:
        """A clip from the small LRU of loaded sounds; a file replaced on disk is loaded afresh."""
        info = path.stat()
        key = (str(path), info.st_mtime_ns, info.st_size)
        sound = self._sounds.get(key)
        if sound is None:
            sound = pygame.mixer.Sound(str(path))
            self._sounds[key] = sound
            while len(self._sounds) > 1 and \
                    sum(s.get_length() for s in self._sounds.values()) > self._sound_cache_seconds:
                self._sounds.popitem(last=False)
        self._sounds.move_to_end(key)
        return sound


def build_speaker(section: SpeechSection, *, data_dir: Path, timezone: str, clock: Clock) -> Speaker:
    """The speaker the config names: ``mixer`` plays sound (or falls back to silent, ``available = False``),
    ``sim`` and ``none`` only record."""
    policy = VolumePolicy.from_section(section, timezone)
    if section.driver == "mixer":
        return MixerSpeaker(library_for(section, data_dir), policy, clock)
    return RecordingSpeaker(policy, clock, status="simulated" if section.driver == "sim" else "switched off")
