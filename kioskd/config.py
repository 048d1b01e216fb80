"""The kiosk's configuration: one TOML file read into frozen, validated dataclasses.

A broken config line must get a precise answer, never a crash and never a half-applied setting, so the file is
checked as a whole and every problem is reported at once, one line each, as ``FILE: section.key: message``.
Each section dataclass declares its own schema: every field carries a ``_Spec`` (how to read the TOML value,
which range it must be in) in its metadata, and one generic reader walks those fields.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from kioskd.config_values import (  # noqa: F401 - also this module's public names
    LANGUAGES,
    STANDARD_BAUDRATES,
    WEEKDAYS,
    Invalid,
    between,
    check_kiosk_id,
    check_public_key,
    check_timezone,
    choices,
    clock_range,
    decode_public_key,
    describe,
    one_of,
    pin_number,
    positive,
    read_any_number,
    read_bool,
    read_clock_range,
    read_device,
    read_int,
    read_languages,
    read_number,
    read_opening_hours,
    read_path,
    read_pin,
    read_string,
    show,
    suggest,
)

SIM_TEST_PUBLIC_KEY_B64 = "Uks+64svVPiSpHffckpA4U0RBV/jf4IJYc7qDoGnsR4="
"""Public half of ``config/sim-test-backend.key``: the simulator's test key, never for real doors"""
EXAMPLE_PLACEHOLDER_PUBLIC_KEY_B64 = "sDbZjWbeceO6F3j2jmyUbA+5Y+1ZgzFsFlZd1CKaIag="
"""The placeholder in config/aalter.example.toml: nobody holds its private key, so no QR code verifies"""

