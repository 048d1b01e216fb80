"""Changes apply atomically through the real store; PINs only ever as keyed hashes."""

import json
import os
import sqlite3
import stat

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kioskd.catalogue import seed_catalogue
from kioskd.changes import ChangeError, apply_changes
from kioskd.secrets import KeyFileError, keyed_hash, load_or_create_key
from kioskd.store import Store, StoreError

NOW = 1_796_000_000.0  # 2026-11-30
KEY = b"k" * 32


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "kioskd.db")
    seed_catalogue(s)
    with s.transaction() as conn:
        for n in range(1, 10):
            conn.execute("INSERT INTO lockers (number, size, row, col) VALUES (?, 'S', ?, ?)",
                         (n, (n - 1) // 3 + 1, (n - 1) % 3 + 1))
    yield s
    s.close()


def res(rid="R-1001", locker=3, pin="40213377", **extra):
    change = {"type": "reservation", "id": rid, "product": "room-key", "status": "ready", "locker": locker,
              "pin": pin, "expires_at": "2026-12-05T00:00:00+00:00"}
    change.update(extra)
    return change


def load(store, changes):
    return apply_changes(store, changes, key=KEY, pin_length=8, now=NOW)


def rows(store, sql):
    return store.conn.execute(sql).fetchall()


def test_reservation_and_cancel(store):
    result = load(store, [res(), res("R-1002", locker=4, pin="11112222")])
    assert result.counts == {"reservation": 2}
    assert rows(store, "SELECT id, status, locker FROM reservations ORDER BY id") == [
        ("R-1001", "ready", 3), ("R-1002", "ready", 4)]
    load(store, [{"type": "reservation.cancel", "id": "R-1001"}])
    assert rows(store, "SELECT status FROM reservations WHERE id = 'R-1001'") == [("cancelled",)]
    # the keyed hash stays, so the citizen is told "cancelled" rather than "unknown code"
    assert rows(store, "SELECT COUNT(*) FROM credentials WHERE reservation_id = 'R-1001'") == [(1,)]
    load(store, [res("R-1003", locker=5)])  # a finished reservation's PIN may be given out again
    assert rows(store, "SELECT reservation_id FROM credentials WHERE digest = ?".replace(
        "?", f"'{keyed_hash(KEY, 'pin', '40213377')}'")) == [("R-1003",)]


def test_no_change_while_the_locker_is_open(store):
    from kioskd import journal

    load(store, [res()])
    journal.commit_release(store, reservation_id="R-1001", locker=3, reason="pickup", method="pin", token_id=None,
                           now=NOW)
    for change in ({"type": "reservation.cancel", "id": "R-1001"}, res(locker=4)):
        with pytest.raises(ChangeError, match="being collected at locker 3 right now"):
            load(store, [change])
    assert rows(store, "SELECT status, locker FROM reservations") == [("ready", 3)]


def test_pin_stored_only_as_hmac(store, tmp_path):
    load(store, [res()])
    digest = rows(store, "SELECT digest FROM credentials")[0][0]
    assert digest == keyed_hash(KEY, "pin", "40213377")
    store.conn.execute("PRAGMA wal_checkpoint(FULL)")
    for path in tmp_path.iterdir():
        assert b"40213377" not in path.read_bytes(), path


def test_one_bad_change_applies_nothing(store):
    bad = [res(), res("R-1002", locker=12), {"type": "reservation.cancel", "id": "R-404"}, "nonsense",
           res("R-1003", locker=5, pin="123")]
    with pytest.raises(ChangeError) as err:
        load(store, bad)
    problems = err.value.problems
    assert problems[0] == "change 1: locker: 12 is not a locker of this kiosk"
    assert problems[1] == "change 2: id: no reservation R-404 at this kiosk"
    assert problems[2].startswith("change 3: expected an object")
    assert problems[3] == "change 4: pin: expected a string of exactly 8 digits"
    assert "123" not in str(err.value)
    assert rows(store, "SELECT COUNT(*) FROM reservations") == [(0,)]
    assert rows(store, "SELECT COUNT(*) FROM audit") == [(0,)]


@pytest.mark.parametrize("change,message", [
    (res(product="bike"), "change 0: product: unknown product 'bike'"),
    (res(status="collected"), "change 0: status: expected one of awaiting_stock, ready"),
    (res(expires_at="2026-12-05"), "change 0: expires_at: expected an ISO 8601 time with offset"),
    (res(colour="red"), "change 0: colour: unknown field"),
    (res(id="R 1"), "change 0: id: expected 1-64 letters"),
    (res(locker=True), "change 0: locker: a ready reservation needs"),
    ({"type": "reservation.delete", "id": "R-1"}, "change 0: type: unknown change type 'reservation.delete'"),
])
def test_precise_messages(store, change, message):
    with pytest.raises(ChangeError) as err:
        load(store, [change])
    assert err.value.problems[0].startswith(message)


def test_locker_and_pin_conflicts(store):
    load(store, [res()])
    with pytest.raises(ChangeError, match="locker 3 already holds reservation R-1001"):
        load(store, [res("R-2", pin="99998888")])
    with pytest.raises(ChangeError, match="already in use"):
        load(store, [res("R-2", locker=5)])


def test_update_changes_pin_and_final_states_are_final(store):
    load(store, [res()])
    load(store, [res(pin="55556666")])
    assert rows(store, "SELECT digest FROM credentials") == [(keyed_hash(KEY, "pin", "55556666"),)]
    store.conn.execute("UPDATE reservations SET status = 'collected'")
    with pytest.raises(ChangeError, match="is collected and can no longer change"):
        load(store, [res()])


def test_default_expiry_from_catalogue(store):
    change = res()
    del change["expires_at"]
    load(store, [change])
    assert rows(store, "SELECT expires_at FROM reservations")[0][0].startswith("2026-12-07")  # room-key: 7 days


def test_product_change_extends_catalogue(store):
    load(store, [{"type": "product", "code": "bike-lock", "identification": "code", "returnable": True,
                  "rfid_tagged": True, "locker_size": "M", "pickup_days": 3, "requestable": False,
                  "names": {"nl": "Fietsslot", "fr": "Antivol", "en": "Bike lock"}}])
    load(store, [res(product="bike-lock")])
    with pytest.raises(ChangeError, match="pickup_days"):
        load(store, [{"type": "product", "code": "x", "identification": "code", "locker_size": "S",
                      "pickup_days": 0, "names": {"nl": "a", "fr": "b", "en": "c"}}])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.dictionaries(st.sampled_from(["type", "id", "product", "status", "locker", "pin", "expires_at"]),
                                st.one_of(st.none(), st.booleans(), st.integers(-5, 20), st.text(max_size=12),
                                          st.sampled_from(["reservation", "reservation.cancel", "ready",
                                                           "room-key", "40213377"]))), max_size=4))
