"""The journal: releases, door events, collections and alarms, each committed with its outbox event.

``commit_release`` is the rule "journal before relay": it returns only after the row saying
"locker N is being released for reservation R" (and the spent QR token) has committed; only then
may the caller energise the relay.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from kioskd import inventory
from kioskd.clock import iso, parse_iso
from kioskd.store import Store


class ReleaseRefusedError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class DoorRecord:
    release_id: int | None
    forced: bool


def commit_release(store: Store, *, reservation_id: str, locker: int, reason: str, method: str,
                   token_id: str | None, now: float) -> int:
    with store.transaction() as conn:
        row = conn.execute("SELECT status, locker, expires_at FROM reservations WHERE id = ?",
                           (reservation_id,)).fetchone()
        wanted = ("collected", "on_loan") if reason == "reopen" else ("ready",)
        if row is None or row[0] not in wanted or row[1] != locker:
            raise ReleaseRefusedError("not_ready" if row is None or row[0] not in ("collected", "on_loan")
                                      else "already_collected")
        # the flow checked the expiry when the code named it, but a strong proof may take minutes
        if reason == "pickup" and row[2] is not None and parse_iso(row[2]) <= now:
            raise ReleaseRefusedError("expired")
        out_of_service = conn.execute("SELECT out_of_service FROM lockers WHERE number = ?", (locker,)).fetchone()
        if out_of_service is None or out_of_service[0]:
            raise ReleaseRefusedError("locker_out_of_service")
        # a new release supersedes one of the same reservation whose door never opened
        conn.execute("UPDATE releases SET state = 'unopened', closed_at = ? WHERE reservation_id = ?"
                     " AND state = 'pending'", (iso(now), reservation_id))
        cursor = conn.execute(
            "INSERT INTO releases (reservation_id, locker, reason, method, state, created_at)"
            " VALUES (?, ?, ?, ?, 'pending', ?)", (reservation_id, locker, reason, method, iso(now)))
        release_id = int(cursor.lastrowid)
        if token_id is not None:
            try:
                conn.execute("INSERT INTO spent_tokens (token_id, reservation_id, release_id, spent_at)"
                             " VALUES (?, ?, ?, ?)", (token_id, reservation_id, release_id, iso(now)))
            except sqlite3.IntegrityError:
                raise ReleaseRefusedError("replayed") from None
        store.add_audit("citizen", "locker.release", {"locker": locker, "reservation": reservation_id,
                                                      "reason": reason, "release": release_id}, now)
    return release_id


def commit_return_release(store: Store, *, reservation_id: str, method: str, now: float,
                          tags: tuple[str, ...] = ()) -> tuple[int, int]:
    """Choose a free locker of a fitting size for a loan's items and journal its release, before any relay.

    Returns (release id, locker). Refused when the loan is not out, or no fitting locker is free.
    """
    with store.transaction() as conn:
        row = conn.execute("SELECT r.kind, r.status, p.locker_size FROM reservations r JOIN products p"
                           " ON p.code = r.product WHERE r.id = ?", (reservation_id,)).fetchone()
        if row is None or row[0] != "loan" or row[1] not in inventory.LOAN_OUT_STATUSES:
            raise ReleaseRefusedError("not_on_loan")
        return _staged_release(store, reservation_id, row[2], "return", method, "citizen", now, {"tags": list(tags)})


def _staged_release(store: Store, reservation_id: str, size: str, reason: str, method: str, actor: str,
                    now: float, detail: dict) -> tuple[int, int]:
    """Inside a transaction: pick a free locker of ``size`` and journal its release for ``reservation_id``."""
    conn = store.conn
    # a new release supersedes one of the same reservation whose door never opened (a retry)
    conn.execute("UPDATE releases SET state = 'unopened', closed_at = ? WHERE reservation_id = ?"
                 " AND state = 'pending'", (iso(now), reservation_id))
    locker = inventory.free_locker(store, size)
    if locker is None:
        raise ReleaseRefusedError("no_free_locker")
    cursor = conn.execute("INSERT INTO releases (reservation_id, locker, reason, method, state, created_at, detail)"
                          " VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                          (reservation_id, locker, reason, method, iso(now), json.dumps(detail, sort_keys=True)))
    release_id = int(cursor.lastrowid)
    store.add_audit(actor, "locker.release", {"locker": locker, "reservation": reservation_id, "reason": reason,
                                              "release": release_id}, now)
    return release_id, locker


def commit_load_release(store: Store, *, reservation_id: str, staff_badge: str, now: float) -> tuple[int, int]:
    """Staff loading: a free locker of the product's size for a reservation awaiting stock, journaled first."""
    with store.transaction() as conn:
        row = conn.execute("SELECT r.status, p.locker_size FROM reservations r JOIN products p"
                           " ON p.code = r.product WHERE r.id = ?", (reservation_id,)).fetchone()
        if row is None or row[0] != "awaiting_stock":
            raise ReleaseRefusedError("not_awaiting_stock")
        return _staged_release(store, reservation_id, row[1], "load", "badge", f"staff:{staff_badge[:12]}", now,
                               {"staff": staff_badge})


