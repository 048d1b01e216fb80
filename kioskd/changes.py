"""Changes from the town hall, applied atomically: the same format the sync feed and
``kioskctl load`` use (see docs/changes.md).

A list of changes is validated and applied inside one transaction, each change seeing the ones
before it. If any change is wrong, every problem is reported with its index and nothing is applied.
PINs and badge uids are turned into keyed hashes here and never appear in an error message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kioskd.catalogue import CatalogueError, Product, get_product, product_from_mapping, save_product
from kioskd.clock import iso, parse_iso
from kioskd.eid import national_number_digest, national_number_valid
from kioskd.identify import badge_digest, badge_pin_digest
from kioskd.inventory import LOAN_OUT_STATUSES, normalise_tag, occupants
from kioskd.secrets import keyed_hash
from kioskd.store import Store

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
RESERVATION_FIELDS = {"type", "id", "product", "status", "locker", "pin", "expires_at", "tags", "national_number",
                      "authorised"}
CANCEL_FIELDS = {"type", "id"}
BADGE_FIELDS = {"type", "uid", "role", "pin", "name"}
BADGE_REVOKE_FIELDS = {"type", "uid"}
CHANGE_TYPES = ("reservation", "reservation.cancel", "product", "badge", "badge.revoke")
INCOMING_STATUSES = ("awaiting_stock", "ready")
# the town hall can no longer change these: the kiosk (citizen, door, staff) has taken over
FINAL_STATUSES = ("collected", "on_loan", "partially_returned", "returned", "closed", "cancelled", "expired")
# a tag is lent while its loan is not cancelled, closed or back, and the tag itself is not back
OPEN_LOAN_STATUSES = ("awaiting_stock", "ready", *LOAN_OUT_STATUSES)
# a finished reservation's PIN may be given out again; a loan's PIN still serves to return it
PIN_FREE_SQL = ("(r.status IN ('cancelled', 'expired', 'returned', 'closed')"
                " OR (r.status = 'collected' AND r.kind = 'pickup'))")
ROLES = ("staff", "technician")
MAX_TAGS = 100
MAX_AUTHORISED = 10  # people a holder may authorise to collect a personal document on their behalf
BADGE_PIN_DIGITS = (4, 12)
NAME_LENGTH = 80


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


CURSOR_KEY = "sync.cursor"  # meta row: where the town hall's change feed was read up to


def apply_changes(store: Store, changes: object, *, key: bytes, pin_length: int, now: float,
                  source: str = "file", cursor: str | None = None) -> ApplyResult:
    """``cursor``: the change feed's position after these changes, stored in the same transaction (sync)."""
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
        if changes or cursor is None:  # an empty page of the feed only moves the cursor
            store.add_audit(source, "changes.applied", {"counts": result.counts}, now)
        if cursor is not None:
            store_cursor(store, cursor)
    return result


def store_cursor(store: Store, cursor: str) -> None:
    """Inside the caller's transaction, with what the cursor moved past."""
    store._require_transaction()
    store.conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)"
                       " ON CONFLICT(key) DO UPDATE SET value = excluded.value", (CURSOR_KEY, cursor))


def _apply_one(store: Store, change: object, *, key: bytes, pin_length: int, now: float) -> str:
    if not isinstance(change, dict):
        raise _Invalid("expected an object with a \"type\"")
    kind = change.get("type")
    if kind == "reservation":
        _apply_reservation(store, change, key=key, pin_length=pin_length, now=now)
    elif kind == "reservation.cancel":
        _apply_cancel(store, change, now=now)
    elif kind == "badge":
        _apply_badge(store, change, key=key, now=now)
    elif kind == "badge.revoke":
        _apply_badge_revoke(store, change, key=key, now=now)
    elif kind == "product":
        code = change.get("code")
        if not isinstance(code, str) or not ID_PATTERN.match(code):
            raise _Invalid("code: expected a product code")
        try:
            save_product(store, product_from_mapping(code, change))
        except CatalogueError as exc:
            raise _Invalid(str(exc)) from None
    else:
        raise _Invalid(f"type: unknown change type {kind!r} (expected {', '.join(CHANGE_TYPES)})")
    return str(kind)


def _check_fields(change: dict, allowed: set[str]) -> None:
    unknown = sorted(set(change) - allowed)
    if unknown:
        raise _Invalid(f"{unknown[0]}: unknown field")


