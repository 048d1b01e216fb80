"""Changes from the town hall, applied atomically: the same format the sync feed and
``kioskctl load`` use (see docs/changes.md).

A list of changes is validated and applied inside one transaction, each change seeing the ones
before it. If any change is wrong, every problem is reported with its index and nothing is applied.
PINs are turned into keyed hashes here and never appear in an error message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kioskd.catalogue import CatalogueError, get_product, product_from_mapping, save_product
from kioskd.clock import iso, parse_iso
from kioskd.secrets import keyed_hash
from kioskd.store import Store

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
RESERVATION_FIELDS = {"type", "id", "product", "status", "locker", "pin", "expires_at"}
CANCEL_FIELDS = {"type", "id"}
INCOMING_STATUSES = ("awaiting_stock", "ready")
FINAL_STATUSES = ("collected", "cancelled", "expired")


class ChangeError(Exception):
    """The whole batch was refused; ``problems`` lists ``change N: field: reason`` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Invalid(Exception):
    pass


@dataclass
class ApplyResult:
    counts: dict[str, int] = field(default_factory=dict)


def apply_changes(store: Store, changes: object, *, key: bytes, pin_length: int, now: float,
                  source: str = "file") -> ApplyResult:
    if not isinstance(changes, list):
        raise ChangeError(["changes: expected a JSON list of change objects"])
    problems: list[str] = []
    result = ApplyResult()
    with store.transaction():
        for index, change in enumerate(changes):
            try:
                kind = _apply_one(store, change, key=key, pin_length=pin_length, now=now)
            except _Invalid as exc:
                problems.append(f"change {index}: {exc}")
            else:
                result.counts[kind] = result.counts.get(kind, 0) + 1
        if problems:
            raise ChangeError(problems)
        store.add_audit(source, "changes.applied", {"counts": result.counts}, now)
    return result


def _apply_one(store: Store, change: object, *, key: bytes, pin_length: int, now: float) -> str:
    if not isinstance(change, dict):
        raise _Invalid("expected an object with a \"type\"")
    kind = change.get("type")
    if kind == "reservation":
        _apply_reservation(store, change, key=key, pin_length=pin_length, now=now)
    elif kind == "reservation.cancel":
        _apply_cancel(store, change, now=now)
    elif kind == "product":
        code = change.get("code")
        if not isinstance(code, str) or not ID_PATTERN.match(code):
            raise _Invalid("code: expected a product code")
        try:
            save_product(store, product_from_mapping(code, change))
        except CatalogueError as exc:
            raise _Invalid(str(exc)) from None
    else:
        raise _Invalid(f"type: unknown change type {kind!r} (expected reservation, reservation.cancel, product)")
    return str(kind)


def _check_fields(change: dict, allowed: set[str]) -> None:
    unknown = sorted(set(change) - allowed)
    if unknown:
        raise _Invalid(f"{unknown[0]}: unknown field")


def _reservation_id(change: dict) -> str:
    rid = change.get("id")
    if not isinstance(rid, str) or not ID_PATTERN.match(rid):
        raise _Invalid("id: expected 1-64 letters, digits, '.', '_' or '-'")
    return rid


