"""The kiosk's side of the town hall's snapshot (docs/sync.md "Snapshot and nightly reconciliation").

The snapshot is everything the town hall believes this kiosk should hold: the catalogue, the active staff
badges (with a PIN only while the kiosk has not confirmed it) and every reservation the town hall still
controls, with its PIN. A kiosk without a cursor starts from it; every night it is compared with the kiosk's
own state. The kiosk's state wins where it has moved on (a reservation loaded, collected, lent, returned or
closed here: its events tell the town hall), so a snapshot only adds what is missing and updates what the
town hall still controls. Nothing is deleted.

Everything happens in one transaction: the changes that apply (through ``apply_changes``, the same checks
as the feed and ``kioskctl load``), the ``sync.reconciled`` report for the town hall, and — for a kiosk
starting from the snapshot — the feed cursor. A change the kiosk refuses is left out and reported, so one
bad entry cannot keep a new kiosk from starting; the report carries ids, never a PIN or a badge uid.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from kioskd.catalogue import CatalogueError, get_product, product_from_mapping
from kioskd.changes import FINAL_STATUSES, INCOMING_STATUSES, ChangeError, apply_changes, store_cursor
from kioskd.clock import iso, parse_iso
from kioskd.identify import badge_digest, badge_pin_digest
from kioskd.inventory import normalise_tag
from kioskd.secrets import keyed_hash
from kioskd.store import Store

SNAPSHOT_TYPES = ("product", "badge", "reservation")
RECONCILED_KEY = "sync.reconciled_at"  # meta row: when the kiosk last reconciled with a snapshot
MAX_LISTED = 200  # ids per list in the report; its counts give the full numbers


def change_summary(change: object) -> dict:
    """What a change was, without anything secret (no PIN, no badge uid)."""
    if not isinstance(change, dict):
        return {"type": None}
    summary = {"type": change.get("type") if isinstance(change.get("type"), str) else None}
    for name in ("id", "code"):
        if isinstance(change.get(name), str):
            summary[name] = change[name][:64]
    return summary


@dataclass
class Reconciliation:
    """What a snapshot did and did not change; ``payload`` is the ``sync.reconciled`` event."""

    cursor: str
    kiosk_cursor: str | None
    first: bool
    added: list[str] = field(default_factory=list)  # reservations the kiosk did not have
    updated: list[str] = field(default_factory=list)  # reservations the town hall changed (PIN, expiry, …)
    kiosk_ahead: list[str] = field(default_factory=list)  # the kiosk has moved them on: its state stays
    kiosk_only: list[str] = field(default_factory=list)  # open here, unknown to the snapshot: kept, reported
    refused: list[dict] = field(default_factory=list)  # in the snapshot, refused by the kiosk's checks
    unchanged: int = 0
    products_updated: int = 0
    badges_updated: int = 0  # enrolled (with the PIN the snapshot brought) or changed
    badges_not_enrolled: int = 0  # a badge the kiosk lacks, sent without its PIN: staff set it again

    def counts(self) -> dict[str, int]:
        return {"added": len(self.added), "updated": len(self.updated), "kiosk_ahead": len(self.kiosk_ahead),
                "kiosk_only": len(self.kiosk_only), "refused": len(self.refused), "unchanged": self.unchanged,
                "products_updated": self.products_updated, "badges_updated": self.badges_updated,
                "badges_not_enrolled": self.badges_not_enrolled}

    def payload(self, now: float) -> dict:
        return {"at": iso(now), "cursor": self.cursor, "kiosk_cursor": self.kiosk_cursor, "first": self.first,
                "counts": self.counts(), "added": self.added[:MAX_LISTED], "updated": self.updated[:MAX_LISTED],
                "kiosk_ahead": self.kiosk_ahead[:MAX_LISTED], "kiosk_only": self.kiosk_only[:MAX_LISTED],
                "refused": self.refused[:MAX_LISTED]}


class _Inside:
    """The store seen from inside the reconciliation's transaction: the transaction ``apply_changes`` opens
    becomes a savepoint, so the snapshot's changes, the report and the cursor commit together or not at all."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    @contextmanager
    def transaction(self) -> Iterator[object]:
        conn = self._store.conn
        conn.execute("SAVEPOINT snapshot_change")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK TO snapshot_change")
            conn.execute("RELEASE snapshot_change")
            raise
        conn.execute("RELEASE snapshot_change")