MAX_LOCKER = 9999  # locker numbers are small; anything larger is garbage, refused before it reaches SQLite


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
    existing = store.conn.execute("SELECT status, locker FROM reservations WHERE id = ?", (rid,)).fetchone()
    if status == "awaiting_stock" and existing and existing[0] == "ready":
        # staff loaded it here before the town hall heard of it: the kiosk's word on where it is stands; the
        # update may still change its expiry (an extension) or its code
        status, locker = "ready", existing[1]
        change = {**change, "status": "ready", "locker": locker}
    if status == "ready":
        if not isinstance(locker, int) or isinstance(locker, bool) or not 1 <= locker <= MAX_LOCKER:
            raise _Invalid("locker: a ready reservation needs the number of the locker it is in")
        row = store.conn.execute("SELECT size FROM lockers WHERE number = ?", (locker,)).fetchone()
        if row is None:
            raise _Invalid(f"locker: {locker} is not a locker of this kiosk")
        for occupant, held in occupants(store, locker):
            if occupant == rid:
                continue
            if held == "ready":
                raise _Invalid(f"locker: locker {locker} already holds reservation {occupant}")
            what = "returned items of loan" if held == "returned" else f"{held} reservation"
            raise _Invalid(f"locker: locker {locker} still holds {what} {occupant} until staff take it out")
    elif locker is not None:
        raise _Invalid("locker: only a ready reservation has a locker")
    tags = _loan_tags(store, change, rid, product, key=key)
    people = _people(store, change, rid, product, key=key)
    pin = change.get("pin")
    if pin is not None and (not isinstance(pin, str) or not pin.isascii() or not pin.isdigit()
                            or len(pin) != pin_length):
        raise _Invalid(f"pin: expected a string of exactly {pin_length} digits")
    expires_text = change.get("expires_at")
    if expires_text is None:
        # an item still to be loaded gets its pickup time when staff load it (kioskd.inventory.record_loaded)
        expires_at = None if status == "awaiting_stock" else now + product.pickup_days * 86400
    else:
        try:
            expires_at = parse_iso(expires_text) if isinstance(expires_text, str) else None
            if expires_at is not None:
                iso(expires_at)  # a time so far out (or back) it cannot be written is refused here
        except (ValueError, OverflowError, OSError):
            expires_at = None
        if expires_at is None:
            raise _Invalid("expires_at: expected an ISO 8601 time with offset, e.g. 2026-12-05T00:00:00+00:00")
    existing = store.conn.execute("SELECT status, kind FROM reservations WHERE id = ?", (rid,)).fetchone()
    if existing and existing[0] in FINAL_STATUSES:
        raise _Invalid(f"id: reservation {rid} is {existing[0]} and can no longer change")
    if existing and existing[1] == "loan" and tags is None and not (product.returnable and product.rfid_tagged):
        raise _Invalid(f"product: {product.code} is not lent with RFID tags; reservation {rid} is a loan")
    _refuse_while_released(store, rid)
    expires = iso(expires_at) if expires_at is not None else None
    if existing:
        store.conn.execute(
            "UPDATE reservations SET product = ?, status = ?, locker = ?, expires_at = ?, updated_at = ?"
            " WHERE id = ?", (product.code, status, locker, expires, iso(now), rid))
    else:
        store.conn.execute(
            "INSERT INTO reservations (id, product, status, locker, expires_at, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)", (rid, product.code, status, locker, expires, iso(now), iso(now)))
    if tags is not None:
        store.conn.execute("UPDATE reservations SET kind = 'loan' WHERE id = ?", (rid,))
        store.conn.execute("DELETE FROM reservation_tags WHERE reservation_id = ?", (rid,))
        store.conn.executemany("INSERT INTO reservation_tags (reservation_id, tag) VALUES (?, ?)",
                               [(rid, tag) for tag in tags])
    if people is not None:
        holder, authorised = people
        if holder is not None:
            store.conn.execute("DELETE FROM reservation_people WHERE reservation_id = ? AND role = 'holder'", (rid,))
        if authorised is not None:
            store.conn.execute("DELETE FROM reservation_people WHERE reservation_id = ? AND role = 'authorised'",
                               (rid,))
        rows = [(rid, holder, "holder")] if holder is not None else []
        rows += [(rid, digest, "authorised") for digest in authorised or () if digest != holder]
        store.conn.executemany("INSERT OR IGNORE INTO reservation_people (reservation_id, digest, role)"
                               " VALUES (?, ?, ?)", rows)
    if pin is not None:
        digest = keyed_hash(key, "pin", pin)
        holder = store.conn.execute(
            f"SELECT c.reservation_id, {PIN_FREE_SQL} FROM credentials c JOIN reservations r"
            " ON r.id = c.reservation_id WHERE c.kind = 'pin' AND c.digest = ?", (digest,)).fetchone()
        if holder and holder[0] != rid:
            if not holder[1]:
                raise _Invalid("pin: this code is already in use by another reservation at this kiosk")
            # a finished reservation's code may be given out again; it then names the new one
            store.conn.execute("DELETE FROM credentials WHERE kind = 'pin' AND digest = ?", (digest,))
        store.conn.execute("DELETE FROM credentials WHERE reservation_id = ? AND kind = 'pin'", (rid,))
        store.conn.execute("INSERT INTO credentials (kind, digest, reservation_id) VALUES ('pin', ?, ?)",
                           (digest, rid))


