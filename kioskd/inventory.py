"""What the lockers hold, and the staff and return writes that change it.

A locker's contents are not a column beside the locker: they follow from the reservations and the
returned tags (``OCCUPANTS``). A locker holds a ``ready`` reservation until it is collected, an
``expired`` or ``cancelled`` one until staff take it out, and a loan's ``returned`` items until staff
take them out. The pickup journal, the changes from the town hall and the writers here therefore
cannot disagree about which locker is free: there is nothing to keep in step.

Every writer is one transaction holding the business change, its outbox event and its audit row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kioskd.clock import iso, parse_iso
from kioskd.store import Store

SIZES = ("S", "M", "L")
TAG_PATTERN = re.compile(r"^[0-9A-F]{4,20}$")
# a collected loan; "collected" is what the pickup journal writes for every kind of reservation
LOAN_OUT_STATUSES = ("on_loan", "collected", "partially_returned")

# (locker, reservation_id, status, expires_at, tag): one row per ready/expired/cancelled reservation in a
# locker and per returned tag not yet taken out
OCCUPANTS = """
    SELECT locker, id AS reservation_id, status, expires_at, NULL AS tag FROM reservations
     WHERE locker IS NOT NULL AND status IN ('ready', 'expired', 'cancelled')
    UNION ALL
    SELECT return_locker, reservation_id, 'returned', NULL, tag FROM reservation_tags
     WHERE returned_at IS NOT NULL AND taken_out_at IS NULL
"""
SIZE_RANK = "CASE size WHEN 'S' THEN 1 WHEN 'M' THEN 2 ELSE 3 END"


class InventoryError(Exception):
    """A staff or return write that does not fit the kiosk's state; ``reason`` is a stable code."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class StockItem:
    """A reservation staff still have to load into a locker."""

    reservation_id: str
    product: str
    kind: str  # "pickup" or "loan"
    locker_size: str  # the smallest size it fits in
    tags: tuple[str, ...]
    created_at: float


@dataclass(frozen=True)
class Collection:
    """Something in a locker that staff must take out."""

    locker: int
    reservation_id: str
    contents: str  # "returned", "expired" or "cancelled"
    tags: tuple[str, ...]  # for returned items: the tags in this locker


@dataclass(frozen=True)
class Returned:
    event_id: str
    complete: bool
    outstanding: tuple[str, ...]  # tags of the loan still out


def normalise_tag(text: object) -> str | None:
    """An RFID tag or badge uid as stored and compared: 4-20 hex digits, upper case; None if it is not one."""
    if not isinstance(text, str):
        return None
    tag = text.upper()
    return tag if TAG_PATTERN.match(tag) else None


def sizes_fitting(size: str) -> tuple[str, ...]:
    """The locker sizes an item of ``size`` fits in, smallest first."""
    if size not in SIZES:
        raise ValueError(f"locker size must be one of {', '.join(SIZES)}, not {size!r}")
    return SIZES[SIZES.index(size):]


# ---- reading -------------------------------------------------------------------------------------


def free_locker(store: Store, size: str) -> int | None:
    """The smallest free locker an item of ``size`` fits in (same size first, then larger, lowest number).

    Free: in service, not suspect, holding nothing, and not being opened right now.
    """
    fitting = sizes_fitting(size)
    row = store.conn.execute(
        f"SELECT number FROM lockers l WHERE size IN ({', '.join('?' * len(fitting))})"
        " AND out_of_service = 0 AND suspect = 0"
        f" AND NOT EXISTS (SELECT 1 FROM ({OCCUPANTS}) o WHERE o.locker = l.number)"
        " AND NOT EXISTS (SELECT 1 FROM releases r WHERE r.locker = l.number AND r.state IN ('pending', 'opened'))"
        # a door still open (left open, forced) is not free: a new release there would never see it open
        " AND COALESCE((SELECT kind FROM door_events d WHERE d.locker = l.number ORDER BY d.id DESC LIMIT 1),"
        " 'closed') = 'closed'"
        f" ORDER BY {SIZE_RANK}, number LIMIT 1", fitting).fetchone()
    return row[0] if row else None


def occupants(store: Store, locker: int) -> list[tuple[str, str]]:
    """(reservation id, "ready" | "expired" | "cancelled" | "returned") for everything in ``locker``."""
    rows = store.conn.execute(f"SELECT DISTINCT reservation_id, status FROM ({OCCUPANTS}) WHERE locker = ?"
                              " ORDER BY reservation_id", (locker,)).fetchall()
    return [(rid, status) for rid, status in rows]


def awaiting_stock(store: Store) -> list[StockItem]:
    """Reservations to load, oldest first."""
    rows = store.conn.execute(
        "SELECT r.id, r.product, r.kind, p.locker_size, r.created_at FROM reservations r"
        " JOIN products p ON p.code = r.product WHERE r.status = 'awaiting_stock'"
        " ORDER BY r.created_at, r.id").fetchall()
    return [StockItem(rid, product, kind, size, _tags(store, rid), parse_iso(created))
            for rid, product, kind, size, created in rows]


