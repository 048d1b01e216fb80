"""The kiosk's configuration: one TOML file read into frozen, validated dataclasses.

A broken config line must get a precise answer, never a crash and never a half-applied setting, so the file is
checked as a whole and every problem is reported at once, one line each, as ``FILE: section.key: message``.
Each section dataclass declares its own schema: every field carries a ``_Spec`` (how to read the TOML value,
which range it must be in) in its metadata, and one generic reader walks those fields.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import math
import os
import re
import tomllib
import zoneinfo
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

SIM_TEST_PUBLIC_KEY_B64 = "Uks+64svVPiSpHffckpA4U0RBV/jf4IJYc7qDoGnsR4="
"""Public half of ``config/sim-test-backend.key``: the simulator's test key, never for real doors"""
EXAMPLE_PLACEHOLDER_PUBLIC_KEY_B64 = "sDbZjWbeceO6F3j2jmyUbA+5Y+1ZgzFsFlZd1CKaIag="
"""The placeholder in config/aalter.example.toml: nobody holds its private key, so no QR code verifies"""

LANGUAGES = ("nl", "fr", "en")
STANDARD_BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
# Raspberry Pi 40-pin header (J8): physical pin -> BCM GPIO number, for the pins that are GPIOs.
_J8_TO_BCM = {3: 2, 5: 3, 7: 4, 8: 14, 10: 15, 11: 17, 12: 18, 13: 27, 15: 22, 16: 23, 18: 24, 19: 10, 21: 9,
              22: 25, 23: 11, 24: 8, 26: 7, 27: 0, 28: 1, 29: 5, 31: 6, 32: 12, 33: 13, 35: 19, 36: 16,
              37: 26, 38: 20, 40: 21}
_PIN_NAME = re.compile(r"(GPIO|BCM|BOARD|J8:)([0-9]{1,2})")
_KIOSK_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