def test_random_changes_either_apply_or_change_nothing(store, changes):
    before = rows(store, "SELECT * FROM reservations ORDER BY id")
    try:
        load(store, changes)
    except ChangeError as err:
        assert all(p.startswith("change ") for p in err.problems)
        assert rows(store, "SELECT * FROM reservations ORDER BY id") == before
    assert not store.conn.in_transaction


def test_store_is_wal_full_and_migrated(store):
    assert rows(store, "PRAGMA journal_mode") == [("wal",)]
    assert rows(store, "PRAGMA synchronous") == [(2,)]
    assert store.version == 1 and store.integrity_ok()


def test_store_refuses_newer_schema_and_other_kiosk(tmp_path):
    s = Store(tmp_path / "a.db")
    s.bind_to_kiosk("one")
    with pytest.raises(StoreError, match="belongs to kiosk 'one'"):
        s.bind_to_kiosk("two")
    s.conn.execute("PRAGMA user_version=99")
    s.close()
    with pytest.raises(StoreError, match="newer"):
        Store(tmp_path / "a.db")


def test_outbox_row_and_business_change_roll_back_together(store):
    with pytest.raises(sqlite3.IntegrityError), store.transaction() as conn:
        store.add_outbox("x", {}, NOW)
        conn.execute("INSERT INTO lockers (number, size, row, col) VALUES (1, 'S', 1, 1)")
    assert store.outbox() == []


def test_kiosk_key_created_private_and_checked(tmp_path):
    path = tmp_path / "keys" / "kiosk.key"
    key = load_or_create_key(path)
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="readable by others"):
        load_or_create_key(path)


def test_change_file_format_matches_docs():
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "changes.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```json\n")[1:]]
    assert blocks, "docs/changes.md has JSON examples"
    for block in blocks:
        json.loads(block)