def staff_collection(store: Store, now: float) -> list[Collection]:
    """What staff must take out, by locker: returned items, expired and cancelled reservations.

    A ready reservation whose pickup time is over counts as expired: the kiosk no longer hands it out.
    """
    rows = store.conn.execute(f"SELECT locker, reservation_id, status, expires_at, tag FROM ({OCCUPANTS})"
                              " ORDER BY locker, reservation_id, tag").fetchall()
    found: dict[tuple[int, str], tuple[str, list[str]]] = {}
    for locker, rid, status, expires_at, tag in rows:
        if status == "ready":
            if not _past(expires_at, now):
                continue
            status = "expired"
        contents, tags = found.setdefault((locker, rid), (status, []))
        if tag is not None:
            tags.append(tag)
    return [Collection(locker, rid, contents, tuple(tags)) for (locker, rid), (contents, tags) in found.items()]


def _tags(store: Store, reservation_id: str) -> tuple[str, ...]:
    rows = store.conn.execute("SELECT tag FROM reservation_tags WHERE reservation_id = ? ORDER BY tag",
                              (reservation_id,)).fetchall()
    return tuple(row[0] for row in rows)


def _past(expires_at: str | None, now: float) -> bool:
    return expires_at is not None and parse_iso(expires_at) <= now


# ---- writing -------------------------------------------------------------------------------------


def record_loaded(store: Store, reservation_id: str, locker: int, staff_badge: str, now: float) -> str:
    """Staff put an awaiting reservation into ``locker``: it becomes ready there.

    A reservation sent without an explicit ``expires_at`` starts its pickup time now, at loading.
    """
    with store.transaction() as conn:
        row = conn.execute("SELECT r.status, r.kind, r.expires_at, p.locker_size, p.pickup_days FROM reservations r"
                           " JOIN products p ON p.code = r.product WHERE r.id = ?", (reservation_id,)).fetchone()
        if row is None or row[0] != "awaiting_stock":
            raise InventoryError("not_awaiting_stock")
        status, kind, expires_at, needed_size, pickup_days = row
        size = _usable_locker_size(store, locker)
        if size not in sizes_fitting(needed_size):
            raise InventoryError("locker_too_small")
        if occupants(store, locker):
            raise InventoryError("locker_occupied")
        expires_at = expires_at or iso(now + pickup_days * 86400)
        conn.execute("UPDATE reservations SET status = 'ready', locker = ?, expires_at = ?, updated_at = ?"
                     " WHERE id = ?", (locker, expires_at, iso(now), reservation_id))
        actor, name = staff_actor(store, staff_badge)
        event_id = store.add_outbox("reservation.loaded", {
            "reservation": reservation_id, "kind": kind, "locker": locker, "expires_at": expires_at,
            "loaded_at": iso(now), "staff": name}, now)
        store.add_audit(actor, "reservation.loaded", {"reservation": reservation_id, "locker": locker}, now)
    return event_id


def record_return(store: Store, reservation_id: str, tags_returned: list[str] | tuple[str, ...], locker: int,
                  now: float) -> Returned:
    """A citizen put items of a loan into ``locker``; each tag must be one of the loan's, not yet returned.

    All tags back makes the loan ``returned``; some makes it ``partially_returned`` (the rest may follow later,
    in another locker).
    """
    with store.transaction() as conn:
        row = conn.execute("SELECT kind, status FROM reservations WHERE id = ?", (reservation_id,)).fetchone()
        if row is None or row[0] != "loan" or row[1] not in LOAN_OUT_STATUSES:
            raise InventoryError("not_on_loan")
        tags = [normalise_tag(tag) for tag in tags_returned]
        if not tags:
            raise InventoryError("no_tags")
        if None in tags or len(set(tags)) != len(tags):
            raise InventoryError("unknown_tag")
        state = dict(conn.execute("SELECT tag, returned_at FROM reservation_tags WHERE reservation_id = ?",
                                  (reservation_id,)).fetchall())
        if any(tag not in state for tag in tags):
            raise InventoryError("unknown_tag")
        if any(state[tag] is not None for tag in tags):
            raise InventoryError("already_returned")
        if conn.execute("SELECT 1 FROM lockers WHERE number = ?", (locker,)).fetchone() is None:
            raise InventoryError("unknown_locker")
        if any(rid != reservation_id for rid, _ in occupants(store, locker)):
            raise InventoryError("locker_occupied")
        conn.executemany("UPDATE reservation_tags SET returned_at = ?, return_locker = ?"
                         " WHERE reservation_id = ? AND tag = ?", [(iso(now), locker, reservation_id, t) for t in tags])
        outstanding = tuple(sorted(tag for tag, returned in state.items() if returned is None and tag not in tags))
        complete = not outstanding
        if complete:
            conn.execute("UPDATE reservations SET status = 'returned', returned_at = ?, updated_at = ? WHERE id = ?",
                         (iso(now), iso(now), reservation_id))
        else:
            conn.execute("UPDATE reservations SET status = 'partially_returned', updated_at = ? WHERE id = ?",
                         (iso(now), reservation_id))
        event_id = store.add_outbox("loan.returned", {
            "reservation": reservation_id, "locker": locker, "tags": sorted(tags), "outstanding": list(outstanding),
            "complete": complete, "returned_at": iso(now)}, now)
        store.add_audit("citizen", "loan.returned", {"reservation": reservation_id, "locker": locker,
                                                     "tags": len(tags), "complete": complete}, now)
    return Returned(event_id, complete, outstanding)


