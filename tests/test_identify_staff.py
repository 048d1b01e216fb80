"""Staff badges, loans by item tag, and what the lockers hold: through the real store and the real changes."""

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kioskd import inventory, journal
from kioskd.catalogue import seed_catalogue
from kioskd.changes import apply_changes
from kioskd.clock import iso
from kioskd.events import IdentificationFailed
from kioskd.flows.lockout import LockoutPolicy
from kioskd.identify import Identifier, LoanTag, Staff, badge_digest
from kioskd.inventory import InventoryError
from kioskd.store import Store

NOW = 1_796_000_000.0  # 2026-11-30
DAY = 86400.0
KEY = b"k" * 32
STAFF_UID, STAFF_PIN = "0A1B2C3D4E", "480613"
TECH_UID, TECH_PIN = "7F00A1B2C3", "913472"
TAGS = ("0C00000001", "0C00000002", "0C00000003")
# lockers 1-3 S, 4-6 M, 7-9 L
SIZES = {n: "SML"[(n - 1) // 3] for n in range(1, 10)}


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "kioskd.db")
    seed_catalogue(s)
    with s.transaction() as conn:
        for n, size in SIZES.items():
            conn.execute("INSERT INTO lockers (number, size, row, col) VALUES (?, ?, ?, ?)", (n, size, 1, n))
    load(s, [
        {"type": "badge", "uid": STAFF_UID, "role": "staff", "pin": STAFF_PIN, "name": "An Peeters"},
        {"type": "badge", "uid": TECH_UID, "role": "technician", "pin": TECH_PIN, "name": "Tom Tech"},
        {"type": "reservation", "id": "L-1", "product": "party-material", "status": "awaiting_stock",
         "pin": "73105528", "tags": list(TAGS)},
    ])
    yield s
    s.close()


@pytest.fixture
def identifier(store):
    return Identifier(store, key=KEY, public_key=Ed25519PrivateKey.generate().public_key(), kiosk_id="test",
                      lockout=LockoutPolicy(free_attempts=3, base_seconds=30, max_seconds=600))


def load(store, changes, now=NOW):
    return apply_changes(store, changes, key=KEY, pin_length=8, now=now)


def rows(store, sql, *params):
    return store.conn.execute(sql, params).fetchall()


def status(store, rid):
    return rows(store, "SELECT status FROM reservations WHERE id = ?", rid)[0][0]


def events(store):
    return [(e["type"], e["payload"]) for e in store.outbox()]


def dump(store):
    return list(store.conn.iterdump())


STAFF = badge_digest(KEY, STAFF_UID)


# ---- badges ---------------------------------------------------------------------------------------------------


def test_badge_known_only_for_an_active_enrolled_badge(store, identifier):
    """The flow asks for a PIN only after an enrolled badge; any other tag gets the unknown-tag answer."""
    assert identifier.badge_known(STAFF_UID) == "staff"
    assert identifier.badge_known(TECH_UID.lower()) == "technician"
    for other in ("0A1B2C3D4F", TAGS[0], "not a tag", ""):
        assert identifier.badge_known(other) is None
    load(store, [{"type": "badge.revoke", "uid": STAFF_UID}])
    assert identifier.badge_known(STAFF_UID) is None  # revoked looks exactly like unknown
    assert rows(store, "SELECT COUNT(*) FROM lockouts") == [(0,)]  # asking costs nothing: no PIN was tried


def test_verify_badge(identifier):
    assert identifier.verify_badge(STAFF_UID, STAFF_PIN, NOW) == Staff(STAFF, "staff", "An Peeters")
    assert identifier.verify_badge(TECH_UID.lower(), TECH_PIN, NOW) == Staff(badge_digest(KEY, TECH_UID),
                                                                             "technician", "Tom Tech")
    # another badge's PIN does not open this one: the PIN is bound to its badge
    assert identifier.verify_badge(STAFF_UID, TECH_PIN, NOW + 1) == IdentificationFailed("badge", "unknown_code")


def test_wrong_badge_pins_lock_out_and_an_unknown_badge_counts_alike(store, identifier):
    assert identifier.verify_badge(STAFF_UID, "000000", NOW) == IdentificationFailed("badge", "unknown_code")
    assert identifier.verify_badge("0D00000000", STAFF_PIN, NOW + 1) == IdentificationFailed("badge", "unknown_code")
    third = identifier.verify_badge(STAFF_UID, "999999", NOW + 2)
    assert third == IdentificationFailed("badge", "locked_out", NOW + 2 + 30)
    # locked: even the right PIN waits, and says nothing about it being right
    assert identifier.verify_badge(STAFF_UID, STAFF_PIN, NOW + 10) == IdentificationFailed("badge", "locked_out",
                                                                                            NOW + 32)
    assert identifier.verify_badge(STAFF_UID, STAFF_PIN, NOW + 33) == Staff(STAFF, "staff", "An Peeters")
    # a fourth failure doubles the wait; citizens' PIN counter is separate
    assert identifier.verify_badge(STAFF_UID, "111111", NOW + 34).locked_until == NOW + 34 + 60
    assert identifier.lockout_state("pin").failures == 0
    audit = rows(store, "SELECT actor, action, detail FROM audit WHERE action = 'identification.failed'")
    assert [(actor, json.loads(detail)["method"]) for actor, _, detail in audit] == [("staff", "badge")] * 4
    for _, _, detail in audit:
        assert STAFF_UID not in detail and STAFF_PIN not in detail


def test_a_revoked_badge_no_longer_verifies(store, identifier):
    load(store, [{"type": "badge.revoke", "uid": STAFF_UID}])
    assert identifier.verify_badge(STAFF_UID, STAFF_PIN, NOW) == IdentificationFailed("badge", "unknown_code")


# ---- loans by tag -------------------------------------------------------------------------------------------


def collect_loan(store, rid="L-1", locker=7, now=NOW):
    """Load the loan, then let the citizen collect it through the pickup journal."""
    inventory.record_loaded(store, rid, locker, STAFF, now)
    pick_up(store, rid, locker, now + 60)


def pick_up(store, rid, locker, now):
    release = journal.commit_release(store, reservation_id=rid, locker=locker, reason="pickup", method="pin",
                                     token_id=None, now=now)
    journal.record_door_event(store, locker, True, now + 5)
    journal.record_door_event(store, locker, False, now + 20)
    journal.record_collected(store, reservation_id=rid, release_id=release, door_left_open=False, now=now + 20)


def test_find_loan_by_tag(store, identifier):
    found = identifier.find_loan_by_tag(TAGS[1].lower())
    assert found.reservation.id == "L-1" and found.reservation.status == "awaiting_stock"
    assert found.tags == tuple(LoanTag(tag, None, None) for tag in TAGS) and not found.on_loan
    assert identifier.find_loan_by_tag("0C00000009") is None and identifier.find_loan_by_tag("zz") is None
    collect_loan(store)
    inventory.record_return(store, "L-1", [TAGS[0]], 2, NOW + DAY)
    found = identifier.find_loan_by_tag(TAGS[2])
    assert found.on_loan and found.reservation.status == "partially_returned"
    assert found.tags[0] == LoanTag(TAGS[0], NOW + DAY, 2) and found.outstanding == TAGS[1:]
    assert identifier.loan("L-1") == found


def test_a_tag_lent_again_finds_the_loan_it_is_out_with(store, identifier):
    collect_loan(store)
    inventory.record_return(store, "L-1", list(TAGS), 1, NOW + DAY)
    load(store, [{"type": "reservation", "id": "L-2", "product": "room-key", "status": "awaiting_stock",
                  "tags": [TAGS[0]]}], now=NOW + DAY)
    assert identifier.find_loan_by_tag(TAGS[0]).reservation.id == "L-2"  # not yet out, but not back either
    assert identifier.find_loan_by_tag(TAGS[1]).reservation.id == "L-1"  # back, waiting for staff
    inventory.record_taken_out(store, 1, STAFF, NOW + DAY + 60)
    assert identifier.find_loan_by_tag(TAGS[1]) is None  # closed
    load(store, [{"type": "reservation.cancel", "id": "L-2"}], now=NOW + DAY + 120)
    assert identifier.find_loan_by_tag(TAGS[0]) is None


def test_loan_is_none_for_a_pickup(store, identifier):
    load(store, [{"type": "reservation", "id": "R-1", "product": "vouchers", "status": "ready", "locker": 1}])
    assert identifier.loan("R-1") is None and identifier.loan("R-404") is None


# ---- free lockers -------------------------------------------------------------------------------------------


def test_free_locker_smallest_fitting_never_suspect_or_out_of_service(store):
    assert [inventory.free_locker(store, size) for size in "SML"] == [1, 4, 7]
    load(store, [{"type": "reservation", "id": f"R-{n}", "product": "vouchers", "status": "ready", "locker": n}
                 for n in (1, 2)])
    store.conn.execute("UPDATE lockers SET out_of_service = 1 WHERE number = 3")
    assert inventory.free_locker(store, "S") == 4  # no S left: the smallest larger one
    inventory.mark_suspect(store, 4, NOW)
    store.conn.execute("UPDATE lockers SET out_of_service = 1 WHERE number = 5")
    assert inventory.free_locker(store, "S") == 6 and inventory.free_locker(store, "M") == 6
    pick_up(store, "R-1", 1, NOW)
    assert inventory.free_locker(store, "S") == 1  # collected: empty again
    with store.transaction() as conn:  # a door being opened right now is nobody else's
        conn.execute("INSERT INTO releases (reservation_id, locker, reason, method, state, created_at)"
                     " VALUES ('L-1', 1, 'return', 'tag', 'opened', ?)", (iso(NOW),))
    assert inventory.free_locker(store, "S") == 6
    store.conn.execute("UPDATE lockers SET out_of_service = 1 WHERE number IN (6, 7, 8, 9)")
    assert inventory.free_locker(store, "L") is None and inventory.free_locker(store, "S") is None
    with pytest.raises(ValueError, match="locker size must be one of S, M, L"):
        inventory.free_locker(store, "XL")


def test_free_locker_skips_lockers_holding_returns_expired_and_cancelled(store):
    collect_loan(store, locker=7)
    inventory.record_return(store, "L-1", [TAGS[0]], 8, NOW + DAY)
    load(store, [{"type": "reservation", "id": "R-1", "product": "vouchers", "status": "ready", "locker": 9,
                  "expires_at": iso(NOW + DAY)},
                 {"type": "reservation", "id": "R-2", "product": "vouchers", "status": "ready", "locker": 1}])
    load(store, [{"type": "reservation.cancel", "id": "R-2"}])
    assert inventory.free_locker(store, "L") == 7  # 8: returned items, 9: a pickup (ready or expired)
    assert inventory.free_locker(store, "S") == 2  # 1: cancelled but still inside


# ---- staff lists --------------------------------------------------------------------------------------------


def test_awaiting_stock_oldest_first(store):
    load(store, [{"type": "reservation", "id": "A-2", "product": "passport", "status": "awaiting_stock",
                  "national_number": "85073003328"}],
         now=NOW - DAY)
    load(store, [{"type": "reservation", "id": "A-3", "product": "vouchers", "status": "ready", "locker": 1}])
    assert inventory.awaiting_stock(store) == [
        inventory.StockItem("A-2", "passport", "pickup", "S", (), NOW - DAY),
        inventory.StockItem("L-1", "party-material", "loan", "L", TAGS, NOW)]


def test_staff_collection(store):
    collect_loan(store)
    inventory.record_return(store, "L-1", [TAGS[2], TAGS[0]], 2, NOW + DAY)
    load(store, [{"type": "reservation", "id": "R-1", "product": "vouchers", "status": "ready", "locker": 1,
                  "expires_at": iso(NOW + 2 * DAY)},
                 {"type": "reservation", "id": "R-2", "product": "vouchers", "status": "ready", "locker": 3}])
    load(store, [{"type": "reservation.cancel", "id": "R-2"}])
    assert inventory.staff_collection(store, NOW + DAY) == [
        inventory.Collection(2, "L-1", "returned", (TAGS[0], TAGS[2])),
        inventory.Collection(3, "R-2", "cancelled", ())]
    assert inventory.staff_collection(store, NOW + 2 * DAY)[0] == inventory.Collection(1, "R-1", "expired", ())


# ---- writers ------------------------------------------------------------------------------------------------


def test_record_loaded(store):
    event = inventory.record_loaded(store, "L-1", 8, STAFF, NOW + 3600)
    assert rows(store, "SELECT status, locker, expires_at FROM reservations WHERE id = 'L-1'") == [
        ("ready", 8, iso(NOW + 3600 + 7 * DAY))]  # party material waits 7 days from loading
    assert store.outbox()[0]["id"] == event
    assert events(store) == [("reservation.loaded", {
        "reservation": "L-1", "kind": "loan", "locker": 8, "expires_at": iso(NOW + 3600 + 7 * DAY),
        "loaded_at": iso(NOW + 3600), "staff": "An Peeters"})]
    assert rows(store, "SELECT actor, action FROM audit ORDER BY id DESC LIMIT 1") == [
        (f"staff:{STAFF[:16]}", "reservation.loaded")]
    with pytest.raises(InventoryError, match="not_awaiting_stock"):
        inventory.record_loaded(store, "L-1", 9, STAFF, NOW)


@pytest.mark.parametrize("locker,prepare,reason", [
    (4, "", "locker_too_small"),  # party material needs L
    (10, "", "unknown_locker"),
    (7, "UPDATE lockers SET suspect = 1 WHERE number = 7", "locker_unavailable"),
    (7, "UPDATE lockers SET out_of_service = 1 WHERE number = 7", "locker_unavailable"),
    (7, "INSERT INTO reservations (id, product, status, locker, created_at, updated_at)"
        " VALUES ('X', 'vouchers', 'expired', 7, 'c', 'u')", "locker_occupied"),
])
def test_record_loaded_refusals(store, locker, prepare, reason):
    if prepare:
        store.conn.execute(prepare)
    before = dump(store)
    with pytest.raises(InventoryError) as err:
        inventory.record_loaded(store, "L-1", locker, STAFF, NOW)
    assert err.value.reason == reason and dump(store) == before


def test_a_loan_comes_back_in_two_parts_and_staff_take_it_out(store):
    collect_loan(store)
    assert status(store, "L-1") == "on_loan"  # a collected loan is on loan
    store.conn.execute("UPDATE reservations SET status = 'on_loan' WHERE id = 'L-1'")
    first = inventory.record_return(store, "L-1", [TAGS[1].lower()], 2, NOW + DAY)
    assert (first.complete, first.outstanding) == (False, (TAGS[0], TAGS[2]))
    assert status(store, "L-1") == "partially_returned"
    second = inventory.record_return(store, "L-1", [TAGS[2], TAGS[0]], 3, NOW + 2 * DAY)
    assert (second.complete, second.outstanding) == (True, ())
    assert rows(store, "SELECT status, returned_at FROM reservations WHERE id = 'L-1'") == [
        ("returned", iso(NOW + 2 * DAY))]
    returns = [p for t, p in events(store) if t == "loan.returned"]
    assert returns == [
        {"reservation": "L-1", "locker": 2, "tags": [TAGS[1]], "outstanding": [TAGS[0], TAGS[2]],
         "complete": False, "returned_at": iso(NOW + DAY)},
        {"reservation": "L-1", "locker": 3, "tags": [TAGS[0], TAGS[2]], "outstanding": [], "complete": True,
         "returned_at": iso(NOW + 2 * DAY)}]

    inventory.record_taken_out(store, 3, STAFF, NOW + 3 * DAY)
    assert status(store, "L-1") == "returned"  # the key in locker 2 is still waiting
    event = inventory.record_taken_out(store, 2, badge_digest(KEY, TECH_UID), NOW + 3 * DAY)
    assert rows(store, "SELECT status, closed_at FROM reservations WHERE id = 'L-1'") == [
        ("closed", iso(NOW + 3 * DAY))]
    assert store.outbox()[-1] == {**store.outbox()[-1], "id": event, "type": "locker.emptied", "payload": {
        "locker": 2, "emptied_at": iso(NOW + 3 * DAY), "staff": "Tom Tech",
        "items": [{"reservation": "L-1", "was": "returned", "tags": [TAGS[1]], "closed": True}]}}
    assert inventory.staff_collection(store, NOW + 3 * DAY) == [] and inventory.free_locker(store, "S") == 1
    assert rows(store, "SELECT actor FROM audit WHERE action = 'locker.emptied'") == [
        (f"staff:{STAFF[:16]}",), (f"technician:{badge_digest(KEY, TECH_UID)[:16]}",)]


def test_record_return_refusals(store):
    with pytest.raises(InventoryError, match="not_on_loan"):  # not collected yet
        inventory.record_return(store, "L-1", [TAGS[0]], 2, NOW)
    collect_loan(store)
    inventory.record_return(store, "L-1", [TAGS[0]], 2, NOW + DAY)
    load(store, [{"type": "reservation", "id": "R-1", "product": "vouchers", "status": "ready", "locker": 1}])
    before = dump(store)
    for tags, locker, reason in [([], 3, "no_tags"), (["0C00000009"], 3, "unknown_tag"), (["??"], 3, "unknown_tag"),
                                 ([TAGS[1], TAGS[1]], 3, "unknown_tag"), ([TAGS[0]], 3, "already_returned"),
                                 ([TAGS[1]], 1, "locker_occupied"), ([TAGS[1]], 12, "unknown_locker")]:
        with pytest.raises(InventoryError) as err:
            inventory.record_return(store, "L-1", tags, locker, NOW + DAY)
        assert err.value.reason == reason, tags
    with pytest.raises(InventoryError, match="not_on_loan"):
        inventory.record_return(store, "R-1", [TAGS[1]], 3, NOW + DAY)
    assert dump(store) == before


def test_taking_out_expired_and_cancelled_pickups(store):
    load(store, [{"type": "reservation", "id": "R-1", "product": "vouchers", "status": "ready", "locker": 1,
                  "expires_at": iso(NOW + DAY)},
                 {"type": "reservation", "id": "R-2", "product": "vouchers", "status": "ready", "locker": 2}])
    load(store, [{"type": "reservation.cancel", "id": "R-2"}])
    with pytest.raises(InventoryError, match="holds_ready"):  # its citizen may still come
        inventory.record_taken_out(store, 1, STAFF, NOW)
    with pytest.raises(InventoryError, match="nothing_to_take_out"):
        inventory.record_taken_out(store, 3, STAFF, NOW)
    inventory.record_taken_out(store, 1, STAFF, NOW + DAY)
    inventory.record_taken_out(store, 2, STAFF, NOW + DAY)
    assert rows(store, "SELECT id, status FROM reservations WHERE id LIKE 'R-%'") == [("R-1", "closed"),
                                                                                     ("R-2", "closed")]
    assert [p["items"] for t, p in events(store) if t == "locker.emptied"] == [
        [{"reservation": "R-1", "was": "expired", "tags": [], "closed": True}],
        [{"reservation": "R-2", "was": "cancelled", "tags": [], "closed": True}]]


def test_suspect_lockers(store):
    first = inventory.mark_suspect(store, 7, NOW)
    assert inventory.mark_suspect(store, 7, NOW + 1) is None  # once is enough
    assert inventory.free_locker(store, "L") == 8
    with pytest.raises(InventoryError, match="locker_unavailable"):
        inventory.record_loaded(store, "L-1", 7, STAFF, NOW)
    cleared = inventory.clear_suspect(store, 7, STAFF, NOW + 60)
    assert inventory.clear_suspect(store, 7, STAFF, NOW + 61) is None
    assert [(e["id"], e["type"], e["payload"]) for e in store.outbox()] == [
        (first, "locker.suspect", {"locker": 7, "at": iso(NOW)}),
        (cleared, "locker.suspect_cleared", {"locker": 7, "at": iso(NOW + 60), "staff": "An Peeters"})]
    assert inventory.free_locker(store, "L") == 7


# ---- one transaction: the business change, its outbox event and its audit row -----------------------------


class Crash(Exception):
    pass


@pytest.mark.parametrize("writer", ["loaded", "return", "taken_out", "suspect", "clear_suspect"])
@pytest.mark.parametrize("fail_at", ["add_outbox", "add_audit"])
def test_a_crash_inside_a_writer_leaves_nothing_behind(store, monkeypatch, writer, fail_at):
    if writer in ("return", "taken_out"):
        collect_loan(store)
    if writer == "taken_out":
        inventory.record_return(store, "L-1", list(TAGS), 2, NOW + DAY)
    if writer == "clear_suspect":
        inventory.mark_suspect(store, 7, NOW)
    calls = {
        "loaded": lambda: inventory.record_loaded(store, "L-1", 7, STAFF, NOW),
        "return": lambda: inventory.record_return(store, "L-1", [TAGS[0]], 2, NOW + DAY),
        "taken_out": lambda: inventory.record_taken_out(store, 2, STAFF, NOW + 2 * DAY),
        "suspect": lambda: inventory.mark_suspect(store, 8, NOW),
        "clear_suspect": lambda: inventory.clear_suspect(store, 7, STAFF, NOW),
    }
    before = dump(store)
    real = getattr(store, fail_at)

    def crash(*args, **kwargs):
        real(*args, **kwargs)  # the row is written, then the process "dies" before the commit
        raise Crash

    monkeypatch.setattr(store, fail_at, crash)
    with pytest.raises(Crash):
        calls[writer]()
    assert not store.conn.in_transaction and dump(store) == before
    monkeypatch.undo()
    calls[writer]()  # and the same write goes through afterwards
    assert dump(store) != before