def commit_take_out_release(store: Store, *, locker: int, staff_badge: str, now: float) -> int:
    """Staff emptying ``locker`` (returned items, an expired pickup): journaled before the relay."""
    with store.transaction() as conn:
        occupant = conn.execute(f"SELECT reservation_id FROM ({inventory.OCCUPANTS}) WHERE locker = ?"
                                " ORDER BY reservation_id LIMIT 1", (locker,)).fetchone()
        if occupant is None:
            raise ReleaseRefusedError("nothing_to_take_out")
        conn.execute("UPDATE releases SET state = 'unopened', closed_at = ? WHERE locker = ? AND reason = 'take_out'"
                     " AND state = 'pending'", (iso(now), locker))
        cursor = conn.execute("INSERT INTO releases (reservation_id, locker, reason, method, state, created_at, detail)"
                              " VALUES (?, ?, 'take_out', 'badge', 'pending', ?, ?)",
                              (occupant[0], locker, iso(now), json.dumps({"staff": staff_badge})))
        release_id = int(cursor.lastrowid)
        store.add_audit(f"staff:{staff_badge[:12]}", "locker.release", {"locker": locker, "reason": "take_out",
                                                                      "release": release_id}, now)
    return release_id


def commit_service_release(store: Store, *, locker: int, technician: str, test: bool, now: float) -> int:
    """A technician opens ``locker`` from service mode: journaled, audited and reported before the relay.

    Out-of-service and suspect lockers open too (that is how they are repaired); only an unknown locker is
    refused. Whatever the locker holds is named in the audit row and the event.
    """
    with store.transaction() as conn:
        if conn.execute("SELECT 1 FROM lockers WHERE number = ?", (locker,)).fetchone() is None:
            raise ReleaseRefusedError("unknown_locker")
        holding = sorted({rid for rid, _ in inventory.occupants(store, locker)})
        conn.execute("UPDATE releases SET state = 'unopened', closed_at = ? WHERE locker = ? AND reason = 'service'"
                     " AND state = 'pending'", (iso(now), locker))
        detail = {"technician": technician, "test": test, "holding": holding}
        cursor = conn.execute("INSERT INTO releases (reservation_id, locker, reason, method, state, created_at, detail)"
                              " VALUES (NULL, ?, 'service', 'badge', 'pending', ?, ?)",
                              (locker, iso(now), json.dumps(detail, sort_keys=True)))
        release_id = int(cursor.lastrowid)
        actor, name = inventory.staff_actor(store, technician)
        store.add_outbox("locker.service_release", {"locker": locker, "release": release_id, "test": test,
                                                    "holding": holding, "technician": name, "at": iso(now)}, now)
        store.add_audit(actor, "locker.release", {"locker": locker, "reason": "service", "test": test,
                                                  "holding": holding, "release": release_id}, now)
    return release_id