class ConfigError(Exception):
    """Everything wrong with one config file; ``problems`` holds one ``FILE: where: what`` line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


# --- the schema --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Spec:
    read: Callable[[Any], Any]
    check: Callable[[Any], str | None] | None = None


def _field(read: Callable[[Any], Any], check: Callable[[Any], str | None] | None = None,
           default: Any = MISSING) -> Any:
    return field(default=default, metadata={"spec": _Spec(read, check)})


_SECONDS = positive(3600)


@dataclass(frozen=True)
class KioskSection:
    id: str = _field(read_string, check_kiosk_id)
    name: str = _field(read_string, default="kioskd")
    default_language: str = _field(read_string, one_of(*LANGUAGES), default="nl")
    languages: tuple[str, ...] = _field(read_languages, default=LANGUAGES)
    timezone: str = _field(read_string, check_timezone, default="Europe/Brussels")
    data_dir: Path | None = _field(read_path, default=None)
    key_file: Path | None = _field(read_path, default=None)
    contact: str = _field(read_string, default="")
    opening_hours: tuple[tuple[str, tuple[str, ...]], ...] = _field(read_opening_hours, default=())


@dataclass(frozen=True)
class LockerSpec:
    number: int = _field(read_int, positive())
    size: str = _field(read_string, one_of("S", "M", "L"))
    row: int = _field(read_int, positive())
    column: int = _field(read_int, positive())
    relay: str | None = _field(read_pin, default=None)
    door: str | None = _field(read_pin, default=None)
    board: int | None = _field(read_int, between(0, 15), default=None)  # RS485 board address (locks.driver "rs485")
    lock: int | None = _field(read_int, between(0, 15), default=None)  # channel 0..15 on that board


@dataclass(frozen=True)
class LocksSection:
    driver: str = _field(read_string, one_of("sim", "gpio", "rs485"), default="sim")
    pulse_seconds: float = _field(read_number, between(0.1, 5.0), default=0.5)
    relay_active_high: bool = _field(read_bool, default=True)
    door_closed_level: str = _field(read_string, one_of("low", "high"), default="low")
    door_pull_up: bool = _field(read_bool, default=True)
    door_bounce_seconds: float = _field(read_number, between(0, 1), default=0.05)
    # the cabinet's tamper switch (service door, tilt): a GPIO input, and its level while tampered
    tamper: str | None = _field(read_pin, default=None)
    tamper_level: str = _field(read_string, one_of("low", "high"), default="high")
    # RS485 lock-control boards (driver "rs485"); the unlock pulse length is set on the boards
    port: str = _field(read_string, default="")
    baudrate: int = _field(read_int, one_of(*STANDARD_BAUDRATES), default=19200)
    retries: int = _field(read_int, between(0, 10), default=2)
    poll_seconds: float = _field(read_number, between(0.05, 5), default=0.2)


@dataclass(frozen=True)
class RfidSection:
    driver: str = _field(read_string, one_of("sim", "serial", "none"), default="sim")
    port: str = _field(read_string, lambda value: None if value else "must not be empty", default="loop://")
    baudrate: int = _field(read_int, one_of(*STANDARD_BAUDRATES), default=9600)
    protocol: str = _field(read_string, one_of("rdm6300", "line"), default="rdm6300")
    hold_seconds: float = _field(read_number, between(0, 10), default=1.0)


@dataclass(frozen=True)
class CameraSection:
    driver: str = _field(read_string, one_of("sim", "opencv", "none"), default="sim")
    device: int | str = _field(read_device, default=0)
    width: int = _field(read_int, between(160, 3840), default=640)
    height: int = _field(read_int, between(120, 2160), default=480)
    fps: float = _field(read_number, between(1, 60), default=10.0)
    # no further decoding stage starts on a frame after this (docs/qr.md); a frame is never queued behind it
    frame_budget_ms: float = _field(read_number, between(1, 1000), default=40.0)


@dataclass(frozen=True)
class PickupSection:
    reopen_grace_seconds: float = _field(read_number, _SECONDS, default=60.0)
    max_reopens: int = _field(read_int, between(0, 10), default=2)
    door_open_timeout_seconds: float = _field(read_number, _SECONDS, default=20.0)
    door_close_reminder_seconds: float = _field(read_number, _SECONDS, default=30.0)
    door_left_open_alarm_seconds: float = _field(read_number, _SECONDS, default=120.0)
    # every time limit warns first and can be extended (EN 301 549): at least 20 s per extension, >= 10 times
    inactivity_seconds: float = _field(read_number, between(20, 3600), default=45.0)
    timeout_warning_seconds: float = _field(read_number, _SECONDS, default=15.0)
    max_extensions: int = _field(read_int, between(10, 1000), default=10)


@dataclass(frozen=True)
class LockoutSection:
    free_attempts: int = _field(read_int, between(1, 100), default=5)
    base_seconds: float = _field(read_number, positive(), default=30.0)
    max_seconds: float = _field(read_number, positive(), default=3600.0)
    reset_after_seconds: float = _field(read_number, positive(), default=3600.0)


@dataclass(frozen=True, kw_only=True)
class IdentificationSection:
    pin_length: int = _field(read_int, between(6, 12), default=8)
    qr_public_key: str = _field(read_string, check_public_key)

    def public_key_bytes(self) -> bytes:
        """The raw 32-byte Ed25519 key that QR tokens are verified with."""
        return decode_public_key(self.qr_public_key)


@dataclass(frozen=True)
class UiSection:
    width: int = _field(read_int, between(320, 4096), default=1280)
    height: int = _field(read_int, between(320, 4096), default=800)
    fullscreen: bool = _field(read_bool, default=False)
    input_poll_ms: int = _field(read_int, between(5, 200), default=20)
    # the panel's visible area in millimetres: text and touch targets are sized in mm, not pixels;
    # left out, 96 pixels per inch is assumed
    screen_width_mm: float | None = _field(read_number, between(50, 3000), default=None)
    screen_height_mm: float | None = _field(read_number, between(50, 3000), default=None)
    large_text: bool = _field(read_bool, default=False)
    key_hold_seconds: float = _field(read_number, between(0.5, 10), default=2.0)
    # EN 301 549 5.8 double-strike acceptance: the same key again within this time is ignored (0 = off)
    double_strike_seconds: float = _field(read_number, between(0, 2), default=0.0)


@dataclass(frozen=True)
class SpeechSection:
    driver: str = _field(read_string, one_of("mixer", "sim", "none"), default="mixer")
    volume: float = _field(read_number, between(0, 1), default=0.8)
    night_volume: float = _field(read_number, between(0, 1), default=0.4)
    night_hours: str = _field(read_clock_range, default="22:00-07:00")
    rate: int = _field(read_int, between(80, 300), default=150)
    cache_dir: Path | None = _field(read_path, default=None)
    recordings_dir: Path | None = _field(read_path, default=None)


@dataclass(frozen=True)
class ServiceSection:
    """Technicians' service mode: it ends by itself after this long without a touch (after the usual warning)."""

    inactivity_seconds: float = _field(read_number, between(20, 3600), default=120.0)
    refresh_seconds: float = _field(read_number, between(0.2, 60), default=1.0)  # the live status is re-read
    relay_test_seconds: float = _field(read_number, between(0.5, 60), default=3.0)  # per door, in a relay test


