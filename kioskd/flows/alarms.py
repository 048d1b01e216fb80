"""Which happenings are alarms: a pure policy over door changes, device status and the tamper input.

The daemon feeds it what the drivers report and records what it returns (an outbox event for the town
hall and a row the service mode shows). Door-level alarms that need the release journal (a forced door,
a door left open, a released door that never opened) are decided by the journal and the pickup flow;
this module covers what is about the hardware itself:

- a door sensor that flaps (opens and closes many times within seconds: a loose magnet, a broken wire)
  is reported once per burst, not once per bounce;
- a reader, camera or the lock bus going down is reported once when it goes down and once when it is back;
- the tamper input (the cabinet's service door or a tilt switch) raises an alarm while active;
- a door left open that no session is watching (opened in service mode, forced, or still open after the
  citizen's session ended) is reported once after ``left_open_seconds``: a session watches its own door
  and gives its user a spoken reminder first (kioskd.flows.pickup).
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Alarm:
    kind: str  # sensor_flapping, device_down, tamper, ...
    active: bool  # True when raised, False when cleared
    locker: int | None = None
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AlarmSettings:
    flap_changes: int = 6  # this many door changes ...
    flap_window_seconds: float = 10.0  # ... within this time is flapping, not use
    flap_quiet_seconds: float = 60.0  # a flapping alarm clears after the sensor is quiet this long
    left_open_seconds: float = 120.0  # a door nobody watches, open this long, is an alarm


class AlarmMonitor:
    """Small state (recent door changes, which devices are down) and the rules; no I/O."""

    def __init__(self, settings: AlarmSettings = AlarmSettings()) -> None:
        self.settings = settings
        self._changes: dict[int, deque[float]] = defaultdict(deque)
        self._flapping: dict[int, float] = {}  # locker -> time of the last change while flapping
        self._down: dict[str, str] = {}  # device -> why
        self._tamper = False
        self._open_since: dict[int, float] = {}
        self._left_open: set[int] = set()  # reported, until the door closes

    def door_changed(self, locker: int, now: float, opened: bool | None = None) -> list[Alarm]:
        if opened:
            self._open_since.setdefault(locker, now)
        elif opened is not None:
            self._open_since.pop(locker, None)
            self._left_open.discard(locker)  # the journal clears the alarm when the door closes
        recent = self._changes[locker]
        recent.append(now)
        while recent and now - recent[0] > self.settings.flap_window_seconds:
            recent.popleft()
        if locker in self._flapping:
            self._flapping[locker] = now
            return []
        if len(recent) >= self.settings.flap_changes:
            self._flapping[locker] = now
            return [Alarm("sensor_flapping", True, locker, {"changes": len(recent),
                                                            "seconds": self.settings.flap_window_seconds})]
        return []

    def tick(self, now: float, watched: frozenset[int] | set[int] = frozenset()) -> list[Alarm]:
        """Clear flapping alarms whose sensor has been quiet long enough; report doors left open that no
        session is watching (``watched``: the door the current session handles itself)."""
        cleared = [locker for locker, last in self._flapping.items()
                   if now - last >= self.settings.flap_quiet_seconds]
        for locker in cleared:
            del self._flapping[locker]
            self._changes.pop(locker, None)
        alarms = [Alarm("sensor_flapping", False, locker) for locker in sorted(cleared)]
        for locker, since in sorted(self._open_since.items()):
            if locker in self._left_open or locker in watched or now - since < self.settings.left_open_seconds:
                continue
            self._left_open.add(locker)
            alarms.append(Alarm("door_left_open", True, locker, {"open_seconds": round(now - since)}))
        return alarms

    def flapping(self, locker: int) -> bool:
        return locker in self._flapping

    def device(self, device: str, ok: bool, detail: str = "") -> list[Alarm]:
        if not ok and device not in self._down:
            self._down[device] = detail
            return [Alarm("device_down", True, None, {"device": device, "detail": detail})]
        if ok and device in self._down:
            del self._down[device]
            return [Alarm("device_down", False, None, {"device": device})]
        return []

    def tamper(self, active: bool) -> list[Alarm]:
        if active == self._tamper:
            return []
        self._tamper = active
        return [Alarm("tamper", active)]

    @property
    def devices_down(self) -> dict[str, str]:
        return dict(self._down)
