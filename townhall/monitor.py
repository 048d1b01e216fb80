"""Read-only views for the staff console: each kiosk's locker grid and alarms, the event log, and the pilot's
figures (share of pickups collected outside opening hours; median time from ready to collected), per kiosk
and month in the town hall's time zone.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from townhall.models import Alarm, Event, Kiosk, Reservation
from townhall.runtime import Townhall

ONLINE_SECONDS = 180  # a kiosk heard from within this is shown online
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class AlarmView:
    kiosk_id: str
    kind: str
    locker: int | None
    device: str | None
    raised_at: datetime
    cleared_at: datetime | None


@dataclass(frozen=True)
class LockerCell:
    locker: int
    door: str | None  # "open" / "closed" from the last heartbeat, None if unknown
    contents: str | None  # as the kiosk reported it ("empty", "ready", …)
    flags: list[str]
    reservations: list[str]  # the server's reservations in this locker not yet closed
    alarms: list[str]


@dataclass(frozen=True)
class KioskGrid:
    kiosk_id: str
    name: str
    online: bool
    last_seen_at: datetime | None
    heartbeat_at: datetime | None
    outbox_depth: int | None
    versions: dict
    lockers: list[LockerCell]
    alarms: list[AlarmView]
    kiosk_alarms: list[dict] = field(default_factory=list)  # as listed in the last heartbeat


@dataclass(frozen=True)
class EventView:
    kiosk_id: str
    event_id: str
    type: str
    payload: dict
    created_at: datetime | None
    received_at: datetime
    applied: bool
    note: str | None
    seq: int


@dataclass(frozen=True)
class KpiRow:
    kiosk_id: str
    month: str  # "2026-11", in the town hall's time zone
    collected: int
    outside_hours: int
    outside_share: float | None  # 0..1
    median_ready_to_collected_seconds: float | None
    measured: int = 0  # collections with a known ready time (the median's sample)


def _alarm_view(alarm: Alarm) -> AlarmView:
    return AlarmView(alarm.kiosk_id, alarm.kind, alarm.locker, alarm.device, alarm.raised_at, alarm.cleared_at)


def active_alarms(th: Townhall, kiosk_id: str | None = None) -> list[AlarmView]:
    query = select(Alarm).where(Alarm.cleared_at.is_(None)).order_by(Alarm.raised_at)
    if kiosk_id:
        query = query.where(Alarm.kiosk_id == kiosk_id)
    with th.sessions() as session:
        return [_alarm_view(a) for a in session.scalars(query)]


def kiosk_grid(th: Townhall, kiosk_id: str) -> KioskGrid | None:
    with th.sessions() as session:
        kiosk = session.get(Kiosk, kiosk_id)
        if kiosk is None:
            return None
        heartbeat = kiosk.last_heartbeat or {}
        alarms = [_alarm_view(a) for a in session.scalars(select(Alarm).where(
            Alarm.kiosk_id == kiosk_id, Alarm.cleared_at.is_(None)).order_by(Alarm.raised_at))]
        held: dict[int, list[str]] = {}
        for rid, locker in session.execute(select(Reservation.id, Reservation.locker).where(
                Reservation.kiosk_id == kiosk_id, Reservation.locker.is_not(None),
                Reservation.closed_at.is_(None), Reservation.status.not_in(("collected", "on_loan")))):
            held.setdefault(locker, []).append(rid)
    doors = heartbeat.get("doors") or {}
    reported = {cell["locker"]: cell for cell in heartbeat.get("lockers") or []
                if isinstance(cell, dict) and isinstance(cell.get("locker"), int)}
    numbers = sorted(set(reported) | set(held) | {int(n) for n in doors if str(n).isdigit()})
    cells = [LockerCell(n, doors.get(str(n)), reported.get(n, {}).get("contents"),
                        list(reported.get(n, {}).get("flags") or []), sorted(held.get(n, [])),
                        [a.kind for a in alarms if a.locker == n]) for n in numbers]
    seen = kiosk.last_seen_at
    online = seen is not None and (th.now() - seen).total_seconds() <= ONLINE_SECONDS
    return KioskGrid(kiosk.id, kiosk.name, online, seen, kiosk.last_heartbeat_at, heartbeat.get("outbox_depth"),
                     dict(heartbeat.get("versions") or {}), cells, alarms, list(heartbeat.get("alarms") or []))


def event_log(th: Townhall, *, kiosk_id: str | None = None, type_prefix: str | None = None, limit: int = 100,
              before: int | None = None) -> list[EventView]:
    """Newest first; page with ``before`` = the last row's ``seq``."""
    query = select(Event).order_by(Event.id.desc()).limit(limit)
    if kiosk_id:
        query = query.where(Event.kiosk_id == kiosk_id)
    if type_prefix:
        query = query.where(Event.type.startswith(type_prefix, autoescape=True))
    if before:
        query = query.where(Event.id < before)
    with th.sessions() as session:
        return [EventView(e.kiosk_id, e.event_id, e.type, e.payload, e.created_at, e.received_at, e.applied,
                          e.note, e.id) for e in session.scalars(query)]


def outside_opening_hours(when: datetime, zone, hours: dict[str, list[tuple[int, int]]]) -> bool:
    local = when.astimezone(zone)
    minute = local.hour * 60 + local.minute
    return not any(start <= minute < end for start, end in hours.get(DAY_NAMES[local.weekday()], []))


def kpis(th: Townhall, *, kiosk_id: str | None = None, month: str | None = None,
         hours_for: Callable[[str], dict[str, list[tuple[int, int]]]] | None = None) -> list[KpiRow]:
    """Per kiosk and month of collection: pickups and loans collected, how many outside opening hours (the
    server's ``kpi.opening_hours``, or ``hours_for(kiosk id)``), and the median time from ready (loaded) to
    collected, from the times the kiosk reported."""
    zone = th.config.zone
    query = select(Reservation.kiosk_id, Reservation.ready_at, Reservation.collected_at).where(
        Reservation.collected_at.is_not(None))
    if kiosk_id:
        query = query.where(Reservation.kiosk_id == kiosk_id)
    groups: dict[tuple[str, str], list[tuple[datetime | None, datetime]]] = {}
    with th.sessions() as session:
        for kid, ready_at, collected_at in session.execute(query):
            key = (kid, collected_at.astimezone(zone).strftime("%Y-%m"))
            if month is None or key[1] == month:
                groups.setdefault(key, []).append((ready_at, collected_at))
    rows = []
    hours_cache: dict[str, dict] = {}
    for (kid, period), items in sorted(groups.items()):
        hours = hours_cache.setdefault(kid, hours_for(kid) if hours_for else th.config.opening_hours)
        outside = sum(outside_opening_hours(collected, zone, hours) for _, collected in items)
        waits = [(collected - ready).total_seconds() for ready, collected in items
                 if ready is not None and collected >= ready]
        rows.append(KpiRow(kid, period, len(items), outside, outside / len(items),
                           statistics.median(waits) if waits else None, len(waits)))
    return rows