def reconcile(store: Store, changes: list[dict], *, key: bytes, pin_length: int, now: float, cursor: str,
              kiosk_cursor: str | None) -> Reconciliation:
    """Apply a checked snapshot (``kioskd.sync.parse_snapshot``) and queue its report, in one transaction.

    Without ``kiosk_cursor`` (a kiosk starting from the snapshot) the feed cursor becomes ``cursor``;
    otherwise the cursor stays where the feed left it: moving it forward would skip cancellations, revoked
    badges and badge PINs that only the feed carries, and moving it back would apply old changes again.
    """
    report = Reconciliation(cursor=cursor, kiosk_cursor=kiosk_cursor, first=kiosk_cursor is None)
    with store.transaction():
        planned = [p for p in (_plan(store, change, report, key=key) for change in changes) if p is not None]
        refused = _apply(_Inside(store), [change for change, _what in planned], key=key, pin_length=pin_length,
                         now=now)
        for index, (change, what) in enumerate(planned):
            if index in refused:
                report.refused.append(change_summary(change) | {"problems": refused[index]})
            elif what == "product":
                report.products_updated += 1
            elif what == "badge":
                report.badges_updated += 1
            else:
                getattr(report, what).append(change["id"])
        known = {c["id"] for c in changes if c["type"] == "reservation"}
        report.kiosk_only = [rid for (rid,) in store.conn.execute(
            f"SELECT id FROM reservations WHERE status IN ({', '.join('?' * len(INCOMING_STATUSES))})"
            " ORDER BY created_at, id", INCOMING_STATUSES) if rid not in known]
        store.add_outbox("sync.reconciled", report.payload(now), now)
        store.add_audit("sync", "sync.reconciled", {"cursor": cursor, "counts": report.counts()}, now)
        store.conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE"
                           " SET value = excluded.value", (RECONCILED_KEY, iso(now)))
        if kiosk_cursor is None:
            store_cursor(store, cursor)
    return report


def _apply(inside: _Inside, planned: list[dict], *, key: bytes, pin_length: int, now: float) -> dict[int, list[str]]:
    """Apply what the kiosk accepts, in order; the problems of each change it refuses, by index.

    Usually all of it applies at once. Otherwise each change is tried in order on top of the ones accepted
    before it (as they will be applied), the trial is rolled back and the accepted ones applied together.
    """
    if not planned:
        return {}
    try:
        apply_changes(inside, planned, key=key, pin_length=pin_length, now=now, source="snapshot")
        return {}
    except ChangeError:
        pass
    refused: dict[int, list[str]] = {}
    conn = inside.conn
    conn.execute("SAVEPOINT snapshot_trial")
    try:
        for index, change in enumerate(planned):
            try:
                apply_changes(inside, [change], key=key, pin_length=pin_length, now=now, source="snapshot")
            except ChangeError as exc:
                refused[index] = [problem.removeprefix("change 0: ") for problem in exc.problems[:10]]
    finally:
        conn.execute("ROLLBACK TO snapshot_trial")
        conn.execute("RELEASE snapshot_trial")
    accepted = [change for index, change in enumerate(planned) if index not in refused]
    if accepted:
        apply_changes(inside, accepted, key=key, pin_length=pin_length, now=now, source="snapshot")
    return refused


def _plan(store: Store, change: dict, report: Reconciliation, *, key: bytes) -> tuple[dict, str] | None:
    """(the change to apply, what it is: added, updated, product or badge) for one snapshot entry, or None
    when there is nothing to do or it must not be done."""
    kind = change["type"]
    if kind == "product":
        return _plan_product(store, change, report)
    if kind == "badge":
        return _plan_badge(store, change, report, key=key)
    return _plan_reservation(store, change, report, key=key)