@dataclass(frozen=True)
class EidSection:
    """The Belgian eID card reader (docs/identity.md): strong identification that works offline."""

    driver: str = _field(read_string, one_of("none", "pcsc", "sim"), default="none")
    reader: str = _field(read_string, default="")  # part of the PC/SC reader's name; empty: the first reader
    pin_pad: bool = _field(read_bool, default=False)  # verify the card PIN on the reader's own keypad
    # the trusted Belgian root certificates (PEM/DER files); left out: the ones shipped with kioskd
    roots_dir: Path | None = _field(read_path, default=None)


@dataclass(frozen=True)
class ItsmeSection:
    """itsme through the town hall (docs/itsme.md): needs [sync]; the kiosk never holds itsme credentials."""

    driver: str = _field(read_string, one_of("none", "townhall", "sim"), default="none")
    # per request; a poll that times out is tried again (the town hall may be finishing with itsme)
    timeout_seconds: float = _field(read_number, between(0.5, 60), default=10.0)


def _check_server_url(value: str) -> str | None:
    scheme, sep, rest = value.partition("://")
    if not sep or scheme not in ("http", "https") or not rest.split("/")[0] or any(c.isspace() for c in value):
        return f"expected the town hall's URL, e.g. \"https://townhall.example.be\", got {show(value)}"
    return None


def _check_time_of_day(value: str) -> str | None:
    hours, sep, minutes = value.partition(":")
    if not (sep and value.isascii() and len(hours) == len(minutes) == 2 and hours.isdigit() and minutes.isdigit()
            and int(hours) < 24 and int(minutes) < 60):
        return f"expected a local time of day as HH:MM, e.g. \"03:30\", got {show(value)}"
    return None


@dataclass(frozen=True)
class SyncSection:
    """The link with the town hall (docs/sync.md); present only when the kiosk syncs."""

    server: str = _field(read_string, _check_server_url)
    # the bearer token `kioskctl enrol` writes (mode 0600); default: data_dir/sync.token
    token_file: Path | None = _field(read_path, default=None)
    push_interval_seconds: float = _field(read_number, between(0.01, 3600), default=5.0)
    pull_interval_seconds: float = _field(read_number, between(0.01, 86400), default=30.0)
    heartbeat_interval_seconds: float = _field(read_number, between(0.01, 86400), default=60.0)
    connect_timeout_seconds: float = _field(read_number, between(0.1, 120), default=5.0)
    request_timeout_seconds: float = _field(read_number, between(0.1, 600), default=20.0)
    batch_size: int = _field(read_int, between(1, 500), default=200)  # events per POST (the API allows 500)
    page_size: int = _field(read_int, between(1, 500), default=200)  # changes asked per GET
    max_requests_per_minute: int = _field(read_int, between(1, 100000), default=120)
    backoff_min_seconds: float = _field(read_number, between(0.001, 3600), default=1.0)
    backoff_max_seconds: float = _field(read_number, between(0.001, 86400), default=300.0)
    max_response_bytes: int = _field(read_int, between(1024, 256 * 1024 * 1024), default=8 * 1024 * 1024)
    offline_after_failures: int = _field(read_int, between(1, 100), default=3)  # failures in a row: "offline"
    refused_page_retries: int = _field(read_int, between(0, 100), default=3)  # before a refused change is skipped
    # the nightly reconciliation with GET /snapshot, at this local time (kiosk.timezone), after a push and a pull
    snapshot_at: str = _field(read_string, _check_time_of_day, default="03:30")


