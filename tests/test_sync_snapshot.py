"""The snapshot: a kiosk without a cursor starts from it, and every night at sync.snapshot_at it reconciles
with it (docs/sync.md). Rules on a bare store first, then against the real town-hall server on 127.0.0.1:
a fresh kiosk gets its PINs from the snapshot although the feed has erased them, the nightly run with a fake
clock, hostile snapshot bodies, and the main loop waking the push."""

import json
import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
from test_sync_support import FaultProxy, TownhallServer, kiosk_config, response

from kioskd.catalogue import seed_catalogue
from kioskd.changes import CURSOR_KEY, apply_changes
from kioskd.clock import iso
from kioskd.config import ConfigError, load_config, parse_config
from kioskd.events import DeviceStatus
from kioskd.identify import badge_digest
from kioskd.reconcile import RECONCILED_KEY, reconcile
from kioskd.secrets import keyed_hash
from kioskd.sim import Harness
from kioskd.store import Store
from kioskd.sync import BadResponse, SyncClient, next_local_time, parse_snapshot

from conftest import SIM_CONFIG, reservation, wait_until

KEY = b"k" * 32
NOW = 1_796_000_000.0
KIOSK = "sim-1"
TZ = "Europe/Brussels"


# ---- config and schedule -----------------------------------------------------------------------------


def test_snapshot_at_is_a_local_time_of_day(tmp_path):
    assert load_config(kiosk_config(tmp_path, "https://th.example.be")).sync.snapshot_at == "03:30"
    for bad in ("3:30", "24:00", "03:60", "noon", "０３:３０"):
        with pytest.raises(ConfigError) as caught:
            parse_config(SIM_CONFIG.read_text() + f'\n[sync]\nserver = "https://x.be"\nsnapshot_at = "{bad}"\n',
                         "k.toml")
        assert "k.toml: sync.snapshot_at: expected a local time of day as HH:MM" in "\n".join(caught.value.problems)


def utc(*args):
    return datetime(*args, tzinfo=UTC).timestamp()


def test_the_nightly_time_is_local_and_survives_daylight_saving():
    assert next_local_time(utc(2026, 3, 28, 12), "03:30", TZ) == utc(2026, 3, 29, 1, 30)  # CEST from 02:00
    assert next_local_time(utc(2026, 10, 24, 12), "03:30", TZ) == utc(2026, 10, 25, 2, 30)  # CET again
    assert next_local_time(utc(2026, 7, 1, 1, 30), "03:30", TZ) == utc(2026, 7, 2, 1, 30)  # not the same moment
    skipped = next_local_time(utc(2026, 3, 28, 12), "02:30", TZ)  # does not exist that night: still once
    assert utc(2026, 3, 29, 0) <= skipped <= utc(2026, 3, 29, 2)


# ---- the rules, on a bare store ----------------------------------------------------------------------


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "kioskd.db")
    seed_catalogue(s)
    with s.transaction() as conn:
        for n in range(1, 10):
            conn.execute("INSERT INTO lockers (number, size, row, col) VALUES (?, 'L', 1, ?)", (n, n))
    yield s
    s.close()


def rows(store, table):
    return store.conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()


def status(store, rid):
    row = store.conn.execute("SELECT status, locker, expires_at FROM reservations WHERE id = ?", (rid,)).fetchone()
    return row and tuple(row)


def has_pin(store, rid, pin):
    return store.conn.execute("SELECT 1 FROM credentials WHERE reservation_id = ? AND digest = ?",
                              (rid, keyed_hash(KEY, "pin", pin))).fetchone() is not None