def _plan_product(store: Store, change: dict, report: Reconciliation) -> tuple[dict, str] | None:
    code = change["code"]
    try:
        same = get_product(store, code) == product_from_mapping(code, change)
    except CatalogueError:
        same = False  # apply_changes says what is wrong with it
    if same:
        report.unchanged += 1
        return None
    return change, "product"


def _plan_badge(store: Store, change: dict, report: Reconciliation, *, key: bytes) -> tuple[dict, str] | None:
    """A badge with its PIN (the town hall sends it while the kiosk has not confirmed the feed entry that
    carries it) is enrolled or updated like one from the feed. Without a PIN only a badge the kiosk holds,
    active, can change here (role, name): it enrols no badge and wakes no revoked one; staff set those again."""
    uid = normalise_tag(change["uid"])
    if uid is None:
        return change, "badge"  # refused by apply_changes, reported without the uid
    row = store.conn.execute("SELECT role, name, active, pin_digest FROM badges WHERE uid_digest = ?",
                             (badge_digest(key, uid),)).fetchone()
    pin = change.get("pin")
    if pin is None and (row is None or not row[2]):
        report.badges_not_enrolled += 1
        return None
    name = change.get("name")
    same_pin = pin is None or (isinstance(pin, str) and row is not None and row[3] == badge_pin_digest(key, uid, pin))
    if row is not None and row[2] and row[0] == change.get("role") and isinstance(name, str) \
            and row[1] == name.strip() and same_pin:
        report.unchanged += 1
        return None
    return change, "badge"


def _plan_reservation(store: Store, change: dict, report: Reconciliation, *,
                      key: bytes) -> tuple[dict, str] | None:
    rid = change["id"]
    row = store.conn.execute("SELECT status, locker, expires_at, product, kind FROM reservations WHERE id = ?",
                             (rid,)).fetchone()
    if row is None:
        return change, "added"
    status, locker, expires_at = row[:3]
    if status in FINAL_STATUSES or (status == "ready" and (change.get("status") != "ready"
                                                           or change.get("locker") != locker)):
        # collected, lent, back, closed, cancelled here, or loaded here: the kiosk knows, its events tell
        report.kiosk_ahead.append(rid)
        return None
    if change.get("expires_at") is None and expires_at is not None:
        change = change | {"expires_at": expires_at}  # not the product's default from now: the kiosk's own
    if _same(store, rid, change, row, key=key):
        report.unchanged += 1
        return None
    return change, "updated"


def _same(store: Store, rid: str, change: dict, row: tuple, *, key: bytes) -> bool:
    """Whether applying ``change`` would leave the reservation as it is (then it is not touched at all)."""
    status, locker, expires_at, product, kind = row
    if (change.get("status"), change.get("locker"), change.get("product")) != (status, locker, product):
        return False
    try:
        wanted = parse_iso(change["expires_at"]) if isinstance(change.get("expires_at"), str) else None
        held = parse_iso(expires_at) if expires_at else None
    except ValueError:
        return False
    if (wanted is None) != (held is None) or (wanted is not None and abs(wanted - held) >= 0.001):
        return False
    pin = change.get("pin")
    if pin is not None and not (isinstance(pin, str) and store.conn.execute(
            "SELECT 1 FROM credentials WHERE reservation_id = ? AND kind = 'pin' AND digest = ?",
            (rid, keyed_hash(key, "pin", pin))).fetchone()):
        return False
    tags = change.get("tags")
    if tags is not None:
        wanted_tags = [normalise_tag(tag) for tag in tags] if isinstance(tags, list) else [None]
        held_tags = [tag for (tag,) in store.conn.execute(
            "SELECT tag FROM reservation_tags WHERE reservation_id = ? ORDER BY tag", (rid,))]
        if kind != "loan" or None in wanted_tags or sorted(wanted_tags) != held_tags:
            return False
    return True
