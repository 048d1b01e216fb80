"""The test harness: the real daemon with Sim drivers, a controllable clock and pygame's dummy video.

Public and documented in docs/harness.md; the project's own tests use it. Every action goes
through the production path: a press is a pygame mouse event at the button's centre, a QR code is
a rendered image through the real decoder, a tag is an RDM6300 frame through the real parser, a
door is a GPIO level on gpiozero's MockFactory.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from kioskd import journal, tokens
from kioskd.app import Parts, build
from kioskd.changes import apply_changes
from kioskd.clock import ManualClock
from kioskd.config import Config, load_config
from kioskd.logbuffer import RecentLog

SIM_PRIVATE_KEY = "sim-test-backend.key"


class HarnessError(Exception):
    pass


class Harness:
    def __init__(self, config: str | Path = "config/sim.toml", data_dir: str | Path | None = None, *,
                 start: float | None = None, panel=None, pin_factory=None, speech: str = "sim",
                 eid: str | None = None) -> None:
        self.config_path = Path(config)
        self._data_dir = data_dir
        self._start = time.time() if start is None else start
        self._panel = panel
        self._pin_factory = pin_factory  # e.g. a MockFactory whose pin class watches the relays
        self._speech = speech  # "sim": prompts recorded, not synthesised (fast); "mixer": the real voice
        self._eid = eid  # "pcsc": the real PC/SC reader path instead of the config's (it opens no door)
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.parts: Parts | None = None
        self.recent_log: RecentLog | None = None
        self.released: list[tuple[int, float]] = []
        self._edges_seen: dict[int, int] = {}

    # ---- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> Harness:
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        config = load_config(self.config_path)
        self.config: Config = replace(config, speech=replace(config.speech, driver=self._speech))
        if self._eid is not None:
            self.config = replace(self.config, eid=replace(self.config.eid, driver=self._eid))
        if not replace(self.config, eid=config.eid).all_simulated:
            raise HarnessError(f"{self.config_path}: the harness needs sim or none drivers only")
        if self._data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="kioskd-harness-")
            self._data_dir = self._tmp.name
        self.clock = ManualClock(self._start)
        # what service mode's log screen shows: the kioskd loggers' lines, as the entry point collects them
        self.recent_log = RecentLog()
        logging.getLogger("kioskd").addHandler(self.recent_log)
        self.parts = build(self.config, data_dir=self._data_dir, clock=self.clock, panel=self._panel,
                           sim_pin_factory=self._pin_factory, recent_log=self.recent_log)
        for number in self.parts.lock_bank.relays:
            self._edges_seen[number] = self._rising_edges(number)
        self.settle()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self.recent_log is not None:
            logging.getLogger("kioskd").removeHandler(self.recent_log)
            self.recent_log = None
        if self.parts is not None:
            self.parts.close()
            self.parts = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def kiosk(self):
        return self.parts.kiosk

    @property
    def store(self):
        return self.parts.store

    # ---- acting as the town hall -----------------------------------------------------------------

    def load(self, changes: list[dict]):
        """Apply changes exactly as ``kioskctl load`` does."""
        result = apply_changes(self.store, changes, key=self.parts.key,
                               pin_length=self.config.identification.pin_length, now=self.clock.time(),
                               source="harness")
        self.settle()
        return result

    def token_for(self, reservation_id: str, *, expires_in: float = 7 * 86400, kiosk_id: str | None = None,
                  token_id: str | None = None) -> str:
        key = tokens.load_private_key(str(self.config_path.parent / SIM_PRIVATE_KEY))
        return tokens.mint(key, reservation_id, kiosk_id or self.config.kiosk.id,
                           self.clock.time() + expires_in, token_id)

    # ---- acting as a citizen and as the hardware -------------------------------------------------

    def press(self, action: str) -> None:
        import pygame

        try:
            x, y = self.parts.screen.center_of(action)
        except KeyError:
            raise HarnessError(f"no {action!r} button on screen {self.screen!r}; "
                               f"buttons: {[b.action for b in self.parts.screen.model.buttons()]}") from None
        pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(x, y), button=1, touch=False))
        pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=(x, y), button=1, touch=False))
        self.settle()

    def key(self, name: str, *, hold: float | None = None) -> None:
        """Press a keypad key: "0".."9", "up", "down", "left", "right", "enter", "back", "repeat", "help",
        "volume". ``hold`` keeps it down that many seconds of kiosk time (a long press)."""
        import pygame

        from kioskd.ui.touchscreen import KEY_CODES

        try:
            code = KEY_CODES[name][0]
        except KeyError:
            raise HarnessError(f"no keypad key {name!r}; keys: {', '.join(KEY_CODES)}") from None
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=code, mod=0, unicode="", scancode=0))
        self.settle()
        if hold:
            self.advance(hold)
        pygame.event.post(pygame.event.Event(pygame.KEYUP, key=code, mod=0, unicode="", scancode=0))
        self.settle()

    def log_in(self, badge: str, pin: str) -> None:
        """A staff member or technician at the kiosk: the badge brought to the reader (a new presentation,
        however soon after the last), then its PIN and OK."""
        self.remove_tag()
        self.present_tag(badge)
        self.type_code(pin)

    def type_code(self, digits: str, *, ok: bool = True) -> None:
        for digit in digits:
            self.press(f"digit:{digit}")
        if ok:
            self.press("ok")

    def show_qr(self, text: str | None) -> None:
        camera = self._driver("camera")
        camera.show(text)
        self.settle()

    def present_tag(self, tag: str) -> None:
        self._driver("tag_reader").present(tag)
        self.settle()

    def remove_tag(self) -> None:
        """Take the tag away from the reader: presenting it again is a new presentation at once (otherwise
        the reader's debounce treats the same tag within ``rfid.hold_seconds`` as still held there)."""
        self._driver("tag_reader").take_away()

    def insert_card(self, national_number: str = "85073003328", surname: str = "Peeters", first_names: str = "An",
                    *, forge: str | None = None, validity_end: str | None = None, pin: str = "1234",
                    typed_pin: str | None = None) -> None:
        """Put a test eID card in the Sim reader: an emulated card answering the eID's APDUs, its identity
        file signed by the simulator's test PKI (``forge``: "tampered", "other_pki" or "no_signature" make a
        card that must be refused; "clone" and "clone_replay" a copy of a genuine card's files with a chip key
        that is not the card's, refused only on a PIN-pad reader, where the chip must sign a challenge). On a
        PIN-pad reader the citizen types ``typed_pin`` ("cancel" or
        "timeout" too); the card's own PIN is ``pin``. The kiosk reads it through the real reading and
        verification code."""
        from kioskd.eid_testcard import make_card

        reader = self._driver("card_reader")
        extra = {"validity_end": validity_end} if validity_end else {}
        card = make_card(reader.pki, national_number, surname, first_names, forge=forge, pin=pin, **extra)
        card.pin_pad_entry = typed_pin
        reader.insert(card)
        self._settle_card()

    def remove_card(self) -> None:
        self._driver("card_reader").remove()
        self._settle_card()

    def _settle_card(self) -> None:
        """The reader answers from its own thread: run the kiosk until the reader is idle and nothing is left."""
        reader = self._driver("card_reader")
        for _ in range(20):
            if not reader.wait_idle(5.0):
                break
            handled = self.kiosk.process_pending()
            self._note_pulses()
            if not handled and reader.wait_idle(0):
                return
        raise HarnessError("the Sim card reader did not finish")

    def itsme_confirm(self, national_number: str) -> None:
        """The person confirms in the itsme app; the (Sim) town hall says only whether they match."""
        self._driver("itsme").confirm(national_number)
        self.settle()

    def itsme_reject(self) -> None:
        self._driver("itsme").reject()
        self.settle()

    def write_serial(self, data: bytes) -> None:
        self._driver("tag_reader").write_raw(data)
        self.settle()

    def tamper(self, active: bool = True) -> None:
        """Open (or close) the cabinet's service door: the tamper input on the MockFactory."""
        self.parts.lock_bank.set_tamper(active)
        self.settle()

    def open_door(self, locker: int) -> None:
        self.parts.lock_bank.open_door(locker)
        self.settle()

    def close_door(self, locker: int) -> None:
        self.parts.lock_bank.close_door(locker)
        self.settle()

    def advance(self, seconds: float) -> None:
        """Move the kiosk clock; every timer due on the way fires at its own deadline, in order."""
        target = self.clock.time() + seconds
        while True:
            deadline = self.kiosk.timers.next_deadline()
            if deadline is None or deadline > target:
                break
            self.clock.set(max(deadline, self.clock.time()))
            self.settle()
        self.clock.set(target)
        self.settle()

    def settle(self) -> None:
        self.kiosk.process_pending()
        self._note_pulses()

    def _driver(self, name: str):
        driver = getattr(self.parts, name)
        if driver is None:
            raise HarnessError(f"{name} is disabled in {self.config_path}")
        return driver

    # ---- observing -------------------------------------------------------------------------------

    @property
    def screen(self) -> str:
        return self.parts.screen.model.screen

    @property
    def texts(self) -> list[str]:
        return self.parts.screen.model.texts()

    @property
    def language(self) -> str:
        return self.parts.screen.language

    @property
    def spoken(self) -> list[tuple[str, str, str]]:
        """(prompt id, language, text) of everything said so far, in order."""
        return list(self.parts.speaker.spoken)

    @property
    def doors(self) -> dict[int, str]:
        """Each locker's door as its sensor reports it: ``"open"`` or ``"closed"``."""
        bank = self.parts.lock_bank
        return {spec.number: "open" if bank.door_is_open(spec.number) else "closed" for spec in self.config.lockers}

    @property
    def tones(self) -> list[str]:
        return list(self.parts.speaker.tones)

    @property
    def focus(self) -> str | None:
        """Action of the button the keypad focus is on."""
        return self.parts.screen.focus

    def alarms(self, *, active: bool = True) -> list[dict]:
        """Alarms as service mode shows them: ``{"kind", "locker", "device", "raised_at"}``; with
        ``active=False`` every alarm ever raised, with its ``cleared_at``."""
        if active:
            return journal.active_alarms(self.store)
        rows = self.store.conn.execute("SELECT kind, locker, device, raised_at, cleared_at FROM alarms ORDER BY id")
        return [dict(zip(("kind", "locker", "device", "raised_at", "cleared_at"), row, strict=True)) for row in rows]

    def outbox(self) -> list[dict]:
        return self.store.outbox()

    def screenshot(self, path: str | Path) -> Path:
        self.parts.screen.screenshot(str(path))
        return Path(path)

    def relay_pin(self, locker: int):
        return self.parts.lock_bank.relay_pin(locker)

    def _rising_edges(self, locker: int) -> int:
        return sum(1 for state in self.relay_pin(locker).states if state.state)

    def _note_pulses(self) -> None:
        now = self.clock.time()
        for number in sorted(self._edges_seen):
            edges = self._rising_edges(number)
            self.released.extend((number, now) for _ in range(edges - self._edges_seen[number]))
            self._edges_seen[number] = edges