def test_reconciliation_adds_what_is_missing_and_leaves_what_the_kiosk_has_moved_on(store):
    apply_changes(store, [
        reservation("R-SAME", locker=1, pin="10000001"), reservation("R-UPD", locker=2, pin="10000002"),
        reservation("R-COLL", locker=3, pin="10000003"), reservation("R-LOADED", status="awaiting_stock",
                                                                     locker=None, pin="10000004"),
        reservation("R-CANC", locker=6, pin="10000006"), reservation("R-LOCAL", locker=5, pin="10000005")],
        key=KEY, pin_length=8, now=NOW, source="sync", cursor="7")
    with store.transaction() as conn:  # what the kiosk did since: a pickup, staff loading, a cancellation
        conn.execute("UPDATE reservations SET status = 'collected' WHERE id = 'R-COLL'")
        conn.execute("UPDATE reservations SET status = 'ready', locker = 4,"
                     " expires_at = '2026-12-09T00:00:00.000+00:00' WHERE id = 'R-LOADED'")
        conn.execute("UPDATE reservations SET status = 'cancelled' WHERE id = 'R-CANC'")
    before = {table: rows(store, table) for table in ("reservations", "credentials", "badges", "products")}
    snapshot = [
        {"type": "product", "code": "bike-lock", "identification": "code", "returnable": True, "rfid_tagged": True,
         "locker_size": "M", "pickup_days": 3, "requestable": False,
         "names": {"nl": "Fietsslot", "fr": "Antivol", "en": "Bike lock"}},
        {"type": "badge", "uid": "0A1B2C3D4E", "role": "staff", "name": "An Peeters"},  # no PIN: not enrolled
        {"type": "badge", "uid": "0A1B2C3D4F", "role": "technician", "name": "Bo", "pin": "480613"},
        reservation("R-SAME", locker=1, pin="10000001"),
        reservation("R-UPD", locker=2, pin="20000002", expires_at="2026-12-20T00:00:00+00:00"),
        reservation("R-COLL", locker=3, pin="10000003"),
        reservation("R-LOADED", status="awaiting_stock", locker=None, pin="10000004"),
        reservation("R-CANC", locker=6, pin="10000006"),
        reservation("R-NEW", locker=7, pin="30000007"),
        reservation("R-CLASH", locker=5, pin="30000005"),  # locker 5 holds R-LOCAL
        reservation("R-BADPIN", locker=8, pin="123"),
    ]
    report = reconcile(store, json.loads(json.dumps(snapshot)), key=KEY, pin_length=8, now=NOW + 60, cursor="9",
                       kiosk_cursor="7")
    assert report.added == ["R-NEW"] and report.updated == ["R-UPD"]
    assert sorted(report.kiosk_ahead) == ["R-CANC", "R-COLL", "R-LOADED"]
    assert report.kiosk_only == ["R-LOCAL"]
    assert [(r["id"], r["problems"][0].split(":")[0]) for r in report.refused] == [("R-CLASH", "locker"),
                                                                                   ("R-BADPIN", "pin")]
    assert report.badges_not_enrolled == 1 and report.badges_updated == 1 and report.products_updated == 1
    assert report.unchanged >= 1
    # added with its PIN; updated with the town hall's PIN and expiry; the kiosk's own moves kept
    assert status(store, "R-NEW")[:2] == ("ready", 7) and has_pin(store, "R-NEW", "30000007")
    assert has_pin(store, "R-UPD", "20000002") and not has_pin(store, "R-UPD", "10000002")
    assert status(store, "R-UPD")[2].startswith("2026-12-20T00:00:00")
    after = {table: rows(store, table) for table in ("reservations", "credentials", "badges", "products")}
    untouched = [r for r in before["reservations"] if r[0] not in ("R-UPD",)]
    assert [r for r in after["reservations"] if r[0] not in ("R-UPD", "R-NEW")] == untouched
    assert status(store, "R-COLL")[0] == "collected" and status(store, "R-CANC")[0] == "cancelled"
    assert status(store, "R-LOADED") == ("ready", 4, "2026-12-09T00:00:00.000+00:00")
    # a badge comes with the PIN the kiosk has not confirmed yet; without one it cannot be enrolled
    assert before["badges"] == [] and [(b[1], b[3]) for b in after["badges"]] == [("technician", "Bo")]
    assert after["badges"][0][0] == badge_digest(KEY, "0A1B2C3D4F")
    assert store.meta(CURSOR_KEY) == "7"  # the feed's cursor is not moved by a nightly snapshot
    assert store.meta(RECONCILED_KEY) == iso(NOW + 60)
    [event] = [e for e in store.outbox() if e["type"] == "sync.reconciled"]
    assert event["payload"]["kiosk_only"] == ["R-LOCAL"] and event["payload"]["counts"]["refused"] == 2
    text = json.dumps(event)
    assert not any(secret in text for secret in ("30000007", "20000002", "30000005", "10000005", "0A1B2C3D4", "480613"))
    # a second run finds nothing left to change
    again = reconcile(store, json.loads(json.dumps(snapshot)), key=KEY, pin_length=8, now=NOW + 120, cursor="9",
                      kiosk_cursor="7")
    assert again.added == again.updated == [] and len(again.refused) == 2


