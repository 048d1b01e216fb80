"""What the staff console reads beyond ``townhall.services``: the dashboard's kiosk summaries, a reservation's
states over time (its columns, the feed entries sent to its kiosk and the kiosk's events), the pilot's figures
with opening hours per kiosk, and whether a console user is still active.

Read-only: nothing here changes the database. Kept in the console package so the server's modules stay as
their owner wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, cast, func, select

from townhall import monitor
from townhall.config import DAYS, parse_opening_hours
from townhall.models import Change, Event, Reservation, User
from townhall.monitor import KpiRow, kiosk_grid
from townhall.runtime import Townhall
from townhall.services import list_kiosks

# Aalter's pilot: Mon–Fri 09:00–12:00, Wednesday also 14:00–19:00, Saturday 09:00–11:30 (Europe/Brussels)
PILOT_OPENING_HOURS: dict[str, list[tuple[int, int]]] = {
    "mon": [(540, 720)], "tue": [(540, 720)], "wed": [(540, 720), (840, 1140)], "thu": [(540, 720)],
    "fri": [(540, 720)], "sat": [(540, 690)]}


# ---- the dashboard -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KioskSummary:
    id: str
    name: str
    online: bool
    last_seen_at: datetime | None
    heartbeat_at: datetime | None
    outbox_depth: int | None
    alarms: int
    open_doors: int
    lockers: int
    awaiting_stock: int
    ready: int


def kiosk_summaries(th: Townhall) -> list[KioskSummary]:
    counts: dict[tuple[str, str], int] = {}
    with th.sessions() as session:
        for kiosk_id, status, count in session.execute(
                select(Reservation.kiosk_id, Reservation.status, func.count()).where(
                    Reservation.status.in_(("awaiting_stock", "ready"))).group_by(Reservation.kiosk_id,
                                                                                  Reservation.status)):
            counts[(kiosk_id, status)] = count
    summaries = []
    for kiosk in list_kiosks(th):
        grid = kiosk_grid(th, kiosk.id)
        if grid is None:  # removed between the two reads
            continue
        summaries.append(KioskSummary(
            grid.kiosk_id, grid.name, grid.online, grid.last_seen_at, grid.heartbeat_at, grid.outbox_depth,
            len(alarm_union(grid)), sum(cell.door == "open" for cell in grid.lockers), len(grid.lockers),
            counts.get((kiosk.id, "awaiting_stock"), 0), counts.get((kiosk.id, "ready"), 0)))
    return summaries


def alarm_union(grid) -> list[dict]:
    """The kiosk's active alarms: those raised by alarm events and those its last heartbeat lists, once each."""
    alarms: dict[tuple, dict] = {}
    for alarm in grid.alarms:
        alarms[(alarm.kind, alarm.locker, alarm.device)] = {
            "kind": alarm.kind, "locker": alarm.locker, "device": alarm.device, "raised_at": alarm.raised_at,
            "source": "event"}
    for alarm in grid.kiosk_alarms:
        if not isinstance(alarm, dict):
            continue
        key = (alarm.get("kind"), alarm.get("locker"), alarm.get("device"))
        if key in alarms:
            alarms[key]["source"] = "event, heartbeat"
            continue
        raised = alarm.get("raised_at")
        try:
            raised = datetime.fromisoformat(raised) if isinstance(raised, str) else None
        except ValueError:
            raised = None
        alarms[key] = {"kind": alarm.get("kind") or "?", "locker": alarm.get("locker"),
                       "device": alarm.get("device"), "raised_at": raised, "source": "heartbeat"}
    return sorted(alarms.values(), key=lambda a: (a["locker"] is None, a["locker"] or 0, str(a["kind"])))


# ---- a reservation over time ---------------------------------------------------------------------------

@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    what: str
    source: str  # "town hall" (its own record), "feed" (sent to the kiosk), "kiosk" (an event it reported)
    detail: str = ""


_COLUMN_STEPS = (("created_at", "created"), ("ready_at", "ready in its locker"), ("collected_at", "collected"),
                 ("returned_at", "returned"), ("cancelled_at", "cancelled"), ("closed_at", "closed (locker emptied)"),
                 ("notified_at", "citizen e-mailed"))