def _people(store: Store, change: dict, rid: str, product: Product, *,
            key: bytes) -> tuple[str | None, list[str] | None] | None:
    """The holder's and the authorised people's keyed hashes, checked; None when the change names nobody.

    Only a ``strong`` product's reservation names people (no personal data is taken that is not needed),
    and a new one must name its holder: without it nobody could ever collect it. An update that leaves
    both fields out keeps the people already known (the town hall erases the numbers once delivered); one
    that names the holder names the complete ``authorised`` list with it (left out: nobody).
    A number is never echoed in an error: the problem says which field, not whose number.
    """
    number, authorised = change.get("national_number"), change.get("authorised")
    if number is None and authorised is None:
        if product.identification == "strong" and not store.conn.execute(
                "SELECT 1 FROM reservation_people WHERE reservation_id = ? AND role = 'holder'", (rid,)).fetchone():
            raise _Invalid(f"national_number: a reservation for {product.code} (strong identification) must name"
                           " its holder's national register number")
        return None
    if product.identification != "strong":
        field_name = "national_number" if number is not None else "authorised"
        raise _Invalid(f"{field_name}: only a reservation for a product with strong identification names people;"
                       f" {product.code} is collected with its code")
    holder = None
    if number is not None:
        if not isinstance(number, str) or not national_number_valid(number):
            raise _Invalid("national_number: expected 11 digits with a valid check number")
        holder = national_number_digest(key, number)
    elif not store.conn.execute("SELECT 1 FROM reservation_people WHERE reservation_id = ? AND role = 'holder'",
                                (rid,)).fetchone():
        raise _Invalid("national_number: required with authorised people when the holder is not yet known")
    digests = None
    if number is not None and authorised is None:
        authorised = []  # a new holder comes with the complete list of people they authorise (none here)
    if authorised is not None:
        if not isinstance(authorised, list) or len(authorised) > MAX_AUTHORISED:
            raise _Invalid(f"authorised: expected a list of at most {MAX_AUTHORISED} national register numbers")
        for i, other in enumerate(authorised):
            if not isinstance(other, str) or not national_number_valid(other):
                raise _Invalid(f"authorised[{i}]: expected 11 digits with a valid check number")
        digests = list(dict.fromkeys(national_number_digest(key, other) for other in authorised))
    return holder, digests


def _apply_cancel(store: Store, change: dict, *, now: float) -> None:
    _check_fields(change, CANCEL_FIELDS)
    rid = _reservation_id(change)
    row = store.conn.execute("SELECT status FROM reservations WHERE id = ?", (rid,)).fetchone()
    if row is None:
        raise _Invalid(f"id: no reservation {rid} at this kiosk")
    if row[0] == "collected":
        raise _Invalid(f"id: reservation {rid} has already been collected")
    if row[0] in ("on_loan", "partially_returned", "returned", "closed"):
        raise _Invalid(f"id: reservation {rid} is {row[0]} and can no longer be cancelled")
    _refuse_while_released(store, rid)
    # the credentials stay (as keyed hashes) so the citizen is told "cancelled", not "unknown code"
    store.conn.execute("UPDATE reservations SET status = 'cancelled', updated_at = ? WHERE id = ?", (iso(now), rid))


def _refuse_while_released(store: Store, rid: str) -> None:
    """A reservation whose locker is open right now is settled by its door, not by the town hall."""
    busy = store.conn.execute("SELECT locker FROM releases WHERE reservation_id = ? AND state IN ('pending', 'opened')",
                              (rid,)).fetchone()
    if busy:
        raise _Invalid(f"id: reservation {rid} is being collected at locker {busy[0]} right now; send it again later")