def record_taken_out(store: Store, locker: int, staff_badge: str, now: float) -> str:
    """Staff emptied ``locker``: returned items, an expired or a cancelled reservation.

    Each reservation taken out is ``closed``; a partially returned loan stays open for its missing items
    and is closed when its last returned items are taken out. A pickup still waiting for its citizen is not
    staff's to take (cancel it first): the whole write is refused.
    """
    with store.transaction() as conn:
        rows = conn.execute(f"SELECT reservation_id, status, expires_at, tag FROM ({OCCUPANTS}) WHERE locker = ?"
                            " ORDER BY reservation_id, tag", (locker,)).fetchall()
        if not rows:
            raise InventoryError("nothing_to_take_out")
        items: dict[str, dict] = {}
        for rid, status, expires_at, tag in rows:
            if status == "ready" and not _past(expires_at, now):
                raise InventoryError("holds_ready")
            item = items.setdefault(rid, {"reservation": rid, "was": "expired" if status == "ready" else status,
                                          "tags": [], "closed": False})
            if tag is not None:
                item["tags"].append(tag)
        for rid, item in items.items():
            if item["tags"]:
                conn.execute("UPDATE reservation_tags SET taken_out_at = ? WHERE reservation_id = ?"
                             " AND return_locker = ? AND taken_out_at IS NULL", (iso(now), rid, locker))
                waiting = conn.execute("SELECT 1 FROM reservation_tags WHERE reservation_id = ?"
                                       " AND (returned_at IS NULL OR taken_out_at IS NULL)", (rid,)).fetchone()
                item["closed"] = waiting is None
            else:
                item["closed"] = True
            if item["closed"]:
                conn.execute("UPDATE reservations SET status = 'closed', closed_at = ?, updated_at = ? WHERE id = ?",
                             (iso(now), iso(now), rid))
        actor, name = staff_actor(store, staff_badge)
        event_id = store.add_outbox("locker.emptied", {"locker": locker, "items": list(items.values()),
                                                       "emptied_at": iso(now), "staff": name}, now)
        store.add_audit(actor, "locker.emptied", {"locker": locker, "reservations": sorted(items)}, now)
    return event_id


def mark_suspect(store: Store, locker: int, now: float) -> str | None:
    """A door that stayed shut after a retry: no one is sent to this locker until staff have looked.

    Returns the outbox event id, or None if the locker was already suspect.
    """
    with store.transaction() as conn:
        if conn.execute("UPDATE lockers SET suspect = 1 WHERE number = ? AND suspect = 0", (locker,)).rowcount != 1:
            return None
        event_id = store.add_outbox("locker.suspect", {"locker": locker, "at": iso(now)}, now)
        store.add_audit("kiosk", "locker.suspect", {"locker": locker}, now)
    return event_id


def clear_suspect(store: Store, locker: int, staff_badge: str, now: float) -> str | None:
    """Staff checked the door; the locker is offered again. None if it was not suspect."""
    with store.transaction() as conn:
        if conn.execute("UPDATE lockers SET suspect = 0 WHERE number = ? AND suspect = 1", (locker,)).rowcount != 1:
            return None
        actor, name = staff_actor(store, staff_badge)
        event_id = store.add_outbox("locker.suspect_cleared", {"locker": locker, "at": iso(now), "staff": name}, now)
        store.add_audit(actor, "locker.suspect_cleared", {"locker": locker}, now)
    return event_id


def lockers_in_service(store: Store) -> int:
    return store.conn.execute("SELECT COUNT(*) FROM lockers WHERE out_of_service = 0").fetchone()[0]


def _usable_locker_size(store: Store, locker: int) -> str:
    row = store.conn.execute("SELECT size, out_of_service, suspect FROM lockers WHERE number = ?",
                             (locker,)).fetchone()
    if row is None:
        raise InventoryError("unknown_locker")
    if row[1] or row[2]:
        raise InventoryError("locker_unavailable")
    return row[0]


def staff_actor(store: Store, badge_id: str) -> tuple[str, str | None]:
    """(audit actor, name for the town hall) of the badge that did it, even if revoked since."""
    row = store.conn.execute("SELECT role, name FROM badges WHERE uid_digest = ?", (badge_id,)).fetchone()
    role, name = row if row else ("staff", None)
    return f"{role}:{badge_id[:16]}", name
