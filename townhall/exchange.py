"""What kiosks and the server exchange: events in (held once, applied once), the change feed and snapshot out,
heartbeats.

Events may arrive twice, late or out of order (a lost acknowledgement, a retried batch), so every known event
type is applied as a move *forward* through the reservation's states plus the timestamps it reports: applying
``pickup.collected`` before ``reservation.loaded`` ends in the same row as the other order. An event the server
cannot apply (unknown reservation, another kiosk's) is kept with a note, never refused: the kiosk has acted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from townhall.models import Alarm, Badge, Change, Event, Kiosk, Product, Reservation
from townhall.runtime import Townhall
from townhall.services import (
    FINISHED_STATUSES,
    forget_pin,
    lock_feed,
    open_change_secret,
    pending_identity,
    product_change,
    reservation_change,
)

log = logging.getLogger(__name__)

RANK = {"awaiting_stock": 0, "ready": 1, "cancelled": 1, "collected": 2, "on_loan": 2, "partially_returned": 3,
        "returned": 4, "expired": 4, "closed": 5}


@dataclass(frozen=True)
class IncomingEvent:
    id: str
    type: str
    payload: dict
    created_at: datetime | None


# ---- events --------------------------------------------------------------------------------------------

def receive_events(th: Townhall, kiosk_id: str, events: list[IncomingEvent]) -> list[str]:
    """Hold and apply a batch in one transaction; returns every id now held (new or held before)."""
    for attempt in (1, 2):
        try:
            with th.transaction() as session:
                return _receive(session, th, kiosk_id, events)
        except IntegrityError:
            if attempt == 2:  # the same ids arriving in two concurrent requests: the second retry sees them
                raise
    return []


def _receive(session: Session, th: Townhall, kiosk_id: str, events: list[IncomingEvent]) -> list[str]:
    ids = list(dict.fromkeys(event.id for event in events))
    held = set(session.scalars(select(Event.event_id).where(Event.kiosk_id == kiosk_id,
                                                            Event.event_id.in_(ids))))
    now = th.now()
    for event in events:
        if event.id in held:
            continue  # already held: acknowledged again, applied never twice (even with another payload)
        held.add(event.id)
        row = Event(kiosk_id=kiosk_id, event_id=event.id, type=event.type, payload=event.payload,
                    created_at=event.created_at, received_at=now, applied=False)
        session.add(row)
        session.flush()
        applier = _applier(event.type)
        if applier is not None:
            note = applier(session, th, kiosk_id, event.payload, event.created_at or now)
            row.applied, row.note = note is None, note
    return ids


def _when(payload: dict, key: str, default: datetime) -> datetime:
    value = payload.get(key)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is not None and 2000 <= parsed.astimezone(UTC).year <= 2999:
                return parsed
        except (ValueError, OverflowError):
            return default
    return default


def _reservation(session: Session, kiosk_id: str, payload: dict) -> Reservation | str:
    rid = payload.get("reservation")
    if not isinstance(rid, str):
        return "payload has no reservation id"
    reservation = session.get(Reservation, rid, with_for_update=True)
    if reservation is None or reservation.kiosk_id != kiosk_id:
        return f"unknown reservation {rid!r} for this kiosk"
    return reservation


def _forward(reservation: Reservation, status: str) -> None:
    if RANK[status] > RANK[reservation.status]:
        reservation.status = status


def _locker(payload: dict) -> int | None:
    locker = payload.get("locker")
    ok = isinstance(locker, int) and not isinstance(locker, bool) and 1 <= locker <= 9999
    return locker if ok else None


def _apply_loaded(session: Session, th: Townhall, kiosk_id: str, payload: dict, at: datetime) -> str | None:
    reservation = _reservation(session, kiosk_id, payload)
    if isinstance(reservation, str):
        return reservation
    when = _when(payload, "loaded_at", at)
    reservation.ready_at = reservation.ready_at or when
    reservation.locker = _locker(payload) or reservation.locker
    expires = _when(payload, "expires_at", None) if payload.get("expires_at") else None
    reservation.expires_at = expires or reservation.expires_at
    if reservation.status == "cancelled":
        reservation.closed_at = None  # loaded before the cancellation reached the kiosk: staff take it out
    _forward(reservation, "ready")
    reservation.updated_at = th.now()
    return None


def _apply_collected(session: Session, th: Townhall, kiosk_id: str, payload: dict, at: datetime) -> str | None:
    reservation = _reservation(session, kiosk_id, payload)
    if isinstance(reservation, str):
        return reservation
    reservation.collected_at = reservation.collected_at or _when(payload, "collected_at", at)
    reservation.locker = reservation.locker or _locker(payload)
    if reservation.status == "cancelled":  # the kiosk handed it out before the cancellation arrived
        reservation.status = "ready"
    _forward(reservation, "on_loan" if reservation.kind == "loan" else "collected")
    if reservation.kind == "pickup":
        forget_pin(reservation)
    reservation.updated_at = th.now()
    return None


def _apply_returned(session: Session, th: Townhall, kiosk_id: str, payload: dict, at: datetime) -> str | None:
    reservation = _reservation(session, kiosk_id, payload)
    if isinstance(reservation, str):
        return reservation
    tags = payload.get("tags")
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        return "payload has no list of tags"
    reservation.returned_tags = sorted(set(reservation.returned_tags or []) | {tag.upper() for tag in tags})
    complete = set(reservation.tags or []) <= set(reservation.returned_tags)
    if complete:
        reservation.returned_at = reservation.returned_at or _when(payload, "returned_at", at)
        _forward(reservation, "returned")
        forget_pin(reservation)
    else:
        _forward(reservation, "partially_returned")
    reservation.updated_at = th.now()
    return None


def _apply_emptied(session: Session, th: Townhall, kiosk_id: str, payload: dict, at: datetime) -> str | None:
    items = payload.get("items")
    if not isinstance(items, list):
        return "payload has no list of items"
    unknown = []
    for item in items:
        if not isinstance(item, dict) or not item.get("closed"):
            continue
        reservation = _reservation(session, kiosk_id, item)
        if isinstance(reservation, str):
            unknown.append(reservation)
            continue
        reservation.closed_at = reservation.closed_at or _when(payload, "emptied_at", at)
        _forward(reservation, "closed")
        forget_pin(reservation)
        reservation.updated_at = th.now()
    return "; ".join(unknown) or None


def apply_alarm(session: Session, kiosk_id: str, event_type: str, payload: dict, at: datetime) -> None:
    """``alarm.<kind>`` raises (once per kind, locker and device); ``alarm.<kind>.cleared`` clears it."""
    name = event_type.removeprefix("alarm.")
    cleared = name.endswith(".cleared")
    kind = name.removesuffix(".cleared")[:64]
    locker = _locker(payload)
    device = payload.get("device") if isinstance(payload.get("device"), str) else None
    active = session.scalars(select(Alarm).where(
        Alarm.kiosk_id == kiosk_id, Alarm.kind == kind, Alarm.locker.is_(None) if locker is None
        else Alarm.locker == locker, Alarm.device.is_(None) if device is None else Alarm.device == device,
        Alarm.cleared_at.is_(None))).first()
    when = _when(payload, "at", at)
    if cleared and active is not None:
        active.cleared_at = when
    elif not cleared and active is None:
        session.add(Alarm(kiosk_id=kiosk_id, kind=kind, locker=locker, device=device, detail=payload,
                          raised_at=when))


APPLIERS = {"reservation.loaded": _apply_loaded, "pickup.collected": _apply_collected,
            "loan.returned": _apply_returned, "locker.emptied": _apply_emptied}


def _alarm_applier(event_type: str):
    def apply(session: Session, th: Townhall, kiosk_id: str, payload: dict, at: datetime) -> str | None:
        apply_alarm(session, kiosk_id, event_type, payload, at)
        return None
    return apply


def _applier(event_type: str):
    if event_type in APPLIERS:
        return APPLIERS[event_type]
    if event_type.startswith("alarm.") and len(event_type) > len("alarm."):
        return _alarm_applier(event_type)
    return None


# ---- the change feed and the snapshot ------------------------------------------------------------------

def _with_pin(th: Townhall, change: Change) -> dict:
    """The change as the kiosk gets it: with the PIN (and national numbers) sealed in its row, if still there."""
    return dict(change.change) | open_change_secret(th, change)


VOID = "void"  # a feed row withdrawn before its kiosk had it: kept for the sequence, never served


def _void_unseen_finished(session: Session, kiosk_id: str, after: int, rows: list[Change]) -> set[str]:
    """The ``strong`` reservations among ``rows`` that finished (cancelled, mostly) before the kiosk ever had
    them: their first feed row, the one that created them, lies after ``after``, so the kiosk has applied none of
    their rows (a snapshot's cursor covers every row before it). Their national numbers are erased, so the kiosk
    would refuse the create row (a strong reservation must name its holder) and then the cancellation (of a
    reservation it never had): their rows are voided for good instead, and their ids returned. A kiosk that has
    had the reservation still gets the later rows, the cancellation first of all. (Other products' rows are served
    as before, without the erased PIN: the kiosk takes them, and learns of an item cancelled in a locker.)"""
    refs = {row.ref for row in rows if row.change.get("type") in ("reservation", "reservation.cancel")}
    if not refs:
        return set()
    finished = list(session.scalars(select(Reservation).join(Product, Product.code == Reservation.product).where(
        Reservation.id.in_(refs), Reservation.kiosk_id == kiosk_id, Reservation.status.in_(FINISHED_STATUSES),
        Product.identification == "strong")))
    voided = set()
    for reservation in finished:
        rid = reservation.id
        first = session.scalar(select(func.min(Change.seq)).where(Change.kiosk_id == kiosk_id, Change.ref == rid))
        if first is not None and first > after:
            session.execute(update(Change).where(Change.kiosk_id == kiosk_id, Change.ref == rid)
                            .values(change={"type": VOID, "id": rid}, secret=None)
                            .execution_options(synchronize_session=False))
            if reservation.status == "cancelled" and reservation.closed_at is None:
                # created ready in a locker, cancelled before the kiosk knew: it will never report the locker
                # emptied, so the town hall stops counting the locker as taken (staff take the item out)
                reservation.closed_at = reservation.cancelled_at
            voided.add(rid)
    return voided


def changes_page(th: Townhall, kiosk_id: str, after: int | None, limit: int) -> tuple[list[dict], int, bool]:
    """Changes after ``after`` (the kiosk's cursor), at most ``limit``; the new cursor; whether more wait.

    Asking ``after=N`` says the kiosk has applied everything up to N, so the PINs and national numbers sealed
    in those changes are erased here: the feed keeps them only until its kiosk has them. Rows of a reservation
    that finished before the kiosk had any of them are voided (``_void_unseen_finished``): the cursor moves past
    them, but they are not served.
    """
    # No feed lock here: a pull never waits for a staff transaction in flight (writers take the lock, so their
    # rows commit in sequence order). A cancellation committing while this page is read is consistent either
    # way: read before it, the reservation is served and the cancel follows; after it, all its rows are voided.
    with th.transaction() as session:
        if after:
            session.execute(update(Change).where(Change.kiosk_id == kiosk_id, Change.seq <= after,
                                                 Change.secret.is_not(None)).values(secret=None)
                            .execution_options(synchronize_session=False))
        rows = list(session.scalars(select(Change).where(Change.kiosk_id == kiosk_id, Change.seq > (after or 0))
                                    .order_by(Change.seq).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        cursor = rows[-1].seq if rows else (after or 0)
        if not rows and after:
            cursor = min(after, session.scalar(select(func.max(Change.seq)).where(
                Change.kiosk_id == kiosk_id)) or 0)
        voided = _void_unseen_finished(session, kiosk_id, after or 0, rows)
        served = [row for row in rows if row.change.get("type") != VOID
                  and not (row.ref in voided and row.change.get("type") in ("reservation", "reservation.cancel"))]
        return [_with_pin(th, row) for row in served], cursor, more


def snapshot(th: Townhall, kiosk_id: str) -> tuple[int, list[dict]]:
    """Everything the kiosk should hold now, as changes: the catalogue, active badges (with a PIN only while
    the kiosk has not yet confirmed receiving it; otherwise the kiosk keeps the one it has) and every
    reservation the town hall still controls (with its PIN)."""
    with th.sessions() as session, session.begin():
        lock_feed(session, kiosk_id)  # no feed row of this kiosk is in flight: the cursor covers all it reads
        cursor = session.scalar(select(func.max(Change.seq)).where(Change.kiosk_id == kiosk_id)) or 0
        changes = [product_change(p) for p in session.scalars(select(Product).order_by(Product.code))]
        for badge in session.scalars(select(Badge).where(Badge.kiosk_id == kiosk_id, Badge.active.is_(True))
                                     .order_by(Badge.uid)):
            change = {"type": "badge", "uid": badge.uid, "role": badge.role, "name": badge.name}
            # a PIN the kiosk has not confirmed yet (its feed row still holds it): a kiosk starting from the
            # snapshot would otherwise never get it
            pending = session.scalars(select(Change).where(
                Change.kiosk_id == kiosk_id, Change.ref == f"badge:{badge.uid}", Change.secret.is_not(None))
                .order_by(Change.seq.desc()).limit(1)).first()
            if pending is not None:
                change["pin"] = open_change_secret(th, pending)["pin"]
            changes.append(change)
        for reservation in session.scalars(select(Reservation).where(
                Reservation.kiosk_id == kiosk_id, Reservation.status.in_(("awaiting_stock", "ready")))
                .order_by(Reservation.created_at, Reservation.id)):
            change = reservation_change(reservation)
            if reservation.pin_sealed is not None:
                change["pin"] = th.sealer.open(reservation.pin_sealed, f"reservation:{reservation.id}")
            change |= pending_identity(session, th, reservation)  # only while the kiosk has not confirmed them
            changes.append(change)
        return cursor, changes


# ---- heartbeat -----------------------------------------------------------------------------------------

def record_heartbeat(th: Townhall, kiosk_id: str, heartbeat: dict) -> None:
    with th.transaction() as session:
        kiosk = session.get(Kiosk, kiosk_id)
        kiosk.last_heartbeat = heartbeat
        kiosk.last_heartbeat_at = th.now()


def touch(th: Townhall, kiosk_id: str) -> None:
    with th.transaction() as session:
        session.get(Kiosk, kiosk_id).last_seen_at = th.now()
