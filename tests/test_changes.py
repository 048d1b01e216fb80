"""Changes apply atomically through the real store; PINs only ever as keyed hashes."""

import json
import os
import sqlite3
import stat

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kioskd.changes import ChangeError, apply_changes, weak_pin
from kioskd.identify import badge_digest, badge_pin_digest
from kioskd.migrations import MIGRATIONS
from kioskd.secrets import KeyFileError, keyed_hash, load_or_create_key
from kioskd.store import Store, StoreError

NOW = 1_796_000_000.0  # 2026-11-30
KEY = b"k" * 32


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
@given(st.lists(st.dictionaries(st.sampled_from(["type", "id", "product", "status", "locker", "pin", "expires_at",
                                                 "tags", "uid", "role", "name"]),
                                st.one_of(st.none(), st.booleans(), st.integers(-5, 20), st.text(max_size=12),
                                          st.lists(st.sampled_from(["0A1B2C3D4E", "0a1b", "x", 3]), max_size=3),
                                          st.sampled_from(["reservation", "reservation.cancel", "ready",
                                                           "room-key", "40213377", "badge", "badge.revoke",
                                                           "0A1B2C3D4E", "staff", "4806137295"]))), max_size=4))
def test_random_changes_either_apply_or_change_nothing(store, changes):
    def state():
        return [rows(store, f"SELECT * FROM {table} ORDER BY 1, 2")
                for table in ("reservations", "reservation_tags", "badges", "credentials")]

    before = state()
    try:
        load(store, changes)
    except ChangeError as err:
        assert all(p.startswith("change ") for p in err.problems)
        assert state() == before
    assert not store.conn.in_transaction


def test_store_is_wal_full_and_migrated(store):
    assert rows(store, "PRAGMA journal_mode") == [("wal",)]
    assert rows(store, "PRAGMA synchronous") == [(2,)]
    assert store.version == len(MIGRATIONS) and store.integrity_ok()


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


# ---- migration 2: badges, loans, returns -------------------------------------------------------------------

V1_ROWS = {
    "products": [("room-key", "code", 1, 1, "S", 7, 0, '{"en": "Key", "fr": "Clé", "nl": "Sleutel"}')],
    "lockers": [(1, "S", 1, 1, 0), (2, "M", 1, 2, 1)],
    "reservations": [("R-1", "room-key", "ready", 1, "2026-12-05T00:00:00.000+00:00", "c1", "u1", None),
                     ("R-2", "room-key", "collected", 2, None, "c2", "u2", "k2"),
                     ("R-3", "room-key", "cancelled", None, None, "c3", "u3", None)],
    "credentials": [("pin", "d1", "R-1"), ("pin", "d2", "R-2")],
    "releases": [(1, "R-2", 2, "pickup", "pin", "closed", "c", "o", "x"),
                 (7, "R-2", 2, "reopen", "pin", "unopened", "c", None, "x")],
    "spent_tokens": [("t1", "R-2", 1, "s")],
    "outbox": [(1, "e1", "pickup.collected", "{}", "c", None)],
    "audit": [(1, "a", "citizen", "x", "{}")],
    "lockouts": [("pin", 3, 0.0, 5.0)],
}


