"""Clocks: the kiosk's notion of time, injectable so tests and the harness control it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch (UTC); used for expiry, records and timers alike."""
        ...


class SystemClock:
    def time(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to: ``advance(30)`` is thirty kiosk seconds, instantly."""

    def __init__(self, start: float) -> None:
        self._now = float(start)

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._now += seconds

    def set(self, when: float) -> None:
        self._now = float(when)


def iso(ts: float) -> str:
    """Timestamps are stored as ISO 8601 UTC text so a person reading the database understands them."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def parse_iso(text: str) -> float:
    """Parse an ISO 8601 timestamp that names its offset; naive times are refused (ValueError)."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return value.timestamp()
