"""The composition root: config → store → drivers → flows → UI, built in one place.

Nothing else constructs drivers or picks implementations; there are no module-level singletons.
A reader or camera that fails to start is disabled with a visible status while the kiosk runs on;
the lock bank is essential, so its failure stops the start.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from kioskd.catalogue import seed_catalogue
from kioskd.clock import Clock, SystemClock
from kioskd.config import Config
from kioskd.daemon import Kiosk
from kioskd.diagnostics import ServiceDesk
from kioskd.drivers.cards import pcsc_status
from kioskd.drivers.locks import GpioLockBank, LockElectrics, LockWiring, SimLockBank, real_pin_factory
from kioskd.drivers.speech import Speaker, build_speaker
from kioskd.eid_verify import RootsError
from kioskd.events import DeviceStatus
from kioskd.flows.alarms import AlarmMonitor, AlarmSettings
from kioskd.flows.lockout import LockoutPolicy
from kioskd.flows.pickup import PickupFlow, PickupSettings
from kioskd.identify import Identifier
from kioskd.inventory import lockers_in_service
from kioskd.journal import reconcile_doors, recover_after_restart
from kioskd.logbuffer import RecentLog
from kioskd.proofs import IdentityProofs
from kioskd.runner import NO_LOCKER_IN_SERVICE, EffectRunner
from kioskd.secrets import load_or_create_key
from kioskd.store import Store
from kioskd.tokens import public_key_from_raw

log = logging.getLogger(__name__)


class StartupError(Exception):
    pass


@dataclass
class Parts:
    """Everything the composition root built, so the harness and the CLI can reach the drivers."""

    config: Config
    data_dir: Path
    key: bytes
    store: Store
    kiosk: Kiosk
    lock_bank: object
    screen: object
    speaker: Speaker
    camera: object | None = None
    tag_reader: object | None = None
    recovered: list[str] = field(default_factory=list)
    sync: object | None = None  # kioskd.sync.SyncClient when [sync] is configured and the kiosk enrolled
    card_reader: object | None = None  # the eID reader (kioskd.drivers.eid_reader) when [eid] configures one
    itsme: object | None = None  # the town hall's itsme link (kioskd.itsme_link) when [itsme] configures one

    def close(self) -> None:
        if self.sync is not None:  # first: it reads the doors and the database
            self.sync.stop()
        for driver in (self.itsme, self.card_reader, self.camera, self.tag_reader):
            if driver is not None:
                driver.stop()
        self.lock_bank.close()
        self.speaker.close()
        self.screen.close()
        self.store.close()


def resolve_data_dir(config: Config, override: str | Path | None) -> Path:
    if override is not None:
        return Path(override).resolve()
    if config.kiosk.data_dir is None:
        raise StartupError(f"{config.path}: kiosk.data_dir: required (or pass --data-dir)")
    return config.kiosk.data_dir


def pickup_settings(config: Config) -> PickupSettings:
    p = config.pickup
    return PickupSettings(
        default_language=config.kiosk.default_language, languages=config.kiosk.languages,
        pin_length=config.identification.pin_length, reopen_grace_seconds=p.reopen_grace_seconds,
        max_reopens=p.max_reopens, eid=config.eid.driver != "none", card_pin_pad=config.eid.pin_pad,
        itsme=config.itsme.driver != "none", door_open_timeout_seconds=p.door_open_timeout_seconds,
        door_close_reminder_seconds=p.door_close_reminder_seconds,
        door_left_open_alarm_seconds=p.door_left_open_alarm_seconds, inactivity_seconds=p.inactivity_seconds,
        timeout_warning_seconds=p.timeout_warning_seconds, max_extensions=p.max_extensions,
        large_text=config.ui.large_text, timezone=config.kiosk.timezone,
        service_inactivity_seconds=config.service.inactivity_seconds,
        service_refresh_seconds=config.service.refresh_seconds, relay_test_seconds=config.service.relay_test_seconds)


def _sync_lockers(store: Store, config: Config) -> None:
    """The config says which lockers exist; one removed from it is kept (history) but out of service."""
    with store.transaction() as conn:
        numbers = [s.number for s in config.lockers]
        conn.execute(f"UPDATE lockers SET out_of_service = 1 WHERE number NOT IN ({','.join('?' * len(numbers))})",
                     numbers)
        for spec in config.lockers:
            conn.execute(
                "INSERT INTO lockers (number, size, row, col) VALUES (?, ?, ?, ?) ON CONFLICT(number)"
                " DO UPDATE SET size = excluded.size, row = excluded.row, col = excluded.col",
                (spec.number, spec.size, spec.row, spec.column))


def _lock_bank(config: Config, post, sim_pin_factory=None) -> object:
    c = config.locks
    electrics = LockElectrics(c.pulse_seconds, c.relay_active_high, c.door_closed_level, c.door_pull_up,
                              c.door_bounce_seconds or None)
    if c.driver == "sim":
        lockers = {s.number: (LockWiring(s.relay, s.door) if s.relay and s.door else None) for s in config.lockers}
        return SimLockBank(lockers, post, electrics=electrics, pin_factory=sim_pin_factory, tamper=c.tamper)
    if c.driver == "rs485":  # a bus that does not answer yet is reported down (out of service), not fatal
        from kioskd.drivers.rs485 import Rs485LockBank

        bank = Rs485LockBank(c.port, {s.number: (s.board, s.lock) for s in config.lockers}, post,
                             baudrate=c.baudrate, retries=c.retries, poll_seconds=c.poll_seconds)
        bank.start()
        return bank
    wiring = {s.number: LockWiring(s.relay, s.door) for s in config.lockers}
    return GpioLockBank(wiring, post, pin_factory=real_pin_factory(), electrics=electrics, tamper=c.tamper,
                        tamper_level=c.tamper_level)


def _camera(config: Config, post) -> object | None:
    c = config.camera
    if c.driver == "none":
        return None
    from kioskd.drivers import camera

    if c.driver == "sim":
        return camera.SimCamera(post, width=c.width, height=c.height, frame_budget_ms=c.frame_budget_ms)

    def open_source():
        return camera.OpenCvFrameSource(c.device, width=c.width, height=c.height)

    return camera.QrScanner(open_source(), post, fps=c.fps, reopen=open_source, frame_budget_ms=c.frame_budget_ms)


def _tag_reader(config: Config, post) -> object | None:
    c = config.rfid
    if c.driver == "none":
        return None
    from kioskd.drivers import rfid

    if c.driver == "sim":
        return rfid.SimTagReader(post, protocol=c.protocol, hold_seconds=c.hold_seconds)
    return rfid.SerialTagReader(c.port, post, baudrate=c.baudrate, protocol=c.protocol, hold_seconds=c.hold_seconds)


def _card_reader(config: Config, post) -> object | None:
    """The eID reader; the simulator's trusts a test root it makes itself (kioskd.eid_testcard), unless
    ``eid.roots_dir`` names other roots (then its test cards are refused as forged, as on a real kiosk)."""
    c = config.eid
    if c.driver == "none":
        return None
    from kioskd.drivers import eid_reader
    from kioskd.eid_verify import SHIPPED_ROOTS, load_roots

    if c.driver == "sim":
        from kioskd.eid_testcard import TestPki

        pki = TestPki.generate()
        roots = load_roots(c.roots_dir) if c.roots_dir else [pki.root]
        reader = eid_reader.SimEidReader(post, roots=roots, pin_pad=c.pin_pad)
        reader.pki = pki  # the harness makes its test cards with it
        return reader
    return eid_reader.PcscEidReader(post, roots=load_roots(c.roots_dir or SHIPPED_ROOTS), reader_name=c.reader,
                                    pin_pad=c.pin_pad)


def _itsme_link(config: Config, directory: Path, key: bytes, store: Store, post) -> object | None:
    """itsme through the town hall (the kiosk's sync token), or the simulator's twin of it."""
    c = config.itsme
    if c.driver == "none":
        return None
    from kioskd import itsme_link

    if c.driver == "sim":
        return itsme_link.SimItsmeLink(post, matches=lambda reservation_id, number: _person_matches(
            store, key, reservation_id, number))
    from kioskd.sync import TokenError, read_token, token_path

    try:
        token = read_token(token_path(config.sync, directory))
    except TokenError as exc:
        log.warning("itsme disabled: %s", exc)
        return None
    return itsme_link.ItsmeLink(config.sync.server, token, post, timeout=c.timeout_seconds)


def _person_matches(store: Store, key: bytes, reservation_id: str, number: str) -> bool:
    """The simulator's itsme twin plays the town hall: the same keyed-hash match on the kiosk's own rows."""
    from kioskd.eid import national_number_digest

    return store.conn.execute("SELECT 1 FROM reservation_people WHERE reservation_id = ? AND digest = ?",
                              (reservation_id, national_number_digest(key, number))).fetchone() is not None


def _start_optional(name: str, driver, kiosk: Kiosk) -> object | None:
    """A reader that cannot start is disabled with a visible status; the kiosk serves without it."""
    if driver is None:
        return None
    try:
        driver.start()
    except (OSError, RuntimeError, ValueError) as exc:
        log.warning("%s disabled: %s", name, exc)
        kiosk.devices[name] = DeviceStatus(name, False, str(exc))
        kiosk.post(kiosk.devices[name])  # journaled like any later failure: an alarm for the town hall
        return None
    kiosk.devices[name] = DeviceStatus(name, True)
    return driver


def _sync_client(config: Config, directory: Path, key: bytes, kiosk: Kiosk, lock_bank, clock: Clock):
    """The town-hall link in its own thread; without a token it stays off with a visible status."""
    if config.sync is None:
        return None
    from kioskd.sync import NOT_ENROLLED, SyncClient, TokenError, read_token, token_path

    try:
        token = read_token(token_path(config.sync, directory))
    except TokenError as exc:
        log.warning("sync disabled: %s", exc)
        kiosk.devices["sync"] = DeviceStatus("sync", False, NOT_ENROLLED)
        kiosk.post(kiosk.devices["sync"])
        return None
    client = SyncClient(config.sync, token=token, db_path=directory / "kioskd.db", kiosk_id=config.kiosk.id, key=key,
                        pin_length=config.identification.pin_length, timezone=config.kiosk.timezone,
                        lockers=tuple(spec.number for spec in config.lockers), door_is_open=lock_bank.door_is_open,
                        post=kiosk.post, clock=clock)
    client.start()
    kiosk.watch_outbox(client.wake_push)  # events the main loop commits go out at once, not at the next interval
    return client


def build(config: Config, *, data_dir: str | Path | None = None, clock: Clock | None = None,
          panel=None, sim_pin_factory=None, recent_log: RecentLog | None = None) -> Parts:
    from kioskd.ui.layouts import layout_from_config
    from kioskd.ui.touchscreen import TouchScreen

    clock = clock or SystemClock()
    directory = resolve_data_dir(config, data_dir)
    key = load_or_create_key(config.kiosk.key_file or directory / "kiosk.key")
    store = Store(directory / "kioskd.db")
    try:
        store.bind_to_kiosk(config.kiosk.id)
        seed_catalogue(store)
        _sync_lockers(store, config)
        screen = TouchScreen(layout_from_config(config), fullscreen=config.ui.fullscreen, panel=panel,
                             title=config.kiosk.name, clock=clock.time, hold_seconds=config.ui.key_hold_seconds,
                             double_strike_seconds=config.ui.double_strike_seconds)
    except BaseException:
        store.close()
        raise
    kiosk = Kiosk(clock=clock, store=store, flow=PickupFlow(pickup_settings(config)), screen=screen,
                  poll_seconds=config.ui.input_poll_ms / 1000,
                  alarms=AlarmMonitor(AlarmSettings(left_open_seconds=config.pickup.door_left_open_alarm_seconds)))
    lock_bank = _lock_bank(config, kiosk.post, sim_pin_factory)  # every relay is created off
    recovered = recover_after_restart(store, clock.time())
    recovered += reconcile_doors(store, lock_bank.door_is_open, [spec.number for spec in config.lockers], clock.time())
    for note in recovered:
        log.warning("recovered after restart: %s", note)
    lo = config.lockout
    identifier = Identifier(store, key=key, public_key=public_key_from_raw(config.identification.public_key_bytes()),
                            kiosk_id=config.kiosk.id,
                            lockout=LockoutPolicy(lo.free_attempts, lo.base_seconds, lo.max_seconds,
                                                  lo.reset_after_seconds))
    speaker = build_speaker(config.speech, data_dir=directory, timezone=config.kiosk.timezone, clock=clock)
    if not speaker.available:
        kiosk.devices["speech"] = DeviceStatus("speech", False, speaker.status)
        kiosk.post(kiosk.devices["speech"])
    configured = {"locks": True, "rfid": config.rfid.driver != "none", "camera": config.camera.driver != "none",
                  "speech": config.speech.driver != "none", "cards": config.eid.driver != "none"}
    try:
        card_reader = _card_reader(config, kiosk.post)
    except RootsError as exc:  # the trusted roots could not be read: no card can be verified
        log.warning("eID disabled: %s", exc)
        kiosk.devices["cards"] = DeviceStatus("cards", False, str(exc))
        kiosk.post(kiosk.devices["cards"])
        card_reader = None
    card_status = card_reader.card_reader_status if card_reader is not None else pcsc_status
    desk = ServiceDesk(store=store, lockers=tuple(spec.number for spec in config.lockers),
                       door_is_open=lock_bank.door_is_open, devices=lambda: kiosk.devices, configured=configured,
                       timezone=config.kiosk.timezone, recent_log=recent_log, card_status=card_status)
    proofs = IdentityProofs(identifier=identifier, key=key, clock=clock, timezone=config.kiosk.timezone)
    kiosk.attach(EffectRunner(store=store, identifier=identifier, lock_bank=lock_bank, screen=screen,
                              speaker=speaker, clock=clock, timers=kiosk.timers, language=lambda: screen.language,
                              desk=desk, post=kiosk.post, proofs=proofs))
    camera = _start_optional("camera", _camera(config, kiosk.post), kiosk)
    tag_reader = _start_optional("rfid", _tag_reader(config, kiosk.post), kiosk)
    proofs.card_reader = _start_optional("cards", card_reader, kiosk)
    proofs.itsme = _itsme_link(config, directory, key, store, kiosk.post)
    desk.camera, desk.tag_reader = camera, tag_reader
    kiosk.start(qr_available=camera is not None, eid_available=proofs.card_reader is not None)
    if not lockers_in_service(store):
        kiosk.post(DeviceStatus("locks", False, NO_LOCKER_IN_SERVICE))
    return Parts(config, directory, key, store, kiosk, lock_bank, screen, speaker, camera, tag_reader, recovered,
                 sync=_sync_client(config, directory, key, kiosk, lock_bank, clock), card_reader=proofs.card_reader,
                 itsme=proofs.itsme)


def headless() -> bool:
    return os.environ.get("SDL_VIDEODRIVER") in ("dummy", "offscreen") or not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