def test_a_kiosk_starting_from_the_snapshot_takes_its_cursor(store):
    reconcile(store, [reservation("R-1", locker=1)], key=KEY, pin_length=8, now=NOW, cursor="41", kiosk_cursor=None)
    assert store.meta(CURSOR_KEY) == "41" and status(store, "R-1")[0] == "ready" and has_pin(store, "R-1", "40213377")
    assert store.outbox()[-1]["payload"]["first"] is True


SNAPSHOT_HOSTILE = [
    ("not an object", []),
    ("changes not a list", {"cursor": "5", "changes": {}}),
    ("cursor a number", {"cursor": 5, "changes": []}),
    ("cursor too long", {"cursor": "9" * 300, "changes": []}),
    ("another kiosk", {"cursor": "5", "changes": [reservation(kiosk_id="other-7")]}),
    ("addressed elsewhere", {"cursor": "5", "changes": [], "kiosk": "other-7"}),
    ("a cancellation", {"cursor": "5", "changes": [{"type": "reservation.cancel", "id": "R-1"}]}),
    ("no id", {"cursor": "5", "changes": [{"type": "reservation", "product": "vouchers", "status": "ready"}]}),
    ("an id that is a list", {"cursor": "5", "changes": [reservation(id=["R-1"])]}),
    ("twice", {"cursor": "5", "changes": [reservation(), reservation(locker=4)]}),
    ("a string", {"cursor": "5", "changes": ["reservation"]}),
    ("behind the kiosk", {"cursor": "3", "changes": []}),
]


@pytest.mark.parametrize(("why", "body"), SNAPSHOT_HOSTILE, ids=[w for w, _b in SNAPSHOT_HOSTILE])
def test_snapshot_answers_that_break_the_contract_are_refused_whole(why, body):
    with pytest.raises(BadResponse, match="snapshot"):
        parse_snapshot(body, after="4", kiosk_id=KIOSK)


# ---- against the real town-hall server ---------------------------------------------------------------

pytest.importorskip("townhall.api")


def create(server, locker=None, **extra):
    from townhall import services

    return services.create_reservation(server.townhall, kiosk_id=KIOSK, product="vouchers",
                                       citizen=services.Citizen("An Peeters"), locker=locker, notify=False, **extra)


def enrolled(tmp_path, server, url, **sync):
    import re

    from kioskd import ctl

    path = kiosk_config(tmp_path / "cfg", url, **sync)
    path.write_text(re.sub(r'qr_public_key = "[^"]*"', f'qr_public_key = "{server.townhall.qr_public_key}"',
                           path.read_text()))
    assert ctl.main(["--config", str(path), "--data-dir", str(tmp_path / "data"), "enrol", "--server", server.url,
                     "--code", server.enrolment_code(KIOSK)]) == 0
    return path


def kiosk_has(k, rid):
    return k.store.conn.execute("SELECT 1 FROM reservations WHERE id = ?", (rid,)).fetchone() is not None


def all_sent(k):
    return k.store.conn.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0] == 0


@pytest.fixture
def server(tmp_path):
    s = TownhallServer(tmp_path / "townhall")
    yield s
    s.close()


def test_a_fresh_kiosk_gets_its_pins_from_the_snapshot_and_a_citizen_collects(tmp_path, server):
    from townhall import exchange, services

    services.create_kiosk(server.townhall, KIOSK)
    made = [create(server, locker=3), create(server)]  # one ready, one awaiting stock
    # the kiosk this one replaces had confirmed the feed: its PINs are erased there
    _page, cursor, _more = exchange.changes_page(server.townhall, KIOSK, None, 100)
    exchange.changes_page(server.townhall, KIOSK, cursor, 100)
    replayed, _c, _m = exchange.changes_page(server.townhall, KIOSK, None, 100)
    assert replayed and not any("pin" in change for change in replayed)
    proxy = FaultProxy(server.address)
    try:
        config = enrolled(tmp_path, server, proxy.url)
        with Harness(config=config, data_dir=tmp_path / "data", start=time.time()) as k:
            assert wait_until(lambda: all(kiosk_has(k, c.reservation.id) for c in made) and all_sent(k), 10)
            assert wait_until(lambda: ("GET", "/api/v1/changes") in proxy.requests, 5)  # then the feed
            assert [path for method, path in proxy.requests if method == "GET"][0] == "/api/v1/snapshot"
            assert k.store.meta(CURSOR_KEY) == str(cursor)
            k.press("pickup")
            k.press("method:pin")
            k.type_code(made[0].pin)
            assert k.released[-1][0] == 3
            k.open_door(3)
            k.close_door(3)
            k.press("done")
            assert wait_until(lambda: services.get_reservation(server.townhall, made[0].reservation.id).status
                              == "collected", 10)
        [report] = [p for _i, t, p in server.events(KIOSK) if t == "sync.reconciled"]
        assert report["first"] and sorted(report["added"]) == sorted(c.reservation.id for c in made)
        assert made[0].pin not in json.dumps(report)
    finally:
        proxy.down()