class ConfigError(Exception):
    """Everything wrong with one config file; ``problems`` holds one ``FILE: where: what`` line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class _Invalid(ValueError):
    """A single value is unusable; the message says why, without the location (the reader adds that)."""


# --- value readers: take a raw TOML value, return the typed value or raise _Invalid -------------------------

_TYPE_NAMES = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array", dict: "table"}


def _show(value: Any) -> str:
    """A value as the message quotes it: floats without noise, long values cut short."""
    text = f"{value:g}" if isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _describe(value: Any) -> str:
    """A value as TOML calls it, e.g. ``string 'abc'``, ``boolean true``, ``float 2.0``, ``date 2024-01-01``."""
    kind = _TYPE_NAMES.get(type(value), type(value).__name__)
    if isinstance(value, bool | float):
        return f"{kind} {str(value).lower()}"
    if hasattr(value, "isoformat"):
        return f"{kind} {value.isoformat()}"
    return kind if isinstance(value, dict) else f"{kind} {_show(value)}"


def _typed(expected: str, *types: type) -> Callable[[Any], Any]:
    """A reader accepting only ``types``; bool is never taken for a number, nor a number for a bool."""
    def read(value: Any) -> Any:
        if isinstance(value, bool) != (bool in types) or not isinstance(value, types):
            raise _Invalid(f"expected {expected}, got {_describe(value)}")
        return value
    return read


_string, _boolean = _typed("a string", str), _typed("true or false", bool)
_integer, _any_number = _typed("an integer", int), _typed("a number", int, float)


def _number(value: Any) -> float:
    if not math.isfinite(_any_number(value)):
        raise _Invalid(f"expected a finite number, got {_show(value)}")
    return float(value)


def _path(value: Any) -> Path:
    text = _string(value)
    if not text or "\0" in text:
        raise _Invalid("expected a file system path, got an empty or NUL-containing string")
    return Path(text)


def _languages(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _Invalid(f"expected an array of language codes, got {_describe(value)}")
    codes = tuple(value)
    if not codes:
        raise _Invalid(f"must list at least one of {_choices(LANGUAGES)}")
    for code in codes:
        if code not in LANGUAGES:
            raise _Invalid(f"unsupported language {_show(code)}; choose from {_choices(LANGUAGES)}")
    if len(set(codes)) != len(codes):
        raise _Invalid(f"lists a language twice: {list(codes)}")
    return codes


def _device(value: Any) -> int | str:
    if (isinstance(value, str) and value) or (type(value) is int and value >= 0):
        return value
    raise _Invalid(f"expected a V4L2 index (integer >= 0) or a device path, got {_describe(value)}")


_CLOCK_RANGE = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _minutes(hours: str, minutes: str) -> int:
    return int(hours) * 60 + int(minutes)


def clock_range(text: str) -> tuple[int, int]:
    """``"22:00-07:00"`` as minutes after midnight (start, end); the range may wrap past midnight."""
    match = _CLOCK_RANGE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"expected a time range such as '22:00-07:00', got {_show(text)}")
    start, end = _minutes(*match.group(1, 2)), _minutes(*match.group(3, 4))
    if start == end or end > 24 * 60:
        raise ValueError(f"expected a time range such as '22:00-07:00', got {_show(text)}")
    return start, end


def _clock_range_text(value: Any) -> str:
    text = _string(value)
    try:
        clock_range(text)
    except ValueError as exc:
        raise _Invalid(str(exc)) from None
    return text.strip()


def _opening_hours(value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``{mon = "09:00-12:00, 13:30-16:00", ...}`` → ((day, ranges), ...) in week order; days left out are closed."""
    if not isinstance(value, dict):
        raise _Invalid(f"expected a table of weekdays such as {{ mon = \"09:00-12:00\" }}, got {_describe(value)}")
    hours = []
    for day, spans in value.items():
        if day not in WEEKDAYS:
            hint = _suggest(day, WEEKDAYS) or f"; use {_choices(WEEKDAYS)}"
            raise _Invalid(f"unknown day {_show(day)}{hint}")
        ranges = tuple(part.strip() for part in _string(spans).split(",") if part.strip())
        for part in ranges:
            try:
                start, end = clock_range(part)
            except ValueError as exc:
                raise _Invalid(f"{day}: {exc}") from None
            if end <= start:
                raise _Invalid(f"{day}: {part!r} ends before it starts")
        hours.append((day, ranges))
    return tuple(sorted(hours, key=lambda item: WEEKDAYS.index(item[0])))


def pin_number(name: str) -> int | None:
    """BCM GPIO number of a gpiozero pin name (GPIOn, BCMn, BOARDn, J8:n), or None if it names no GPIO."""
    match = _PIN_NAME.fullmatch(name)
    if match is None:
        return None
    prefix, number = match.group(1), int(match.group(2))
    if prefix in ("GPIO", "BCM"):
        return number if number <= 27 else None
    return _J8_TO_BCM.get(number)


def _pin(value: Any) -> str:
    name = _string(value)
    if pin_number(name) is None:
        hint = f"; did you mean 'GPIO{name}'?" if name.isdigit() else ""
        if pin_number(name.upper()) is not None:
            hint = f"; did you mean {name.upper()!r}?"
        raise _Invalid(f"{_show(name)} is not a GPIO pin name such as 'GPIO17', 'BCM17' or 'BOARD11'{hint}")
    return name


# --- checks: take a typed value, return an error message or None ------------------------------------------

def _choices(options: tuple[Any, ...]) -> str:
    return ", ".join(repr(option) for option in options)


