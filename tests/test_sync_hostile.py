"""Malformed and hostile answers from the town hall change nothing on the kiosk, are logged, and never end
the sync thread. The real server sits behind a proxy that replaces its answers."""

import json
import logging
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sync_support import FaultProxy, TownhallServer, kiosk_config, response

from kioskd.config import load_config
from kioskd.events import DeviceStatus
from kioskd.sim import Harness
from kioskd.sync import SyncClient

from conftest import wait_until

pytest.importorskip("townhall.api")
KIOSK = "sim-1"
TABLES = ("reservations", "credentials", "badges", "products", "reservation_tags", "meta", "alarms")


@pytest.fixture
def rig(tmp_path):
    """A kiosk (no token of its own: its built-in sync is off) and a client driven step by step."""
    from townhall import services

    server = TownhallServer(tmp_path / "townhall")
    proxy = FaultProxy(server.address)
    config_path = kiosk_config(tmp_path / "cfg", proxy.url, max_response_bytes=65536, refused_page_retries=3,
                               offline_after_failures=1)
    token = services.enrol(server.townhall, KIOSK, server.enrolment_code(KIOSK))
    services.create_reservation(server.townhall, kiosk_id=KIOSK, product="vouchers",
                                citizen=services.Citizen("An"), locker=3, notify=False)
    with Harness(config=config_path, data_dir=tmp_path / "data", start=time.time()) as k:
        posted = []
        config = load_config(config_path)
        client = SyncClient(config.sync, token=token, db_path=tmp_path / "data" / "kioskd.db", kiosk_id=KIOSK,
                            key=k.parts.key, pin_length=8, timezone="Europe/Brussels", lockers=(1, 2, 3),
                            door_is_open=k.parts.lock_bank.door_is_open, post=posted.append, clock=k.clock)
        client.open()
        for _ in range(3):  # push (nothing), pull the first page, heartbeat
            client.wake()
            client.step()
        assert client.store.meta("sync.cursor") is not None and posted[-1] == DeviceStatus("sync", True, "")
        services.create_reservation(server.townhall, kiosk_id=KIOSK, product="vouchers",
                                    citizen=services.Citizen("Bo"), locker=4, notify=False)
        with k.store.transaction():
            for n in range(3):
                k.store.add_outbox("sync.test", {"n": n}, k.clock.time())
        yield k, client, proxy, posted
        client.close()
    proxy.down()
    server.close()


def state(k):
    snap = {table: k.store.conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall() for table in TABLES}
    snap["outbox"] = k.store.conn.execute("SELECT id, sent_at FROM outbox ORDER BY seq").fetchall()
    return snap


def each_endpoint(client):
    for _ in range(3):
        client.wake()
        client.step()


ENDPOINT = {"/changes": "pull", "/events": "push", "/heartbeat": "heartbeat"}


def only(client, path, times=3):
    """Steps that make just the request to ``path``: with events pending, a push would come first and meet
    the 503 that ``hostile`` gives every other path, and the hostile answer would never be read."""
    for _ in range(times):
        client.wake()
        client._due = {name: 0.0 if name == ENDPOINT[path] else float("inf") for name in client._due}
        client.step()


def hostile(path, body, status=200, headers=None):
    """``path`` gets this answer; the other endpoints are down meanwhile, so only it could change anything."""
    def rewrite(method, request_path, _status, _body):
        if request_path.endswith(path):
            return response(status, body, headers)
        return response(503, b'{"error": "down"}')
    return rewrite


CHANGE = {"type": "reservation", "id": "R-EVIL", "product": "vouchers", "status": "ready", "locker": 5,
          "pin": "12345678"}
HOSTILE = [
    ("/changes", b"<html>not json</html>"),
    ("/changes", b"[]"),
    ("/changes", b'{"changes": "all", "cursor": "99", "more": false}'),
    ("/changes", json.dumps({"changes": [CHANGE], "cursor": 99, "more": False}).encode()),
    ("/changes", json.dumps({"changes": [CHANGE], "cursor": "1", "more": False}).encode()),  # backwards
    ("/changes", json.dumps({"changes": [dict(CHANGE, kiosk_id="other-7")], "cursor": "99"}).encode()),
    ("/changes", json.dumps({"changes": [CHANGE] * 300, "cursor": "99", "more": False}).encode()),  # > limit
    ("/changes", json.dumps({"changes": [dict(CHANGE, locker=77)], "cursor": "99", "more": False}).encode()),
    ("/changes", json.dumps({"changes": [CHANGE], "cursor": "99", "more": "yes"}).encode()),
    ("/changes", b"[" * 100_000),  # nesting too deep for the parser
    ("/changes", b'{"changes": [], "cursor": "' + b"9" * 70_000 + b'", "more": false}'),  # over the size cap
    ("/events", b'{"acked": "everything"}'),
    ("/events", json.dumps({"acked": [str(uuid.uuid4()) for _ in range(50)]}).encode()),  # never sent
    ("/events", b'{"acked": [1, 2, 3]}'),
    ("/events", b"\xff\xfe garbage"),
    ("/heartbeat", b'{"server_time": "yesterday"}'),
    ("/heartbeat", b"null"),
]