def _loan_tags(store: Store, change: dict, rid: str, product: Product, *, key: bytes) -> list[str] | None:
    """The normalised item tags a ``tags`` field lends, or None without one (the loan keeps its tags)."""
    raw = change.get("tags")
    if raw is None:
        return None
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_TAGS:
        raise _Invalid(f"tags: expected a list of 1-{MAX_TAGS} RFID tag ids")
    if not (product.returnable and product.rfid_tagged):
        raise _Invalid(f"tags: product {product.code} is not lent with RFID tags (catalogue: returnable and"
                       " rfid_tagged); only such products are loans")
    tags: list[str] = []
    for index, item in enumerate(raw):
        tag = normalise_tag(item)
        if tag is None:
            raise _Invalid(f"tags: item {index}: expected 4-20 hexadecimal digits")
        if tag in tags:
            raise _Invalid(f"tags: tag {tag} appears twice")
        if store.conn.execute("SELECT 1 FROM badges WHERE uid_digest = ? AND active = 1",
                              (badge_digest(key, tag),)).fetchone():
            raise _Invalid(f"tags: item {index} is an enrolled staff badge, not an item tag")
        lent = _open_loan_of(store, tag)
        if lent is not None and lent != rid:
            raise _Invalid(f"tags: tag {tag} belongs to open loan {lent}")
        tags.append(tag)
    return tags


def _open_loan_of(store: Store, tag: str) -> str | None:
    """The loan that has lent ``tag`` and not had it back, if any."""
    row = store.conn.execute(
        "SELECT t.reservation_id FROM reservation_tags t JOIN reservations r ON r.id = t.reservation_id"
        f" WHERE t.tag = ? AND t.returned_at IS NULL AND r.status IN ({', '.join('?' * len(OPEN_LOAN_STATUSES))})",
        (tag, *OPEN_LOAN_STATUSES)).fetchone()
    return row[0] if row else None


# ---- staff badges -------------------------------------------------------------------------------


def _badge_uid(change: dict) -> str:
    uid = normalise_tag(change.get("uid"))
    if uid is None:
        raise _Invalid("uid: expected the badge's RFID id, 4-20 hexadecimal digits")
    return uid


def _apply_badge(store: Store, change: dict, *, key: bytes, now: float) -> None:
    """Enrol a badge or replace its role, name or PIN; a revoked badge sent again is active again."""
    _check_fields(change, BADGE_FIELDS)
    uid = _badge_uid(change)
    role = change.get("role")
    if role not in ROLES:
        raise _Invalid(f"role: expected one of {', '.join(ROLES)}")
    name = change.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_LENGTH or not name.isprintable():
        raise _Invalid(f"name: expected a name of 1-{NAME_LENGTH} printable characters")
    digest = badge_digest(key, uid)
    existing = store.conn.execute("SELECT 1 FROM badges WHERE uid_digest = ?", (digest,)).fetchone()
    pin = change.get("pin")
    low, high = BADGE_PIN_DIGITS
    if pin is None and not existing:
        raise _Invalid("pin: a new badge needs a PIN")
    if pin is not None:
        if not isinstance(pin, str) or not pin.isascii() or not pin.isdigit() or not low <= len(pin) <= high:
            raise _Invalid(f"pin: expected a string of {low}-{high} digits")
        if weak_pin(pin):
            raise _Invalid("pin: too easy to guess (one digit repeated, or a run such as 1234 or 9876);"
                           " choose another")
    lent = _open_loan_of(store, uid)
    if lent is not None:
        raise _Invalid(f"uid: this tag is an item of open loan {lent}; a badge needs a tag of its own")
    pin_digest = badge_pin_digest(key, uid, pin) if pin is not None else None
    if existing:  # without a PIN the badge keeps its own
        store.conn.execute("UPDATE badges SET role = ?, name = ?, pin_digest = COALESCE(?, pin_digest), active = 1,"
                           " updated_at = ? WHERE uid_digest = ?", (role, name.strip(), pin_digest, iso(now), digest))
    else:
        store.conn.execute("INSERT INTO badges (uid_digest, role, pin_digest, name, created_at, updated_at)"
                           " VALUES (?, ?, ?, ?, ?, ?)", (digest, role, pin_digest, name.strip(), iso(now), iso(now)))


def _apply_badge_revoke(store: Store, change: dict, *, key: bytes, now: float) -> None:
    """The badge stops opening anything at once; its row stays (inactive) so the audit trail keeps a name."""
    _check_fields(change, BADGE_REVOKE_FIELDS)
    digest = badge_digest(key, _badge_uid(change))
    cursor = store.conn.execute("UPDATE badges SET active = 0, updated_at = ? WHERE uid_digest = ?", (iso(now), digest))
    if cursor.rowcount != 1:
        raise _Invalid("uid: no badge with this uid is enrolled at this kiosk")


def weak_pin(pin: str) -> bool:
    """One digit repeated (0000) or a run up or down, wrapping (1234, 7890, 9876)."""
    steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:], strict=False)}
    return steps in ({0}, {1}, {9})