def _suggest(word: str, options: Any) -> str:
    if len(word) > 64:  # nothing we offer is that long, and difflib would be slow on it
        return ""
    close = difflib.get_close_matches(word, [str(option) for option in options], n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _one_of(*options: Any) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value in options:
            return None
        hint = _suggest(value, options) if isinstance(value, str) else ""
        return f"must be one of {_choices(options)}, got {_show(value)}{hint}"
    return check


def _between(low: float, high: float) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if low <= value <= high else f"must be between {low} and {high}, got {_show(value)}"
    return check


def _positive(high: float = math.inf) -> Callable[[Any], str | None]:
    allowed = "greater than 0" + ("" if high == math.inf else f" and at most {high}")
    return lambda value: None if 0 < value <= high else f"must be {allowed}, got {_show(value)}"


def _kiosk_id(value: str) -> str | None:
    allowed = "must be 1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-'"
    return None if _KIOSK_ID.fullmatch(value) else f"{allowed}, got {_show(value)}"


def _timezone(value: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone {_show(value)}{_suggest(value, zoneinfo.available_timezones())}"
    return None


def decode_public_key(text: str) -> bytes:
    """Raw bytes of a base64 (standard alphabet, padding optional) Ed25519 public key; raises ValueError."""
    if not _BASE64.fullmatch(text):
        alphabet = "uses the URL-safe alphabet" if re.search(r"[-_]", text) else "is not base64"
        raise ValueError(f"{alphabet}; expected standard base64 (A-Z a-z 0-9 + /) of a 32-byte Ed25519 key")
    try:
        raw = base64.b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"is not valid base64: {exc}") from None
    if len(raw) != 32:
        raise ValueError(f"decodes to {len(raw)} bytes; an Ed25519 public key is exactly 32 bytes")
    return raw


def _public_key(value: str) -> str | None:
    try:
        decode_public_key(value)
    except ValueError as exc:
        return str(exc)
    return None


# --- the schema --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Spec:
    read: Callable[[Any], Any]
    check: Callable[[Any], str | None] | None = None


def _field(read: Callable[[Any], Any], check: Callable[[Any], str | None] | None = None,
           default: Any = MISSING) -> Any:
    return field(default=default, metadata={"spec": _Spec(read, check)})


_SECONDS = _positive(3600)


@dataclass(frozen=True)
class KioskSection:
    id: str = _field(_string, _kiosk_id)
    name: str = _field(_string, default="kioskd")
    default_language: str = _field(_string, _one_of(*LANGUAGES), default="nl")
    languages: tuple[str, ...] = _field(_languages, default=LANGUAGES)
    timezone: str = _field(_string, _timezone, default="Europe/Brussels")
    data_dir: Path | None = _field(_path, default=None)
    key_file: Path | None = _field(_path, default=None)
    contact: str = _field(_string, default="")
    opening_hours: tuple[tuple[str, tuple[str, ...]], ...] = _field(_opening_hours, default=())


@dataclass(frozen=True)
class LockerSpec:
    number: int = _field(_integer, _positive())
    size: str = _field(_string, _one_of("S", "M", "L"))
    row: int = _field(_integer, _positive())
    column: int = _field(_integer, _positive())
    relay: str | None = _field(_pin, default=None)
    door: str | None = _field(_pin, default=None)


@dataclass(frozen=True)
class LocksSection:
    driver: str = _field(_string, _one_of("sim", "gpio"), default="sim")
    pulse_seconds: float = _field(_number, _between(0.1, 5.0), default=0.5)
    relay_active_high: bool = _field(_boolean, default=True)
    door_closed_level: str = _field(_string, _one_of("low", "high"), default="low")
    door_pull_up: bool = _field(_boolean, default=True)
    door_bounce_seconds: float = _field(_number, _between(0, 1), default=0.05)


@dataclass(frozen=True)
class RfidSection:
    driver: str = _field(_string, _one_of("sim", "serial", "none"), default="sim")
    port: str = _field(_string, lambda value: None if value else "must not be empty", default="loop://")
    baudrate: int = _field(_integer, _one_of(*STANDARD_BAUDRATES), default=9600)
    protocol: str = _field(_string, _one_of("rdm6300"), default="rdm6300")
    hold_seconds: float = _field(_number, _between(0, 10), default=1.0)


@dataclass(frozen=True)
class CameraSection:
    driver: str = _field(_string, _one_of("sim", "opencv", "none"), default="sim")
    device: int | str = _field(_device, default=0)
    width: int = _field(_integer, _between(160, 3840), default=640)
    height: int = _field(_integer, _between(120, 2160), default=480)
    fps: float = _field(_number, _between(1, 60), default=10.0)


@dataclass(frozen=True)
class PickupSection:
    reopen_grace_seconds: float = _field(_number, _SECONDS, default=60.0)
    max_reopens: int = _field(_integer, _between(0, 10), default=2)
    door_open_timeout_seconds: float = _field(_number, _SECONDS, default=20.0)
    door_close_reminder_seconds: float = _field(_number, _SECONDS, default=30.0)
    door_left_open_alarm_seconds: float = _field(_number, _SECONDS, default=120.0)
    # every time limit warns first and can be extended (EN 301 549): at least 20 s per extension, >= 10 times
    inactivity_seconds: float = _field(_number, _between(20, 3600), default=45.0)
    timeout_warning_seconds: float = _field(_number, _SECONDS, default=15.0)
    max_extensions: int = _field(_integer, _between(10, 1000), default=10)


@dataclass(frozen=True)
class LockoutSection:
    free_attempts: int = _field(_integer, _between(1, 100), default=5)
    base_seconds: float = _field(_number, _positive(), default=30.0)
    max_seconds: float = _field(_number, _positive(), default=3600.0)
    reset_after_seconds: float = _field(_number, _positive(), default=3600.0)


@dataclass(frozen=True, kw_only=True)
class IdentificationSection:
    pin_length: int = _field(_integer, _between(6, 12), default=8)
    qr_public_key: str = _field(_string, _public_key)

    def public_key_bytes(self) -> bytes:
        """The raw 32-byte Ed25519 key that QR tokens are verified with."""
        return decode_public_key(self.qr_public_key)


@dataclass(frozen=True)
class UiSection:
    width: int = _field(_integer, _between(320, 4096), default=1280)
    height: int = _field(_integer, _between(320, 4096), default=800)
    fullscreen: bool = _field(_boolean, default=False)
    input_poll_ms: int = _field(_integer, _between(5, 200), default=20)
    # the panel's visible area in millimetres: text and touch targets are sized in mm, not pixels;
    # left out, 96 pixels per inch is assumed
    screen_width_mm: float | None = _field(_number, _between(50, 3000), default=None)
    screen_height_mm: float | None = _field(_number, _between(50, 3000), default=None)
    large_text: bool = _field(_boolean, default=False)
    key_hold_seconds: float = _field(_number, _between(0.5, 10), default=2.0)
    # EN 301 549 5.8 double-strike acceptance: the same key again within this time is ignored (0 = off)
    double_strike_seconds: float = _field(_number, _between(0, 2), default=0.0)


@dataclass(frozen=True)
class SpeechSection:
    driver: str = _field(_string, _one_of("mixer", "sim", "none"), default="mixer")
    volume: float = _field(_number, _between(0, 1), default=0.8)
    night_volume: float = _field(_number, _between(0, 1), default=0.4)
    night_hours: str = _field(_clock_range_text, default="22:00-07:00")
    rate: int = _field(_integer, _between(80, 300), default=150)
    cache_dir: Path | None = _field(_path, default=None)
    recordings_dir: Path | None = _field(_path, default=None)


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

    def locker(self, number: int) -> LockerSpec | None:
        return next((spec for spec in self.lockers if spec.number == number), None)

    @property
    def all_simulated(self) -> bool:
        """True when no real device is driven, so the kiosk can run on any desktop."""
        return {self.locks.driver, self.rfid.driver, self.camera.driver} <= {"sim", "none"}


_SECTIONS: dict[str, type] = {
    "kiosk": KioskSection, "lockers": LockerSpec, "locks": LocksSection, "rfid": RfidSection,
    "camera": CameraSection, "pickup": PickupSection, "lockout": LockoutSection,
    "identification": IdentificationSection, "ui": UiSection, "speech": SpeechSection,
}
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
            hint = _suggest(key, specs) or _home_of(key, where.split("[")[0])
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
        except _Invalid as exc:
            message = str(exc)
        if message:
            problems.add(f"{where}.{name}", message)
        else:
            values[name] = value
    return values


def _read_lockers(raw: Any, problems: _Problems) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        got = "a single table ([lockers])" if isinstance(raw, dict) else _describe(raw)
        problems.add("lockers", f"expected an array of tables ([[lockers]] blocks), got {got}")
        return []
    if not raw:
        problems.add("lockers", "at least one [[lockers]] table is required")
    return [(f"lockers[{index}]", _read_table(item, LockerSpec, f"lockers[{index}]", problems))
            for index, item in enumerate(raw, start=1)]


def _check_lockers(lockers: list[tuple[str, dict[str, Any]]], driver: Any, problems: _Problems) -> None:
    """Numbers and grid places unique; with real locks every locker wired, and no pin used twice."""
    numbers: dict[int, str] = {}
    places: dict[tuple[int, int], str] = {}
    pins: dict[int, str] = {}
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


def _check_cross_fields(values: dict[str, Any], problems: _Problems) -> None:
    kiosk, lockout = values.get("kiosk", {}), values.get("lockout", {})
    language, languages = kiosk.get("default_language"), kiosk.get("languages")
    if language and languages and language not in languages:
        problems.add("kiosk.default_language", f"{language!r} is not in kiosk.languages {list(languages)}")
    pickup = values.get("pickup", {})
    idle, warning = pickup.get("inactivity_seconds"), pickup.get("timeout_warning_seconds")
    if idle is not None and warning is not None and warning >= idle:
        problems.add("pickup.timeout_warning_seconds",
                     f"must be shorter than pickup.inactivity_seconds ({_show(idle)}), got {_show(warning)}")
    base, most = lockout.get("base_seconds"), lockout.get("max_seconds")
    if base is not None and most is not None and most < base:
        problems.add("lockout.max_seconds",
                     f"must be at least lockout.base_seconds ({_show(base)}), got {_show(most)}")
    key = values.get("identification", {}).get("qr_public_key")
    if values.get("locks", {}).get("driver") == "gpio" and key is not None \
            and decode_public_key(key) == decode_public_key(SIM_TEST_PUBLIC_KEY_B64):
        problems.add("identification.qr_public_key",
                     "this is the simulator's public test key; a kiosk with real hardware "
                     '(locks.driver = "gpio") must use its town hall\'s key')


def _resolve(path: Path | None, base: Path) -> Path | None:
    return path if path is None or path.is_absolute() else Path(os.path.normpath(base / path))


def _check(document: dict[str, Any], path: Path) -> Config:
    problems = _Problems(str(path))
    for key, value in document.items():
        if key not in _SECTIONS:
            what = "unknown section" if isinstance(value, dict | list) else "unknown top-level key"
            problems.add(key, what + (_suggest(key, _SECTIONS) or _home_of(key, "")))
    values: dict[str, Any] = {}
    lockers: list[tuple[str, dict[str, Any]]] = []
    for name, cls in _SECTIONS.items():
        raw = document.get(name)
        if raw is None and name in _REQUIRED_SECTIONS:
            problems.add(name, f"required: add {_REQUIRED_SECTIONS[name]}")
        elif cls is LockerSpec:
            lockers = _read_lockers(raw, problems) if raw is not None else []
        elif raw is not None and not isinstance(raw, dict):
            problems.add(name, f"expected a table ([{name}]), got {_describe(raw)}")
        else:
            values[name] = _read_table(raw or {}, cls, name, problems)
    _check_lockers(lockers, values.get("locks", {}).get("driver"), problems)
    _check_cross_fields(values, problems)
    if problems:
        raise ConfigError(problems)
    base = path.absolute().parent
    kiosk = values.pop("kiosk")
    kiosk.update(data_dir=_resolve(kiosk["data_dir"], base), key_file=_resolve(kiosk["key_file"], base))
    speech = values["speech"]
    speech.update(cache_dir=_resolve(speech["cache_dir"], base),
                  recordings_dir=_resolve(speech["recordings_dir"], base))
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