def record_door_event(store: Store, locker: int, opened: bool, now: float, *,
                      release_window: float = 300.0) -> DoorRecord:
    """Journal a door sensor change; an opening nobody released is an alarm (forced door).

    Only a release from the last ``release_window`` seconds explains an opening: a stale pending
    row must never excuse a door forced much later.
    """
    with store.transaction() as conn:
        if opened:
            row = conn.execute("SELECT id FROM releases WHERE locker = ? AND state = 'pending' AND created_at >= ?"
                               " ORDER BY id DESC LIMIT 1", (locker, iso(now - release_window))).fetchone()
        else:
            row = conn.execute("SELECT id FROM releases WHERE locker = ? AND state = 'opened'"
                               " ORDER BY id DESC LIMIT 1", (locker,)).fetchone()
        release_id = row[0] if row else None
        if release_id is not None:
            column = "opened_at" if opened else "closed_at"
            conn.execute(f"UPDATE releases SET state = ?, {column} = ? WHERE id = ?",
                         ("opened" if opened else "closed", iso(now), release_id))
        conn.execute("INSERT INTO door_events (locker, kind, at, release_id) VALUES (?, ?, ?, ?)",
                     (locker, "opened" if opened else "closed", iso(now), release_id))
        forced = opened and release_id is None
        if forced:
            payload = {"locker": locker, "at": iso(now)}
            store.add_outbox("alarm.door_forced", payload, now)
            store.add_audit("kiosk", "alarm.door_forced", {"locker": locker}, now)
            _alarm_state(store, "door_forced", locker, None, payload, now, cleared=False)
        elif not opened:  # a closed door ends the alarms about it being open
            for kind in ("door_forced", "door_left_open"):
                _alarm_state(store, kind, locker, None, {}, now, cleared=True)
    return DoorRecord(release_id, forced)


def record_collected(store: Store, *, reservation_id: str, release_id: int, door_left_open: bool,
                     now: float) -> str | None:
    """Mark collected with its outbox event in one transaction; a second call changes nothing."""
    with store.transaction():
        return _collect(store, reservation_id, release_id, door_left_open, now, recovered=False)


def _collect(store: Store, reservation_id: str, release_id: int, door_left_open: bool, now: float, *,
             recovered: bool) -> str | None:
    conn = store.conn
    release = conn.execute("SELECT locker, method FROM releases WHERE id = ?", (release_id,)).fetchone()
    # a loan collected is on loan until its items come back; a pickup is simply collected
    cursor = conn.execute(
        "UPDATE reservations SET status = CASE kind WHEN 'loan' THEN 'on_loan' ELSE 'collected' END,"
        " collected_at = ?, updated_at = ? WHERE id = ? AND status = 'ready'", (iso(now), iso(now), reservation_id))
    if cursor.rowcount != 1 or release is None:
        return None
    payload = {"reservation": reservation_id, "locker": release[0], "method": release[1],
               "release": release_id, "collected_at": iso(now), "door_left_open": door_left_open,
               "recovered": recovered}
    event_id = store.add_outbox("pickup.collected", payload, now)
    store.add_audit("citizen", "pickup.collected", {"reservation": reservation_id, "release": release_id}, now)
    return event_id


def _settle_work(store: Store, reservation_id: str, locker: int, reason: str, detail: dict, now: float) -> bool:
    """Record a return, load or emptying the crash interrupted; False when it was recorded already."""
    try:
        if reason == "return":
            tags = detail.get("tags") or []
            if not tags:
                return False
            inventory.record_return(store, reservation_id, tags, locker, now)
        elif reason == "load":
            inventory.record_loaded(store, reservation_id, locker, detail.get("staff", ""), now)
        elif any(rid == reservation_id for rid, _ in inventory.occupants(store, locker)):
            inventory.record_taken_out(store, locker, detail.get("staff", ""), now)
        else:
            return False
    except inventory.InventoryError:
        return False  # already recorded, or no longer applicable: nothing to do
    return True


def record_release_outcome(store: Store, release_id: int, outcome: str, now: float) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE releases SET state = ?, closed_at = ? WHERE id = ? AND state IN ('pending', 'opened')",
                     (outcome, iso(now), release_id))