def _mentions(payload: dict, reservation_id: str) -> bool:
    if not isinstance(payload, dict):
        return False
    if payload.get("reservation") == reservation_id:
        return True
    items = payload.get("items")
    if isinstance(items, list) and any(isinstance(item, dict) and item.get("reservation") == reservation_id
                                       for item in items):
        return True
    refused = payload.get("changes")  # changes.refused: the kiosk could not apply a change about it
    return isinstance(refused, list) and any(isinstance(change, dict) and change.get("id") == reservation_id
                                             for change in refused)


def _change_label(change: dict) -> str:
    kind = change.get("type")
    if kind == "void":
        return "withdrawn from the feed: finished before the kiosk had it"
    if kind == "reservation.cancel":
        return "cancellation sent to the kiosk"
    if kind == "reservation":
        status = change.get("status", "?")
        expiry = change.get("expires_at")
        return f"sent to the kiosk as {status}" + (f", expires {expiry[:16].replace('T', ' ')} UTC" if expiry
                                                   else "")
    return f"{kind} sent to the kiosk"


def reservation_timeline(th: Townhall, reservation_id: str, *, limit: int = 200) -> list[TimelineEntry]:
    """Oldest first. Kiosk events are matched by the reservation id in their payload."""
    entries: list[TimelineEntry] = []
    with th.sessions() as session:
        reservation = session.get(Reservation, reservation_id)
        if reservation is None:
            return []
        for column, label in _COLUMN_STEPS:
            when = getattr(reservation, column)
            if when is not None:
                detail = f"by {reservation.created_by}" if column == "created_at" and reservation.created_by else ""
                entries.append(TimelineEntry(when, label, "town hall", detail))
        for change in session.scalars(select(Change).where(
                Change.kiosk_id == reservation.kiosk_id, Change.ref == reservation_id).order_by(Change.seq)
                .limit(limit)):
            entries.append(TimelineEntry(change.created_at, _change_label(change.change), "feed",
                                         f"feed entry {change.seq}"))
        candidates = session.scalars(select(Event).where(
            Event.kiosk_id == reservation.kiosk_id, cast(Event.payload, String).contains(reservation_id))
            .order_by(Event.id).limit(limit))
        for event in candidates:
            if not _mentions(event.payload, reservation_id):
                continue
            note = "" if event.applied else f"not applied: {event.note}" if event.note else "held, not applied"
            entries.append(TimelineEntry(event.created_at or event.received_at, f"kiosk event {event.type}",
                                         "kiosk", note))
    return sorted(entries, key=lambda e: e.at)


# ---- the pilot's figures -------------------------------------------------------------------------------

def opening_hours_for(th: Townhall, kiosk_id: str) -> dict[str, list[tuple[int, int]]]:
    """``[console.opening_hours.<kiosk id>]`` if given, else the server's ``kpi.opening_hours``."""
    per_kiosk = th.config.console.get("opening_hours")
    if isinstance(per_kiosk, dict) and isinstance(per_kiosk.get(kiosk_id), dict):
        problems: list[str] = []
        hours = parse_opening_hours(per_kiosk[kiosk_id], f"console.opening_hours.{kiosk_id}", problems)
        if not problems:
            return hours
    return th.config.opening_hours


def describe_hours(hours: dict[str, list[tuple[int, int]]]) -> list[tuple[str, str]]:
    def hhmm(minute: int) -> str:
        return f"{minute // 60:02d}:{minute % 60:02d}"
    return [(day.capitalize(), ", ".join(f"{hhmm(a)}–{hhmm(b)}" for a, b in hours[day]) if hours.get(day)
             else "closed") for day in DAYS]


def kpis(th: Townhall, *, kiosk_id: str | None = None, month: str | None = None) -> list[KpiRow]:
    """The figures with each kiosk's own opening hours (``opening_hours_for``)."""
    return monitor.kpis(th, kiosk_id=kiosk_id, month=month, hours_for=lambda kid: opening_hours_for(th, kid))


# ---- filters and users ---------------------------------------------------------------------------------

def event_types(th: Townhall, limit: int = 200) -> list[str]:
    with th.sessions() as session:
        return list(session.scalars(select(Event.type).distinct().order_by(Event.type).limit(limit)))


def user_active(th: Townhall, username: str) -> bool:
    with th.sessions() as session:
        return session.scalar(select(User.id).where(User.username == username, User.active.is_(True))) is not None


def user_count(th: Townhall) -> int:
    with th.sessions() as session:
        return session.scalar(select(func.count()).select_from(User).where(User.active.is_(True))) or 0