@pytest.fixture
def rig(tmp_path, server):
    """A kiosk (its own sync off: no token) and a client on the same database driven step by step with the
    harness's fake clock, through a proxy that can replace the server's answers."""
    from townhall import services

    proxy = FaultProxy(server.address)
    config_path = kiosk_config(tmp_path / "cfg", proxy.url, offline_after_failures=1, pull_interval_seconds=30,
                               push_interval_seconds=30, heartbeat_interval_seconds=30, max_response_bytes=65536)
    token = services.enrol(server.townhall, KIOSK, server.enrolment_code(KIOSK))
    with Harness(config=config_path, data_dir=tmp_path / "data", start=time.time()) as k:
        config = load_config(config_path)
        client = SyncClient(config.sync, token=token, db_path=tmp_path / "data" / "kioskd.db", kiosk_id=KIOSK,
                            key=k.parts.key, pin_length=8, timezone=config.kiosk.timezone, lockers=(1, 2, 3),
                            door_is_open=k.parts.lock_bank.door_is_open, post=lambda event: None, clock=k.clock)
        client.open()
        yield k, client, proxy
        client.close()
    proxy.down()


def steps(client, n=3):
    for _ in range(n):
        client.wake()
        client.step()


def sync_state(k):
    tables = ("reservations", "credentials", "badges", "products", "reservation_tags", "meta", "audit")
    snap = {table: k.store.conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall() for table in tables}
    snap["outbox"] = k.store.conn.execute("SELECT id, sent_at FROM outbox ORDER BY seq").fetchall()
    return snap


def test_the_nightly_reconciliation_at_the_local_time(rig, server):
    from townhall import exchange, services

    k, client, proxy = rig
    kept = create(server, locker=1)
    steps(client)  # the first: from the snapshot
    assert kiosk_has(k, kept.reservation.id) and k.store.meta(CURSOR_KEY) is not None
    # the kiosk's state and the town hall's drift apart: a reservation loaded here from a file, changes the
    # kiosk never applied (its cursor moved past them), one the kiosk cannot take
    k.load([reservation("R-LOCAL", locker=7, pin="55512345", product="vouchers")])
    missed, clash = create(server, locker=2), create(server, locker=7)
    services.extend_reservation(server.townhall, kept.reservation.id, datetime.now(UTC) + timedelta(days=30),
                                notify=False)
    _page, top, _more = exchange.changes_page(server.townhall, KIOSK, None, 500)
    with k.store.transaction() as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = ?", (str(top), CURSOR_KEY))
    before = len(proxy.requests)
    nightly = next_local_time(k.clock.time(), "03:30", TZ)
    k.clock.set(nightly - 60)
    steps(client)
    assert ("GET", "/api/v1/snapshot") not in proxy.requests[before:]
    with k.store.transaction():
        k.store.add_outbox("sync.test", {"n": 1}, k.clock.time())  # the push comes first, as every night
    before = len(proxy.requests)
    k.clock.set(nightly + 1)
    for _ in range(3):  # as the thread would, without wake(): only what is due
        client.step()
    assert proxy.requests[before:] == [("POST", "/api/v1/events"), ("GET", "/api/v1/changes"),
                                       ("GET", "/api/v1/snapshot")]
    assert kiosk_has(k, missed.reservation.id) and not kiosk_has(k, clash.reservation.id)
    assert k.store.conn.execute("SELECT 1 FROM credentials WHERE reservation_id = ? AND digest = ?",
                                (missed.reservation.id, keyed_hash(k.parts.key, "pin", missed.pin))).fetchone()
    expires = k.store.conn.execute("SELECT expires_at FROM reservations WHERE id = ?",
                                   (kept.reservation.id,)).fetchone()[0]
    assert expires[:10] == services.get_reservation(server.townhall, kept.reservation.id).expires_at.isoformat()[:10]
    assert status(k.store, "R-LOCAL")[:2] == ("ready", 7)
    assert k.store.meta(CURSOR_KEY) == str(top)
    steps(client, 2)  # the report goes out; no second snapshot the same night
    assert [r for r in proxy.requests[before:] if r[1] == "/api/v1/snapshot"] == [("GET", "/api/v1/snapshot")]
    [report] = [p for _i, t, p in server.events(KIOSK) if t == "sync.reconciled" and not p["first"]]
    assert report["added"] == [missed.reservation.id] and report["updated"] == [kept.reservation.id]
    assert report["kiosk_only"] == ["R-LOCAL"]
    assert [(r["id"], r["problems"][0]) for r in report["refused"]] == [
        (clash.reservation.id, "locker: locker 7 already holds reservation R-LOCAL")]
    assert clash.pin not in json.dumps(report) and missed.pin not in json.dumps(report)
    assert client._next_snapshot == next_local_time(nightly + 1, "03:30", TZ)