def raise_alarm(store: Store, kind: str, locker: int | None, reservation_id: str | None, now: float, *,
                detail: dict | None = None, cleared: bool = False) -> str:
    """An alarm (or its clearing, ``alarm.<kind>.cleared``) as an outbox event with its audit row."""
    name = f"alarm.{kind}.cleared" if cleared else f"alarm.{kind}"
    payload = {"locker": locker, "reservation": reservation_id, "at": iso(now), **(detail or {})}
    with store.transaction():
        event_id = store.add_outbox(name, payload, now)
        store.add_audit("kiosk", name, {k: v for k, v in payload.items() if k != "at"}, now)
        _alarm_state(store, kind, locker, (detail or {}).get("device"), payload, now, cleared=cleared)
    return event_id


def _alarm_state(store: Store, kind: str, locker: int | None, device: str | None, payload: dict, now: float, *,
                 cleared: bool) -> None:
    """Keep the ``alarms`` table in step: one active row per (kind, locker, device) until it is cleared."""
    match = "kind = ? AND locker IS ? AND device IS ? AND cleared_at IS NULL"
    if cleared:
        store.conn.execute(f"UPDATE alarms SET cleared_at = ? WHERE {match}", (iso(now), kind, locker, device))
    elif store.conn.execute(f"SELECT 1 FROM alarms WHERE {match}", (kind, locker, device)).fetchone() is None:
        store.conn.execute("INSERT INTO alarms (kind, locker, device, detail, raised_at) VALUES (?, ?, ?, ?, ?)",
                           (kind, locker, device, json.dumps(payload, sort_keys=True), iso(now)))


# the alarms a technician's "Put back in service" clears: they asked for the locker to be checked
LOCKER_CHECK_ALARMS = ("door_not_opened", "relay_fault", "record_failed", "work_interrupted")


def set_locker_service(store: Store, locker: int, in_service: bool, technician: str, now: float) -> bool:
    """A technician takes ``locker`` out of service, or puts it back: that also clears its "suspect" mark
    and the alarms that asked for it to be checked. One transaction with its events and audit rows; False
    when nothing changed."""
    with store.transaction() as conn:
        row = conn.execute("SELECT out_of_service, suspect FROM lockers WHERE number = ?", (locker,)).fetchone()
        if row is None:
            raise inventory.InventoryError("unknown_locker")
        out_of_service, suspect = row
        actor, name = inventory.staff_actor(store, technician)
        changes = []
        if not in_service and not out_of_service:
            changes.append("locker.out_of_service")
        if in_service and out_of_service:
            changes.append("locker.in_service")
        if in_service and suspect:
            changes.append("locker.suspect_cleared")
        cleared = []
        if in_service:
            cleared = [kind for kind, in conn.execute(
                f"SELECT kind FROM alarms WHERE locker = ? AND cleared_at IS NULL AND kind IN"
                f" ({','.join('?' * len(LOCKER_CHECK_ALARMS))}) ORDER BY id", (locker, *LOCKER_CHECK_ALARMS))]
        if not changes and not cleared:
            return False
        conn.execute("UPDATE lockers SET out_of_service = ?, suspect = ? WHERE number = ?",
                     (0 if in_service else 1, 0 if in_service else suspect, locker))
        for event in changes:
            store.add_outbox(event, {"locker": locker, "at": iso(now), "technician": name}, now)
            store.add_audit(actor, event, {"locker": locker}, now)
        for kind in cleared:
            payload = {"locker": locker, "reservation": None, "at": iso(now), "technician": name}
            store.add_outbox(f"alarm.{kind}.cleared", payload, now)
            store.add_audit(actor, f"alarm.{kind}.cleared", {"locker": locker}, now)
            _alarm_state(store, kind, locker, None, payload, now, cleared=True)
    return True


def alarm_active(store: Store, kind: str, locker: int | None) -> bool:
    return store.conn.execute("SELECT 1 FROM alarms WHERE kind = ? AND locker IS ? AND cleared_at IS NULL",
                              (kind, locker)).fetchone() is not None


def active_alarms(store: Store) -> list[dict]:
    rows = store.conn.execute("SELECT kind, locker, device, raised_at FROM alarms WHERE cleared_at IS NULL"
                              " ORDER BY id").fetchall()
    return [{"kind": k, "locker": lk, "device": d, "raised_at": at} for k, lk, d, at in rows]