@dataclass(frozen=True)
class Config:
    path: Path
    kiosk: KioskSection
    lockers: tuple[LockerSpec, ...]
    locks: LocksSection
    rfid: RfidSection
    camera: CameraSection
    pickup: PickupSection
    lockout: LockoutSection
    identification: IdentificationSection
    ui: UiSection
    speech: SpeechSection
    service: ServiceSection = ServiceSection()
    sync: SyncSection | None = None  # no [sync] section: the kiosk does not sync
    eid: EidSection = EidSection()
    itsme: ItsmeSection = ItsmeSection()

    def locker(self, number: int) -> LockerSpec | None:
        return next((spec for spec in self.lockers if spec.number == number), None)

    @property
    def all_simulated(self) -> bool:
        """True when no real device is driven, so the kiosk can run on any desktop."""
        return {self.locks.driver, self.rfid.driver, self.camera.driver, self.eid.driver} <= {"sim", "none"}


_SECTIONS: dict[str, type] = {
    "kiosk": KioskSection, "lockers": LockerSpec, "locks": LocksSection, "rfid": RfidSection,
    "camera": CameraSection, "pickup": PickupSection, "lockout": LockoutSection,
    "identification": IdentificationSection, "ui": UiSection, "speech": SpeechSection,
    "service": ServiceSection, "sync": SyncSection, "eid": EidSection, "itsme": ItsmeSection,
}
_OPTIONAL_SECTIONS = {"sync"}  # absent: None, not a section of defaults
_REQUIRED_SECTIONS = {"kiosk": "a [kiosk] section", "lockers": "at least one [[lockers]] table",
                      "identification": "an [identification] section"}


# --- reading -----------------------------------------------------------------------------------------------

class _Problems(list[str]):
    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def add(self, where: str, message: str) -> None:
        self.append(f"{self.label}: {where}: {message}")


def _home_of(key: str, besides: str) -> str:
    """A hint naming the section a misplaced key belongs to, e.g. ``driver`` written under [kiosk]."""
    homes = [f"[{name}]" for name, cls in _SECTIONS.items()
             if name != besides and key in {f.name for f in fields(cls)}]
    return f" (it belongs in {' or '.join(homes)})" if homes else ""


def _read_table(table: dict[str, Any], cls: type, where: str, problems: _Problems) -> dict[str, Any]:
    """Typed values of the valid fields of one table; problem fields are reported and left out."""
    specs = {f.name: f for f in fields(cls)}
    for key in table:
        if key not in specs:
            hint = suggest(key, specs) or _home_of(key, where.split("[")[0])
            problems.add(f"{where}.{key}", f"unknown key{hint}")
    values: dict[str, Any] = {}
    for name, spec_field in specs.items():
        spec: _Spec = spec_field.metadata["spec"]
        if name not in table:
            if spec_field.default is MISSING:
                problems.add(f"{where}.{name}", "required")
            else:
                values[name] = spec_field.default
            continue
        try:
            value = spec.read(table[name])
            message = spec.check(value) if spec.check else None
        except Invalid as exc:
            message = str(exc)
        if message:
            problems.add(f"{where}.{name}", message)
        else:
            values[name] = value
    return values