def _apply_reservation(store: Store, change: dict, *, key: bytes, pin_length: int, now: float) -> None:
    _check_fields(change, RESERVATION_FIELDS)
    rid = _reservation_id(change)
    product_code = change.get("product")
    product = get_product(store, product_code) if isinstance(product_code, str) else None
    if product is None:
        raise _Invalid(f"product: unknown product {product_code!r}")
    status = change.get("status")
    if status not in INCOMING_STATUSES:
        raise _Invalid(f"status: expected one of {', '.join(INCOMING_STATUSES)}")
    locker = change.get("locker")
    if status == "ready":
        if not isinstance(locker, int) or isinstance(locker, bool):
            raise _Invalid("locker: a ready reservation needs the number of the locker it is in")
        row = store.conn.execute("SELECT size FROM lockers WHERE number = ?", (locker,)).fetchone()
        if row is None:
            raise _Invalid(f"locker: {locker} is not a locker of this kiosk")
        occupant = store.conn.execute(
            "SELECT id FROM reservations WHERE locker = ? AND status = 'ready' AND id != ?", (locker, rid)
        ).fetchone()
        if occupant:
            raise _Invalid(f"locker: locker {locker} already holds reservation {occupant[0]}")
    elif locker is not None:
        raise _Invalid("locker: only a ready reservation has a locker")
    pin = change.get("pin")
    if pin is not None and (not isinstance(pin, str) or not pin.isascii() or not pin.isdigit()
                            or len(pin) != pin_length):
        raise _Invalid(f"pin: expected a string of exactly {pin_length} digits")
    expires_text = change.get("expires_at")
    if expires_text is None:
        expires_at = now + product.pickup_days * 86400
    else:
        try:
            expires_at = parse_iso(expires_text) if isinstance(expires_text, str) else None
        except ValueError:
            expires_at = None
        if expires_at is None:
            raise _Invalid("expires_at: expected an ISO 8601 time with offset, e.g. 2026-12-05T00:00:00+00:00")
    existing = store.conn.execute("SELECT status FROM reservations WHERE id = ?", (rid,)).fetchone()
    if existing and existing[0] in FINAL_STATUSES:
        raise _Invalid(f"id: reservation {rid} is {existing[0]} and can no longer change")
    _refuse_while_released(store, rid)
    if existing:
        store.conn.execute(
            "UPDATE reservations SET product = ?, status = ?, locker = ?, expires_at = ?, updated_at = ?"
            " WHERE id = ?", (product.code, status, locker, iso(expires_at), iso(now), rid))
    else:
        store.conn.execute(
            "INSERT INTO reservations (id, product, status, locker, expires_at, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)", (rid, product.code, status, locker, iso(expires_at), iso(now), iso(now)))
    if pin is not None:
        digest = keyed_hash(key, "pin", pin)
        holder = store.conn.execute(
            "SELECT c.reservation_id, r.status FROM credentials c JOIN reservations r ON r.id = c.reservation_id"
            " WHERE c.kind = 'pin' AND c.digest = ?", (digest,)).fetchone()
        if holder and holder[0] != rid:
            if holder[1] not in FINAL_STATUSES:
                raise _Invalid("pin: this code is already in use by another reservation at this kiosk")
            # a finished reservation's code may be given out again; it then names the new one
            store.conn.execute("DELETE FROM credentials WHERE kind = 'pin' AND digest = ?", (digest,))
        store.conn.execute("DELETE FROM credentials WHERE reservation_id = ? AND kind = 'pin'", (rid,))
        store.conn.execute("INSERT INTO credentials (kind, digest, reservation_id) VALUES ('pin', ?, ?)",
                           (digest, rid))


def _apply_cancel(store: Store, change: dict, *, now: float) -> None:
    _check_fields(change, CANCEL_FIELDS)
    rid = _reservation_id(change)
    row = store.conn.execute("SELECT status FROM reservations WHERE id = ?", (rid,)).fetchone()
    if row is None:
        raise _Invalid(f"id: no reservation {rid} at this kiosk")
    if row[0] == "collected":
        raise _Invalid(f"id: reservation {rid} has already been collected")
    _refuse_while_released(store, rid)
    # the credentials stay (as keyed hashes) so the citizen is told "cancelled", not "unknown code"
    store.conn.execute("UPDATE reservations SET status = 'cancelled', updated_at = ? WHERE id = ?", (iso(now), rid))


def _refuse_while_released(store: Store, rid: str) -> None:
    """A reservation whose locker is open right now is settled by its door, not by the town hall."""
    busy = store.conn.execute("SELECT locker FROM releases WHERE reservation_id = ? AND state IN ('pending', 'opened')",
                              (rid,)).fetchone()
    if busy:
        raise _Invalid(f"id: reservation {rid} is being collected at locker {busy[0]} right now; send it again later")