def reconcile_doors(store: Store, door_is_open, lockers, now: float) -> list[str]:
    """At start, after recovery: journal what the door sensors say where it differs from the journal's
    last word (a door closed, or forced open, while the kiosk was down), so the free-locker query and the
    alarms follow the doors as they are."""
    notes = []
    for locker in lockers:
        row = store.conn.execute("SELECT kind FROM door_events WHERE locker = ? ORDER BY id DESC LIMIT 1",
                                 (locker,)).fetchone()
        journaled_open = row is not None and row[0] == "opened"
        try:
            sensor_open = bool(door_is_open(locker))
        except (KeyError, OSError):
            continue
        if sensor_open != journaled_open:
            record = record_door_event(store, locker, sensor_open, now)
            notes.append(f"locker {locker}: door {'open' if sensor_open else 'closed'} at start"
                         + (" (no release: forced)" if record.forced else ""))
    return notes


def recover_after_restart(store: Store, now: float) -> list[str]:
    """Settle releases a crash interrupted. Nothing is re-pulsed: fail secure.

    A release whose door never opened leaves its reservation ready (the citizen can try again).
    A release whose door had opened counts as collected: the identified person had the door open.
    """
    notes = []
    # a return, load or emptying whose door had closed (the work was done), killed before its record;
    # each is recorded in its own transaction, as it would have been
    # only a locker's latest release: once anything else happened at that door, the moment has passed
    work = store.conn.execute(
        "SELECT id, reservation_id, locker, reason, detail FROM releases r WHERE state = 'closed'"
        " AND reason IN ('return', 'load', 'take_out') AND detail IS NOT NULL AND closed_at >= ?"
        " AND NOT EXISTS (SELECT 1 FROM releases later WHERE later.locker = r.locker AND later.id > r.id)"
        " ORDER BY id", (iso(now - 86400),)).fetchall()
    for release_id, reservation_id, locker, reason, detail in work:
        if _settle_work(store, reservation_id, locker, reason, json.loads(detail), now):
            notes.append(f"release {release_id}: door had closed; {reason} in locker {locker} recorded")
    with store.transaction() as conn:
        rows = conn.execute("SELECT id, reservation_id, locker, reason, state FROM releases"
                            " WHERE state IN ('pending', 'opened') ORDER BY id").fetchall()
        # a pickup whose door opened and closed again, killed before the collection committed
        closed = conn.execute("SELECT l.id, l.reservation_id FROM reservations r JOIN releases l"
                              " ON l.reservation_id = r.id AND l.state = 'closed' AND l.reason IN ('pickup', 'retry')"
                              " WHERE r.status = 'ready' ORDER BY l.id").fetchall()
        for release_id, reservation_id in closed:
            _collect(store, reservation_id, release_id, False, now, recovered=True)
            notes.append(f"release {release_id}: door had closed; collection of {reservation_id} recorded")
        for release_id, reservation_id, locker, reason, state in rows:
            conn.execute("UPDATE releases SET state = 'interrupted', closed_at = ? WHERE id = ?",
                         (iso(now), release_id))
            store.add_outbox("release.interrupted", {"release": release_id, "reservation": reservation_id,
                                                     "locker": locker, "door_opened": state == "opened"}, now)
            if state == "opened" and reason in ("pickup", "retry"):
                _collect(store, reservation_id, release_id, False, now, recovered=True)
            if state == "opened" and reason in ("return", "load", "take_out"):
                # the door stood open when the kiosk died: whether the items went in (or out) is unknown,
                # so nobody is sent to this locker until staff have checked it
                payload = {"locker": locker, "reservation": reservation_id, "at": iso(now), "work": reason,
                           "release": release_id}
                store.add_outbox("alarm.work_interrupted", payload, now)
                store.add_audit("kiosk", "alarm.work_interrupted", {"locker": locker, "work": reason}, now)
                _alarm_state(store, "work_interrupted", locker, None, payload, now, cleared=False)
                if conn.execute("UPDATE lockers SET suspect = 1 WHERE number = ? AND suspect = 0",
                                (locker,)).rowcount:
                    store.add_outbox("locker.suspect", {"locker": locker, "at": iso(now)}, now)
            notes.append(f"release {release_id} (locker {locker}) interrupted while {state}")
    return notes