def _read_lockers(raw: Any, problems: _Problems) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        got = "a single table ([lockers])" if isinstance(raw, dict) else describe(raw)
        problems.add("lockers", f"expected an array of tables ([[lockers]] blocks), got {got}")
        return []
    if not raw:
        problems.add("lockers", "at least one [[lockers]] table is required")
    return [(f"lockers[{index}]", _read_table(item, LockerSpec, f"lockers[{index}]", problems))
            for index, item in enumerate(raw, start=1)]


def _check_lockers(lockers: list[tuple[str, dict[str, Any]]], driver: Any, problems: _Problems) -> None:
    """Numbers and grid places unique; with real locks every locker wired, and no pin or board address used twice."""
    numbers: dict[int, str] = {}
    places: dict[tuple[int, int], str] = {}
    pins: dict[int, str] = {}
    addresses: dict[tuple[int, int], str] = {}
    for where, values in lockers:
        number = values.get("number")
        if number in numbers:
            problems.add(f"{where}.number", f"duplicate locker number {number} (also {numbers[number]})")
        elif number is not None:
            numbers[number] = where
        place = (values.get("row"), values.get("column"))
        if place in places:
            problems.add(where, f"row {place[0]}, column {place[1]} is already taken by {places[place]}")
        elif None not in place:
            places[place] = where
        owner = f"locker {number} ({where})" if number is not None else where
        for role in ("relay", "door"):
            name = values.get(role, "")  # "" = invalid, already reported
            if name is None and driver == "gpio":
                problems.add(f"{where}.{role}", 'required when locks.driver = "gpio"')
            bcm = pin_number(name) if name else None
            if bcm in pins:
                problems.add(f"{where}.{role}", f"pin {name!r} (GPIO{bcm}) clashes with the {pins[bcm]}")
            elif bcm is not None:
                pins[bcm] = f"{role} of {owner}"
        if driver == "rs485":
            _check_board_address(where, owner, values, addresses, problems)


def _check_board_address(where: str, owner: str, values: dict[str, Any], addresses: dict[tuple[int, int], str],
                         problems: _Problems) -> None:
    """With RS485 boards every locker needs a board and a lock, and no two lockers the same pair."""
    for key in ("board", "lock"):
        if key in values and values[key] is None:  # absent from values = invalid, already reported
            problems.add(f"{where}.{key}", 'required when locks.driver = "rs485"')
    address = (values.get("board"), values.get("lock"))
    if None in address:
        return
    if address in addresses:
        problems.add(where, f"board {address[0]}, lock {address[1]} is already used by {addresses[address]}")
    else:
        addresses[address] = owner


def _check_locks(locks: dict[str, Any], problems: _Problems) -> None:
    if locks.get("driver") == "rs485" and locks.get("port") == "":
        problems.add("locks.port", 'required when locks.driver = "rs485" (e.g. "/dev/ttyUSB0")')


