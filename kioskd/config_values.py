"""Readers and checks for config values: a raw TOML value in, a typed value or a one-line reason out.

Each reader raises ``Invalid`` with a message that says what was expected and what was found, without
the location (``kioskd.config`` adds ``FILE: section.key``); each check returns such a message or None.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import math
import re
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any

LANGUAGES = ("nl", "fr", "en")
STANDARD_BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
# Raspberry Pi 40-pin header (J8): physical pin -> BCM GPIO number, for the pins that are GPIOs.
_J8_TO_BCM = {3: 2, 5: 3, 7: 4, 8: 14, 10: 15, 11: 17, 12: 18, 13: 27, 15: 22, 16: 23, 18: 24, 19: 10, 21: 9,
              22: 25, 23: 11, 24: 8, 26: 7, 27: 0, 28: 1, 29: 5, 31: 6, 32: 12, 33: 13, 35: 19, 36: 16,
              37: 26, 38: 20, 40: 21}
_PIN_NAME = re.compile(r"(GPIO|BCM|BOARD|J8:)([0-9]{1,2})")
_KIOSK_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


class Invalid(ValueError):
    """A single value is unusable; the message says why, without the location (the reader adds that)."""


# --- value readers: take a raw TOML value, return the typed value or raise Invalid -------------------------

_TYPE_NAMES = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array", dict: "table"}


def show(value: Any) -> str:
    """A value as the message quotes it: floats without noise, long values cut short."""
    text = f"{value:g}" if isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def describe(value: Any) -> str:
    """A value as TOML calls it, e.g. ``string 'abc'``, ``boolean true``, ``float 2.0``, ``date 2024-01-01``."""
    kind = _TYPE_NAMES.get(type(value), type(value).__name__)
    if isinstance(value, bool | float):
        return f"{kind} {str(value).lower()}"
    if hasattr(value, "isoformat"):
        return f"{kind} {value.isoformat()}"
    return kind if isinstance(value, dict) else f"{kind} {show(value)}"


def _typed(expected: str, *types: type) -> Callable[[Any], Any]:
    """A reader accepting only ``types``; bool is never taken for a number, nor a number for a bool."""
    def read(value: Any) -> Any:
        if isinstance(value, bool) != (bool in types) or not isinstance(value, types):
            raise Invalid(f"expected {expected}, got {describe(value)}")
        return value
    return read


read_string, read_bool = _typed("a string", str), _typed("true or false", bool)
read_int, read_any_number = _typed("an integer", int), _typed("a number", int, float)


def read_number(value: Any) -> float:
    if not math.isfinite(read_any_number(value)):
        raise Invalid(f"expected a finite number, got {show(value)}")
    return float(value)


def read_path(value: Any) -> Path:
    text = read_string(value)
    if not text or "\0" in text:
        raise Invalid("expected a file system path, got an empty or NUL-containing string")
    return Path(text)


def read_languages(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise Invalid(f"expected an array of language codes, got {describe(value)}")
    codes = tuple(value)
    if not codes:
        raise Invalid(f"must list at least one of {choices(LANGUAGES)}")
    for code in codes:
        if code not in LANGUAGES:
            raise Invalid(f"unsupported language {show(code)}; choose from {choices(LANGUAGES)}")
    if len(set(codes)) != len(codes):
        raise Invalid(f"lists a language twice: {list(codes)}")
    return codes


def read_device(value: Any) -> int | str:
    if (isinstance(value, str) and value) or (type(value) is int and value >= 0):
        return value
    raise Invalid(f"expected a V4L2 index (integer >= 0) or a device path, got {describe(value)}")


_CLOCK_RANGE = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _minutes(hours: str, minutes: str) -> int:
    return int(hours) * 60 + int(minutes)


def clock_range(text: str) -> tuple[int, int]:
    """``"22:00-07:00"`` as minutes after midnight (start, end); the range may wrap past midnight."""
    match = _CLOCK_RANGE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"expected a time range such as '22:00-07:00', got {show(text)}")
    start, end = _minutes(*match.group(1, 2)), _minutes(*match.group(3, 4))
    if start == end or end > 24 * 60:
        raise ValueError(f"expected a time range such as '22:00-07:00', got {show(text)}")
    return start, end


def read_clock_range(value: Any) -> str:
    text = read_string(value)
    try:
        clock_range(text)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    return text.strip()


def read_opening_hours(value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``{mon = "09:00-12:00, 13:30-16:00", ...}`` → ((day, ranges), ...) in week order; days left out are closed."""
    if not isinstance(value, dict):
        raise Invalid(f"expected a table of weekdays such as {{ mon = \"09:00-12:00\" }}, got {describe(value)}")
    hours = []
    for day, spans in value.items():
        if day not in WEEKDAYS:
            hint = suggest(day, WEEKDAYS) or f"; use {choices(WEEKDAYS)}"
            raise Invalid(f"unknown day {show(day)}{hint}")
        ranges = tuple(part.strip() for part in read_string(spans).split(",") if part.strip())
        for part in ranges:
            try:
                start, end = clock_range(part)
            except ValueError as exc:
                raise Invalid(f"{day}: {exc}") from None
            if end <= start:
                raise Invalid(f"{day}: {part!r} ends before it starts")
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


def read_pin(value: Any) -> str:
    name = read_string(value)
    if pin_number(name) is None:
        hint = f"; did you mean 'GPIO{name}'?" if name.isdigit() else ""
        if pin_number(name.upper()) is not None:
            hint = f"; did you mean {name.upper()!r}?"
        raise Invalid(f"{show(name)} is not a GPIO pin name such as 'GPIO17', 'BCM17' or 'BOARD11'{hint}")
    return name


# --- checks: take a typed value, return an error message or None ------------------------------------------

def choices(options: tuple[Any, ...]) -> str:
    return ", ".join(repr(option) for option in options)


def suggest(word: str, options: Any) -> str:
    if len(word) > 64:  # nothing we offer is that long, and difflib would be slow on it
        return ""
    close = difflib.get_close_matches(word, [str(option) for option in options], n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def one_of(*options: Any) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value in options:
            return None
        hint = suggest(value, options) if isinstance(value, str) else ""
        return f"must be one of {choices(options)}, got {show(value)}{hint}"
    return check


def between(low: float, high: float) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if low <= value <= high else f"must be between {low} and {high}, got {show(value)}"
    return check


def positive(high: float = math.inf) -> Callable[[Any], str | None]:
    allowed = "greater than 0" + ("" if high == math.inf else f" and at most {high}")
    return lambda value: None if 0 < value <= high else f"must be {allowed}, got {show(value)}"


def check_kiosk_id(value: str) -> str | None:
    allowed = "must be 1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-'"
    return None if _KIOSK_ID.fullmatch(value) else f"{allowed}, got {show(value)}"


def check_timezone(value: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone {show(value)}{suggest(value, zoneinfo.available_timezones())}"
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


def check_public_key(value: str) -> str | None:
    try:
        decode_public_key(value)
    except ValueError as exc:
        return str(exc)
    return None