FRESH_HOSTILE = [b"<html>", b"[]", b'{"cursor": "9", "changes": "all"}', b'{"cursor": 9, "changes": []}',
                 json.dumps({"cursor": "9", "changes": [reservation(locker=4, kiosk_id="other-7")]}).encode(),
                 json.dumps({"cursor": "9", "changes": [{"type": "badge.revoke", "uid": "0A1B2C3D"}]}).encode(),
                 json.dumps({"cursor": "9", "changes": [reservation(locker=4)] * 2}).encode(),
                 b'{"cursor": "9", "changes": [' + b"[" * 100_000 + b"]}",
                 b'{"cursor": "9", "changes": [], "x": "' + b"9" * 70_000 + b'"}']


@pytest.mark.parametrize("body", FRESH_HOSTILE, ids=range(len(FRESH_HOSTILE)))
def test_a_hostile_snapshot_changes_nothing(rig, server, body, caplog):
    k, client, proxy = rig
    create(server, locker=3)
    client.push()  # what the kiosk had to tell is told: only the snapshot could change anything now
    caplog.set_level(logging.WARNING, logger="kioskd.sync")
    before = sync_state(k)

    def rewrite(method, path, status, answer):
        return response(200, body) if path.endswith("/snapshot") else None
    proxy.rewrite = rewrite
    steps(client)
    assert sync_state(k) == before and k.store.meta(CURSOR_KEY) is None
    assert "/api/v1/changes" not in [path for _m, path in proxy.requests]  # no feed without the snapshot
    assert any("snapshot" in r.getMessage() for r in caplog.records)
    proxy.rewrite = None
    steps(client)
    assert k.store.meta(CURSOR_KEY) is not None and sync_state(k) != before


def test_the_main_loop_wakes_the_push(tmp_path, server):
    config = enrolled(tmp_path, server, server.url, push_interval_seconds=30, pull_interval_seconds=30,
                      heartbeat_interval_seconds=30)
    with Harness(config=config, data_dir=tmp_path / "data", start=time.time()) as k:
        assert wait_until(lambda: k.store.meta(CURSOR_KEY) is not None and all_sent(k), 10)
        time.sleep(0.2)  # the push after the snapshot's report is done; the next is 30 s away

        def at_server(event_type):
            return any(t == event_type for _i, t, _p in server.events(KIOSK))
        started = time.monotonic()
        k.kiosk.post(DeviceStatus("rfid", False, "unplugged"))
        k.settle()  # the main loop commits alarm.device_down and wakes the push
        assert wait_until(lambda: at_server("alarm.device_down"), 5)
        assert time.monotonic() - started < 2
        k.kiosk.watch_outbox(None)  # without the hook the event waits for the interval
        k.kiosk.post(DeviceStatus("rfid", True, ""))
        k.settle()
        time.sleep(1.0)
        assert not at_server("alarm.device_down.cleared") and not all_sent(k)