def _check_cross_fields(values: dict[str, Any], problems: _Problems) -> None:
    kiosk, lockout = values.get("kiosk", {}), values.get("lockout", {})
    language, languages = kiosk.get("default_language"), kiosk.get("languages")
    if language and languages and language not in languages:
        problems.add("kiosk.default_language", f"{language!r} is not in kiosk.languages {list(languages)}")
    pickup = values.get("pickup", {})
    idle, warning = pickup.get("inactivity_seconds"), pickup.get("timeout_warning_seconds")
    if idle is not None and warning is not None and warning >= idle:
        problems.add("pickup.timeout_warning_seconds",
                     f"must be shorter than pickup.inactivity_seconds ({show(idle)}), got {show(warning)}")
    base, most = lockout.get("base_seconds"), lockout.get("max_seconds")
    if base is not None and most is not None and most < base:
        problems.add("lockout.max_seconds",
                     f"must be at least lockout.base_seconds ({show(base)}), got {show(most)}")
    sync = values.get("sync", {})
    low, high = sync.get("backoff_min_seconds"), sync.get("backoff_max_seconds")
    if low is not None and high is not None and high < low:
        problems.add("sync.backoff_max_seconds",
                     f"must be at least sync.backoff_min_seconds ({show(low)}), got {show(high)}")
    if values.get("itsme", {}).get("driver") == "townhall" and "sync" not in values:
        problems.add("itsme.driver", '"townhall" needs a [sync] section: the town hall runs itsme for the kiosk')
    key = values.get("identification", {}).get("qr_public_key")
    driver = values.get("locks", {}).get("driver")
    if driver in ("gpio", "rs485") and key is not None \
            and decode_public_key(key) == decode_public_key(SIM_TEST_PUBLIC_KEY_B64):
        problems.add("identification.qr_public_key",
                     "this is the simulator's public test key; a kiosk with real hardware "
                     f'(locks.driver = "{driver}") must use its town hall\'s key')


def _resolve(path: Path | None, base: Path) -> Path | None:
    return path if path is None or path.is_absolute() else Path(os.path.normpath(base / path))


def _check(document: dict[str, Any], path: Path) -> Config:
    problems = _Problems(str(path))
    for key, value in document.items():
        if key not in _SECTIONS:
            what = "unknown section" if isinstance(value, dict | list) else "unknown top-level key"
            problems.add(key, what + (suggest(key, _SECTIONS) or _home_of(key, "")))
    values: dict[str, Any] = {}
    lockers: list[tuple[str, dict[str, Any]]] = []
    for name, cls in _SECTIONS.items():
        raw = document.get(name)
        if raw is None and name in _REQUIRED_SECTIONS:
            problems.add(name, f"required: add {_REQUIRED_SECTIONS[name]}")
        elif cls is LockerSpec:
            lockers = _read_lockers(raw, problems) if raw is not None else []
        elif raw is not None and not isinstance(raw, dict):
            problems.add(name, f"expected a table ([{name}]), got {describe(raw)}")
        elif raw is None and name in _OPTIONAL_SECTIONS:
            continue
        else:
            values[name] = _read_table(raw or {}, cls, name, problems)
    _check_lockers(lockers, values.get("locks", {}).get("driver"), problems)
    _check_locks(values.get("locks", {}), problems)
    _check_cross_fields(values, problems)
    if problems:
        raise ConfigError(problems)
    base = path.absolute().parent
    kiosk = values.pop("kiosk")
    kiosk.update(data_dir=_resolve(kiosk["data_dir"], base), key_file=_resolve(kiosk["key_file"], base))
    speech = values["speech"]
    speech.update(cache_dir=_resolve(speech["cache_dir"], base),
                  recordings_dir=_resolve(speech["recordings_dir"], base))
    values["eid"]["roots_dir"] = _resolve(values["eid"]["roots_dir"], base)
    if "sync" in values:
        values["sync"].update(server=values["sync"]["server"].rstrip("/"),
                              token_file=_resolve(values["sync"]["token_file"], base))
    return Config(
        path=path,
        kiosk=KioskSection(**kiosk),
        lockers=tuple(sorted((LockerSpec(**spec) for _, spec in lockers), key=lambda spec: spec.number)),
        **{name: _SECTIONS[name](**section) for name, section in values.items()},
    )


def parse_config(text: str, path: str | Path = "<config>") -> Config:
    """Check TOML text as if it were the file at ``path``; relative paths in it resolve against its folder."""
    path = Path(path)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: invalid TOML: {exc}"]) from None
    return _check(document, path)


def load_config(path: str | Path) -> Config:
    """Read and check the config file; every problem in it is reported at once in one ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: cannot read: not UTF-8 ({exc.reason} at byte {exc.start})"]) from None
    return parse_config(text, path)