def version_1_database(path):
    """A kiosk's file as version 1 left it, with data in every table."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    for table, table_rows in V1_ROWS.items():
        for row in table_rows:
            conn.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", row)
    conn.execute("PRAGMA user_version=1")
    conn.close()


def test_migration_from_version_1_keeps_data_and_enforces_constraints(tmp_path):
    version_1_database(tmp_path / "old.db")
    s = Store(tmp_path / "old.db")
    assert s.version == len(MIGRATIONS) and s.integrity_ok()
    assert rows(s, "PRAGMA foreign_key_check") == []
    for table in ("products", "credentials", "spent_tokens", "outbox", "audit", "lockouts"):
        assert rows(s, f"SELECT * FROM {table}") == V1_ROWS[table], table
    assert rows(s, "SELECT * FROM lockers") == [(*row, 0) for row in V1_ROWS["lockers"]]  # suspect = 0
    assert rows(s, "SELECT * FROM reservations ORDER BY id") == [
        (*row, "pickup", None, None) for row in V1_ROWS["reservations"]]  # kind, returned_at, closed_at
    assert rows(s, "SELECT id, reservation_id, reason, state FROM releases") == [
        (1, "R-2", "pickup", "closed"), (7, "R-2", "reopen", "unopened")]
    indexes = {name for (name,) in rows(s, "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
    assert indexes >= {"reservations_locker", "credentials_reservation", "releases_open", "releases_reservation"}
    assert [row[2] for row in rows(s, "PRAGMA foreign_key_list(credentials)")] == ["reservations"]

    with s.transaction() as conn:  # what the new version needs is allowed
        conn.execute("INSERT INTO reservations (id, product, status, created_at, updated_at, kind)"
                     " VALUES ('L-1', 'room-key', 'on_loan', 'c', 'u', 'loan')")
        conn.execute("INSERT INTO reservation_tags (reservation_id, tag) VALUES ('L-1', '0A1B2C3D4E')")
        cursor = conn.execute("INSERT INTO releases (reservation_id, locker, reason, method, state, created_at)"
                              " VALUES (NULL, 1, 'service', 'badge', 'pending', 'c')")
        assert cursor.lastrowid == 8  # ids keep counting from the old table's
    refused = [
        "INSERT INTO credentials VALUES ('pin', 'd9', 'R-404')",  # foreign keys still point at reservations
        "UPDATE reservations SET status = 'lost' WHERE id = 'R-1'",
        "UPDATE reservations SET status = 'on_loan' WHERE id = 'R-1'",  # only a loan goes on loan
        "UPDATE reservations SET kind = 'gift' WHERE id = 'R-1'",
        "INSERT INTO reservation_tags (reservation_id, tag) VALUES ('L-1', '0a1b2c3d4f')",  # stored upper case
        "INSERT INTO reservation_tags (reservation_id, tag) VALUES ('R-404', '0A1B2C3D4F')",
        "UPDATE reservation_tags SET returned_at = 'x'",  # returned somewhere
        "UPDATE lockers SET suspect = 2",
        "INSERT INTO releases (locker, reason, method, state, created_at) VALUES (1, 'party', 'x', 'pending', 'c')",
        "INSERT INTO badges (uid_digest, role, pin_digest, name, created_at, updated_at)"
        " VALUES ('u', 'admin', 'p', 'n', 'c', 'u')",
    ]
    for statement in refused:
        with pytest.raises(sqlite3.IntegrityError), s.transaction() as conn:
            conn.execute(statement)
    s.close()
    assert Store(tmp_path / "old.db").version == len(MIGRATIONS)  # opening again migrates nothing


def test_a_failed_migration_leaves_version_1_untouched(tmp_path, monkeypatch):
    import kioskd.store

    version_1_database(tmp_path / "old.db")
    monkeypatch.setattr(kioskd.store, "MIGRATIONS", [MIGRATIONS[0], [*MIGRATIONS[1], "SELECT * FROM no_such_table"]])
    with pytest.raises(sqlite3.OperationalError):
        Store(tmp_path / "old.db")
    conn = sqlite3.connect(tmp_path / "old.db")
    assert conn.execute("PRAGMA user_version").fetchone() == (1,)
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "badges" not in tables and "reservations_v2" not in tables
    assert conn.execute("SELECT * FROM reservations ORDER BY id").fetchall() == V1_ROWS["reservations"]
    conn.close()
    monkeypatch.undo()
    assert Store(tmp_path / "old.db").version == len(MIGRATIONS)


# ---- badges --------------------------------------------------------------------------------------------------

UID = "0A1B2C3D4E"
BADGE_PIN = "4806137295"


def badge(uid=UID, role="staff", pin=BADGE_PIN, name="An Peeters", **extra):
    change = {"type": "badge", "uid": uid, "role": role, "pin": pin, "name": name}
    change.update(extra)
    return {k: v for k, v in change.items() if v is not None}


def badge_rows(store):
    return rows(store, "SELECT uid_digest, role, pin_digest, name, active FROM badges ORDER BY name")


def test_badge_enrol_replace_revoke(store):
    result = load(store, [badge(uid=UID.lower()), badge(uid="7F000001", role="technician", pin="9713", name="Tech")])
    assert result.counts == {"badge": 2}
    assert badge_rows(store) == [
        (badge_digest(KEY, UID), "staff", badge_pin_digest(KEY, UID, BADGE_PIN), "An Peeters", 1),
        (badge_digest(KEY, "7F000001"), "technician", badge_pin_digest(KEY, "7F000001", "9713"), "Tech", 1)]
    load(store, [badge(role="technician", pin=None, name="  An Peeters-Claes ")])  # without a PIN: keeps it
    assert badge_rows(store)[0] == (badge_digest(KEY, UID), "technician", badge_pin_digest(KEY, UID, BADGE_PIN),
                                    "An Peeters-Claes", 1)
    assert load(store, [{"type": "badge.revoke", "uid": UID}]).counts == {"badge.revoke": 1}
    assert badge_rows(store)[0][4] == 0
    load(store, [badge(pin="246810")])  # sent again: active again, new PIN
    assert badge_rows(store)[0][2:] == (badge_pin_digest(KEY, UID, "246810"), "An Peeters", 1)


def test_same_pin_on_two_badges_gives_two_digests(store):
    load(store, [badge(), badge(uid="0A1B2C3D4F", name="Bert")])
    digests = [row[2] for row in badge_rows(store)]
    assert len(set(digests)) == 2


@pytest.mark.parametrize("change,message", [
    (badge(uid="0A1B2C3D4G"), "change 0: uid: expected the badge's RFID id, 4-20 hexadecimal digits"),
    (badge(uid="0A1"), "change 0: uid: expected the badge's RFID id"),
    (badge(uid="0A1B2C3D4E0A1B2C3D4E0"), "change 0: uid: expected the badge's RFID id"),
    (badge(uid=1234), "change 0: uid: expected the badge's RFID id"),
    (badge(role="admin"), "change 0: role: expected one of staff, technician"),
    (badge(name=""), "change 0: name: expected a name of 1-80 printable characters"),
    (badge(name="   "), "change 0: name: expected a name of 1-80 printable"),
    (badge(name="x" * 81), "change 0: name: expected a name of 1-80 printable"),
    (badge(name="An\nPeeters"), "change 0: name: expected a name of 1-80 printable"),
    (badge(pin=None), "change 0: pin: a new badge needs a PIN"),
    (badge(pin="482"), "change 0: pin: expected a string of 4-12 digits"),
    (badge(pin="4806137295123"), "change 0: pin: expected a string of 4-12 digits"),
    (badge(pin="48o6"), "change 0: pin: expected a string of 4-12 digits"),
    (badge(pin=48061372), "change 0: pin: expected a string of 4-12 digits"),
    (badge(pin="٤٨٠٦"), "change 0: pin: expected a string of 4-12 digits"),
    (badge(pin="0000"), "change 0: pin: too easy to guess"),
    (badge(pin="123456"), "change 0: pin: too easy to guess"),
    (badge(pin="98765"), "change 0: pin: too easy to guess"),
    (badge(pin="7890"), "change 0: pin: too easy to guess"),
    (badge(admin=True), "change 0: admin: unknown field"),
    ({"type": "badge.revoke", "uid": UID}, "change 0: uid: no badge with this uid is enrolled at this kiosk"),
    ({"type": "badge.revoke", "uid": UID, "role": "staff"}, "change 0: role: unknown field"),
    ({"type": "badge.revoke"}, "change 0: uid: expected the badge's RFID id"),
])
def test_badge_refusals(store, change, message):
    with pytest.raises(ChangeError) as err:
        load(store, [change])
    assert err.value.problems == [err.value.problems[0]] and err.value.problems[0].startswith(message)
    for secret in (UID, UID.lower(), BADGE_PIN, str(change.get("pin"))):
        assert secret not in str(err.value) or secret == "None"
    assert badge_rows(store) == []


@pytest.mark.parametrize("pin,weak", [("0000", True), ("1234", True), ("4321", True), ("8901", True),
                                      ("012345678901", True), ("1235", False), ("1212", False), ("4806", False)])
def test_weak_pins(pin, weak):
    assert weak_pin(pin) is weak


def test_badge_uid_and_pin_never_in_the_database_file(store, tmp_path):
    load(store, [badge(), badge(uid="7f00a1b2c3", pin="9134725860", name="Bert"), {"type": "badge.revoke",
                                                                                   "uid": "7F00A1B2C3"}])
    with pytest.raises(ChangeError):
        load(store, [badge(pin="1111")])
    store.conn.execute("PRAGMA wal_checkpoint(FULL)")
    secrets = [UID, UID.lower(), BADGE_PIN, "7F00A1B2C3", "7f00a1b2c3", "9134725860", "1111"]
    files = list(tmp_path.iterdir())
    assert any(path.name.endswith(".db") for path in files)
    for path in files:
        data = path.read_bytes()
        for secret in secrets[:-1]:
            assert secret.encode() not in data, (path, secret)


# ---- loans: reservation tags ----------------------------------------------------------------------------------

TAGS = ["0a1b2c3d4e", "0A1B2C3D4F", "0A1B2C3D50"]


def loan(rid="L-1", tags=TAGS, status="awaiting_stock", pin="73105528", **extra):
    change = {"type": "reservation", "id": rid, "product": "party-material", "status": status, "pin": pin,
              "tags": tags}
    change.update(extra)
    return {k: v for k, v in change.items() if v is not None}


def tag_rows(store):
    return rows(store, "SELECT reservation_id, tag, returned_at FROM reservation_tags ORDER BY reservation_id, tag")


def test_loan_with_tags_awaiting_stock(store):
    load(store, [loan(), res("R-1", locker=3)])
    assert rows(store, "SELECT id, kind, status, locker, expires_at FROM reservations ORDER BY id") == [
        ("L-1", "loan", "awaiting_stock", None, None),  # pickup time starts when staff load it
        ("R-1", "pickup", "ready", 3, "2026-12-05T00:00:00.000+00:00")]
    assert tag_rows(store) == [("L-1", "0A1B2C3D4E", None), ("L-1", "0A1B2C3D4F", None), ("L-1", "0A1B2C3D50", None)]
    load(store, [loan(tags=None, pin=None, expires_at="2026-12-20T00:00:00+00:00")])  # update without tags keeps them
    assert len(tag_rows(store)) == 3 and rows(store, "SELECT kind FROM reservations WHERE id = 'L-1'") == [("loan",)]
    load(store, [loan(tags=["0A1B2C3D51"], pin=None)])  # new tags replace the old
    assert tag_rows(store) == [("L-1", "0A1B2C3D51", None)]
    load(store, [loan("L-2", tags=TAGS, pin="73105529", product="room-key")])  # freed tags can be lent again
    assert rows(store, "SELECT reservation_id FROM reservation_tags WHERE tag = '0A1B2C3D4E'") == [("L-2",)]


def test_a_returned_or_cancelled_loans_tags_can_be_lent_again(store):
    load(store, [loan("L-1"), loan("L-2", tags=["0B00000001"], pin="73105529")])
    store.conn.execute("UPDATE reservation_tags SET returned_at = 'r', return_locker = 1 WHERE reservation_id = 'L-1'")
    store.conn.execute("UPDATE reservations SET status = 'returned' WHERE id = 'L-1'")
    load(store, [{"type": "reservation.cancel", "id": "L-2"}])
    load(store, [loan("L-3", tags=[*TAGS, "0B00000001"], pin="73105530")])
    assert len(rows(store, "SELECT * FROM reservation_tags WHERE reservation_id = 'L-3'")) == 4


@pytest.mark.parametrize("change,message", [
    (loan(product="vouchers"), "change 0: tags: product vouchers is not lent with RFID tags"),
    (loan(tags=[]), "change 0: tags: expected a list of 1-100 RFID tag ids"),
    (loan(tags="0A1B2C3D4E"), "change 0: tags: expected a list of 1-100 RFID tag ids"),
    (loan(tags=["0A1B2C3D4E"] * 101), "change 0: tags: expected a list of 1-100 RFID tag ids"),
    (loan(tags=["0A1B2C3D4E", "0A1"]), "change 0: tags: item 1: expected 4-20 hexadecimal digits"),
    (loan(tags=["0A1B2C3D4E", "xyz"]), "change 0: tags: item 1: expected 4-20 hexadecimal digits"),
    (loan(tags=["0A1B2C3D4E", 12]), "change 0: tags: item 1: expected 4-20 hexadecimal digits"),
    (loan(tags=["0A1B2C3D4E", "0a1b2c3d4e"]), "change 0: tags: tag 0A1B2C3D4E appears twice"),
])
def test_tag_refusals(store, change, message):
    with pytest.raises(ChangeError) as err:
        load(store, [change])
    assert err.value.problems[0].startswith(message)
    assert rows(store, "SELECT COUNT(*) FROM reservations") == [(0,)] and tag_rows(store) == []


def test_a_tag_is_lent_by_one_open_loan_and_is_never_a_badge(store):
    load(store, [loan(), badge(uid="0B00000001")])
    with pytest.raises(ChangeError, match="change 0: tags: tag 0A1B2C3D4F belongs to open loan L-1"):
        load(store, [loan("L-2", tags=["0A1B2C3D4F"], pin="73105529")])
    with pytest.raises(ChangeError) as err:
        load(store, [loan("L-2", tags=["0C00000001", "0b00000001"], pin="73105529")])
    assert err.value.problems == ["change 0: tags: item 1 is an enrolled staff badge, not an item tag"]
    with pytest.raises(ChangeError, match="change 0: uid: this tag is an item of open loan L-1"):
        load(store, [badge(uid="0A1B2C3D50")])
    store.conn.execute("UPDATE reservations SET status = 'on_loan' WHERE id = 'L-1'")
    with pytest.raises(ChangeError, match="belongs to open loan L-1"):  # still out with the citizen
        load(store, [loan("L-2", tags=["0A1B2C3D4F"], pin="73105529")])


def test_loans_after_collection(store):
    load(store, [loan(status="ready", locker=3)])
    store.conn.execute("UPDATE reservations SET status = 'on_loan' WHERE id = 'L-1'")
    with pytest.raises(ChangeError, match="change 0: id: reservation L-1 is on_loan and can no longer change"):
        load(store, [loan(status="ready", locker=3)])
    with pytest.raises(ChangeError, match="L-1 is on_loan and can no longer be cancelled"):
        load(store, [{"type": "reservation.cancel", "id": "L-1"}])
    # its PIN is how the citizen returns it: not given out again while the items are out
    with pytest.raises(ChangeError, match="pin: this code is already in use"):
        load(store, [res("R-9", locker=4, pin="73105528")])
    store.conn.execute("UPDATE reservations SET status = 'returned' WHERE id = 'L-1'")
    load(store, [res("R-9", locker=4, pin="73105528")])


def test_a_locker_is_refused_until_staff_have_emptied_it(store):
    load(store, [res("R-1", locker=3), loan(status="ready", locker=4)])
    load(store, [{"type": "reservation.cancel", "id": "R-1"}])
    with pytest.raises(ChangeError, match="locker 3 still holds cancelled reservation R-1 until staff take it out"):
        load(store, [res("R-2", locker=3, pin="99998888")])
    store.conn.execute("UPDATE reservations SET status = 'on_loan' WHERE id = 'L-1'")
    store.conn.execute("UPDATE reservation_tags SET returned_at = 'r', return_locker = 5 WHERE tag = '0A1B2C3D4E'")
    with pytest.raises(ChangeError, match="locker 5 still holds returned items of loan L-1 until staff take it out"):
        load(store, [res("R-2", locker=5, pin="99998888")])
    load(store, [res("R-2", locker=4, pin="99998888")])  # the loan's pickup locker is empty again


def test_a_batch_of_badges_and_loans_is_all_or_nothing(store):
    with pytest.raises(ChangeError) as err:
        load(store, [badge(uid="0C00000002"), loan(), badge(uid="0C00000001", pin="2222", name="Bert"),
                     {"type": "badge.revoke", "uid": "0C00000002"}])
    assert err.value.problems == ["change 2: pin: too easy to guess (one digit repeated, or a run such as 1234 or"
                                  " 9876); choose another"]
    for table in ("badges", "reservations", "reservation_tags", "credentials", "audit"):
        assert rows(store, f"SELECT COUNT(*) FROM {table}") == [(0,)], table


@pytest.mark.parametrize("bad", [
    {"locker": 10**30}, {"locker": 0}, {"locker": -3},
    {"expires_at": "9999-12-31T23:59:59-10:00"}, {"expires_at": "0001-01-01T00:00:00+01:00"},
])
def test_out_of_range_numbers_and_times_are_refused_not_crashed(store, bad):
    with pytest.raises(ChangeError) as refused:
        load(store, [res(**bad)])
    assert any(next(iter(bad)) in problem for problem in refused.value.problems)
    assert rows(store, "SELECT COUNT(*) FROM reservations") == [(0,)]


def test_an_update_never_moves_a_loaded_item_back_to_awaiting_stock(store):
    """Staff loaded it here before the town hall heard of it; then the town hall extends the reservation it
    still thinks awaits stock: the kiosk keeps it ready in its locker and takes the new expiry."""
    from kioskd import inventory

    load(store, [{"type": "reservation", "id": "R-9", "product": "vouchers", "status": "awaiting_stock",
                  "pin": "73105528"}])
    inventory.record_loaded(store, "R-9", 2, "staff-badge-hash", NOW)
    load(store, [{"type": "reservation", "id": "R-9", "product": "vouchers", "status": "awaiting_stock",
                  "expires_at": "2027-01-31T00:00:00+00:00"}])
    assert rows(store, "SELECT status, locker, expires_at FROM reservations WHERE id = 'R-9'") == [
        ("ready", 2, "2027-01-31T00:00:00.000+00:00")]