@pytest.mark.parametrize(("path", "body"), HOSTILE, ids=[f"{p}-{i}" for i, (p, _b) in enumerate(HOSTILE)])
def test_a_hostile_answer_changes_nothing(rig, path, body, caplog):
    k, client, proxy, _posted = rig
    caplog.set_level(logging.WARNING, logger="kioskd.sync")
    before = state(k)
    proxy.rewrite = hostile(path, body)
    mark = len(proxy.requests)
    only(client, path)
    assert {p for _m, p in proxy.requests[mark:]} == {"/api/v1" + path}  # the hostile answer was read
    assert state(k) == before
    assert caplog.records and all(r.name == "kioskd.sync" for r in caplog.records)
    assert client.last_error or any("refused" in r.getMessage() for r in caplog.records)
    proxy.rewrite = None  # and then the honest answers get through
    for _ in range(6):
        each_endpoint(client)
    assert wait_until(lambda: (each_endpoint(client), state(k) != before)[1], 5)


def test_acks_for_ids_not_in_the_batch_mark_nothing(rig):
    k, client, proxy, _posted = rig
    pending = [e["id"] for e in k.outbox()]
    batch = {"n": 0}

    def ack_the_others(method, path, status, body):
        if not path.endswith("/events"):
            return None
        batch["n"] += 1
        return response(200, json.dumps({"acked": pending[1:]}).encode())  # the batch sent holds only pending[0]

    client.settings = client.settings.__class__(**{**client.settings.__dict__, "batch_size": 1})
    proxy.rewrite = ack_the_others
    client.wake()
    client.step()
    assert batch["n"] == 1 and [e["id"] for e in k.outbox()] == pending


def test_errors_and_busy_answers_back_off_and_report_offline(rig):
    k, client, proxy, posted = rig
    proxy.rewrite = hostile("/events", b'{"error": "internal"}', status=500)
    client.wake()
    delay = client.step()
    assert 0 < delay <= client.settings.backoff_max_seconds
    assert posted[-1].device == "sync" and not posted[-1].ok
    proxy.rewrite = hostile("/events", b'{"error": "rate_limited"}', status=429, headers={"Retry-After": "7"})
    client.wake()
    assert client.step() == pytest.approx(7, abs=0.1)  # Retry-After honoured
    proxy.rewrite = hostile("/events", b'{"error": "unauthorized"}', status=401)
    client.wake()
    client.step()
    assert "enrol it again" in client.last_error
    proxy.rewrite = None
    client.wake()
    client.step()
    assert posted[-1] == DeviceStatus("sync", True, "") and not k.outbox()


def test_random_answers_never_crash_and_change_nothing(rig):
    k, client, proxy, _posted = rig
    before = state(k)
    json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=6),
                               lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                                   st.sampled_from(["changes", "cursor", "more", "acked", "server_time", "x"]),
                                   inner, max_size=4), max_leaves=10)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(["/changes", "/events", "/heartbeat"]), json_values | st.binary(max_size=40))
    def answer(path, value):
        body = value if isinstance(value, bytes) else json.dumps(value).encode()
        if b'"acked"' in body or b'"changes"' in body:  # keep answers that could be honest out of it
            body = b"!" + body
        proxy.rewrite = hostile(path, body)
        only(client, path, times=1)
        assert state(k) == before

    answer()


def test_a_batch_the_town_hall_keeps_refusing_does_not_starve_the_feed(rig):
    """Every POST /events answers 422; the pull and the heartbeat still get their turns, and the changes the
    town hall sends meanwhile arrive. The refused events stay pending, never marked sent."""
    k, client, proxy, _posted = rig

    def refuse_events(method, path, status, body):
        if path.endswith("/events"):
            return response(422, b'{"error": "invalid", "detail": "refused"}')
        return None

    proxy.rewrite = refuse_events
    mark = len(proxy.requests)
    client._due = {name: 0.0 for name in client._due}  # everything due at once, the push first
    for _ in range(10):
        client.step()
        client._resume_at = 0.0  # skip the backoff's wait: the order of the requests is what is tested
        if "/api/v1/heartbeat" in [p for _m, p in proxy.requests[mark:]]:
            break
    paths = [p for _m, p in proxy.requests[mark:]]
    assert "/api/v1/events" in paths and "/api/v1/changes" in paths and "/api/v1/heartbeat" in paths
    assert k.store.conn.execute("SELECT COUNT(*) FROM reservations WHERE locker = 4").fetchone() == (1,)
    assert all(e["sent_at"] is None for e in k.outbox())
