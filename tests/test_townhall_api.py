"""The kiosk API v1 over real HTTP (uvicorn on 127.0.0.1): enrolment, auth, events, feed, snapshot, heartbeat,
rate cap, errors."""

import uuid

import httpx
import pytest
from sqlalchemy import func, select
from townhall_helpers import Clock, enrol, running_server

from townhall import services
from townhall.models import Change, Event, Reservation
from townhall.services import Citizen


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def server(tmp_path, clock):
    with running_server(tmp_path, clock) as pair:
        yield pair


def _event(etype, payload, event_id=None):
    return {"id": event_id or str(uuid.uuid4()), "type": etype, "payload": payload,
            "created_at": "2026-11-30T21:00:00+00:00"}


def _reserve(th, kiosk="aalter-1", **kw):
    kw.setdefault("product", "vouchers")
    return services.create_reservation(th, kiosk_id=kiosk, citizen=Citizen("An Peeters", "an@example.org"), **kw)


def _walk_feed(client, limit=500):
    changes, cursor = [], None
    while True:
        params = {"limit": limit} | ({"after": cursor} if cursor else {})
        page = client.get("/api/v1/changes", params=params).json()
        changes += page["changes"]
        cursor = page["cursor"]
        if not page["more"]:
            return changes, cursor


def test_enrolment_works_once_and_a_new_enrolment_cuts_the_old_token(server):
    th, url = server
    code, _ = services.create_enrolment_code(th, "aalter-1")
    first = httpx.post(f"{url}/api/v1/enrol", json={"kiosk_id": "aalter-1", "code": code.lower()})
    assert first.status_code == 200
    body = first.json()
    assert body["kiosk_id"] == "aalter-1" and body["api_version"] == 1 and len(body["token"]) >= 43
    assert body["qr_public_key"] == th.qr_public_key
    again = httpx.post(f"{url}/api/v1/enrol", json={"kiosk_id": "aalter-1", "code": code})
    assert again.status_code == 403 and again.json()["error"] == "enrolment_refused"
    old = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {body['token']}"})
    assert old.get("/api/v1/changes").status_code == 200
    new = enrol(th, url, "aalter-1")  # the replacement kiosk
    assert new.get("/api/v1/changes").status_code == 200
    cut = old.get("/api/v1/changes")
    assert cut.status_code == 401 and cut.json()["error"] == "unauthorized"
    assert "token" not in str(th.engine.url)  # the token itself is stored nowhere
    with th.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Change)) > 0


def test_wrong_expired_and_other_kiosks_codes_are_refused_alike(server, clock):
    th, url = server
    code, _ = services.create_enrolment_code(th, "aalter-1")
    services.create_kiosk(th, "aalter-2")
    answers = [httpx.post(f"{url}/api/v1/enrol", json={"kiosk_id": kiosk, "code": attempt}) for kiosk, attempt in
               (("aalter-1", "AAAA-BBBB-CCCC"), ("aalter-2", code), ("nowhere", code))]
    clock.advance(24 * 3600 + 1)
    answers.append(httpx.post(f"{url}/api/v1/enrol", json={"kiosk_id": "aalter-1", "code": code}))
    assert {a.status_code for a in answers} == {403}
    assert len({a.text for a in answers}) == 1  # the answer does not say which of the reasons it was


def test_enrolment_attempts_are_rate_capped(server):
    th, url = server
    statuses = [httpx.post(f"{url}/api/v1/enrol", json={"kiosk_id": "aalter-1", "code": "XXXX-XXXX-XXXX"})
                for _ in range(7)]
    assert statuses[-1].status_code == 429 and int(statuses[-1].headers["Retry-After"]) >= 1


def test_no_token_or_a_wrong_one_is_401_and_a_kiosk_sees_only_its_own_feed(server):
    th, url = server
    a, b = enrol(th, url, "kiosk-a"), enrol(th, url, "kiosk-b")
    for path in ("/api/v1/changes", "/api/v1/snapshot"):
        bare = httpx.get(url + path)
        assert bare.status_code == 401 and bare.headers["WWW-Authenticate"] == "Bearer"
        assert bare.json() == {"error": "unauthorized", "detail": "missing or wrong bearer token"}
        assert httpx.get(url + path, headers={"Authorization": "Bearer " + "x" * 43}).status_code == 401
        assert httpx.get(url + path, headers={"Authorization": "Basic abc"}).status_code == 401
    assert httpx.post(f"{url}/api/v1/events", json={"events": []}).status_code == 401
    for_b = _reserve(th, kiosk="kiosk-b")
    a_changes, _ = _walk_feed(a)
    b_changes, _ = _walk_feed(b)
    assert for_b.reservation.id not in str(a_changes)
    assert [c for c in b_changes if c["type"] == "reservation"][0]["pin"] == for_b.pin
    assert for_b.reservation.id not in str(a.get("/api/v1/snapshot").json())
    # kiosk A reporting B's reservation changes nothing
    a.post("/api/v1/events", json={"events": [_event("pickup.collected", {"reservation": for_b.reservation.id})]})
    assert services.get_reservation(th, for_b.reservation.id).status == "awaiting_stock"


def test_events_are_held_once_and_applied_once(server):
    th, url = server
    kiosk = enrol(th, url, "aalter-1")
    loan = _reserve(th, product="room-key", kind="loan", tags=["0a1b2c3d4e", "0A1B2C3D4F"]).reservation
    batch = [_event("reservation.loaded", {"reservation": loan.id, "kind": "loan", "locker": 4,
                                           "expires_at": "2026-12-07T00:00:00+00:00",
                                           "loaded_at": "2026-11-30T09:00:00+00:00", "staff": "Staff"}),
             _event("pickup.collected", {"reservation": loan.id, "locker": 4, "method": "pin",
                                         "collected_at": "2026-11-30T21:30:00+00:00"}),
             _event("loan.returned", {"reservation": loan.id, "locker": 5, "tags": ["0A1B2C3D4E"],
                                      "outstanding": ["0A1B2C3D4F"], "complete": False}),
             _event("locker.suspect", {"locker": 7}), _event("alarm.door_forced", {"locker": 2, "at": "x"})]
    ids = [e["id"] for e in batch]
    for _ in range(2):
        answer = kiosk.post("/api/v1/events", json={"events": batch})
        assert answer.status_code == 200 and answer.json() == {"acked": ids}
    view = services.get_reservation(th, loan.id)
    assert (view.status, view.locker, view.returned_tags) == ("partially_returned", 4, ["0A1B2C3D4E"])
    assert view.ready_at.isoformat().startswith("2026-11-30T09:00")
    with th.sessions() as session:
        held = session.execute(select(Event.type, Event.applied)).all()
    assert sorted(held) == sorted([("reservation.loaded", True), ("pickup.collected", True),
                                   ("loan.returned", True), ("locker.suspect", False),
                                   ("alarm.door_forced", True)])
    assert [a.kind for a in services.active_alarms(th, "aalter-1")] == ["door_forced"]
    # the same id with another payload: acknowledged, changes nothing
    forged = _event("loan.returned", {"reservation": loan.id, "tags": ["0A1B2C3D4F"], "complete": True}, ids[2])
    assert kiosk.post("/api/v1/events", json={"events": [forged]}).json() == {"acked": [ids[2]]}
    assert services.get_reservation(th, loan.id).status == "partially_returned"
    # the rest comes back, staff take it out, the alarm clears
    kiosk.post("/api/v1/events", json={"events": [
        _event("loan.returned", {"reservation": loan.id, "locker": 5, "tags": ["0A1B2C3D4F"], "complete": True}),
        _event("locker.emptied", {"locker": 5, "items": [{"reservation": loan.id, "was": "returned",
                                                          "tags": ["0A1B2C3D4E", "0A1B2C3D4F"], "closed": True}]}),
        _event("alarm.door_forced.cleared", {"locker": 2})]})
    view = services.get_reservation(th, loan.id)
    assert view.status == "closed" and view.returned_at is not None and view.closed_at is not None
    assert services.active_alarms(th, "aalter-1") == []
    with th.sessions() as session:
        assert session.get(Reservation, loan.id).pin_sealed is None  # finished: its PIN is gone


def test_events_out_of_order_end_in_the_same_state(server):
    th, url = server
    kiosk = enrol(th, url, "aalter-1")
    rid = _reserve(th).reservation.id
    kiosk.post("/api/v1/events", json={"events": [
        _event("pickup.collected", {"reservation": rid, "locker": 3, "collected_at": "2026-11-30T22:00:00+00:00"})]})
    kiosk.post("/api/v1/events", json={"events": [
        _event("reservation.loaded", {"reservation": rid, "locker": 3, "loaded_at": "2026-11-30T10:00:00+00:00"})]})
    view = services.get_reservation(th, rid)
    assert (view.status, view.locker) == ("collected", 3) and view.ready_at < view.collected_at


def test_a_batch_is_bounded_and_malformed_events_are_422_changing_nothing(server):
    th, url = server
    kiosk = enrol(th, url, "aalter-1")
    too_many = kiosk.post("/api/v1/events", json={"events": [_event("x.y", {}) for _ in range(501)]})
    assert too_many.status_code == 422 and too_many.json()["error"] == "invalid_request"
    bad = kiosk.post("/api/v1/events", json={"events": [_event("x.y", {}), {"id": "", "type": "a"}]})
    assert bad.status_code == 422 and "events.1.id" in bad.json()["detail"]
    assert kiosk.post("/api/v1/events", content=b"{not json", headers={"Content-Type": "application/json"}
                      ).status_code == 422
    with th.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 0


def test_feed_pages_with_its_cursor_and_erases_pins_the_kiosk_has(server):
    th, url = server
    kiosk = enrol(th, url, "aalter-1")
    made = [_reserve(th) for _ in range(7)]
    pages, cursor, seen = [], None, []
    while True:
        params = {"limit": 3} | ({"after": cursor} if cursor else {})
        page = kiosk.get("/api/v1/changes", params=params).json()
        pages.append(len(page["changes"]))
        seen += page["changes"]
        cursor = page["cursor"]
        if not page["more"]:
            break
    assert pages == [3, 3, 3, 3]  # 5 products + 7 reservations
    reservations = [c for c in seen if c["type"] == "reservation"]
    assert [c["id"] for c in reservations] == [m.reservation.id for m in made]
    assert [c["pin"] for c in reservations] == [m.pin for m in made]
    assert all(len(m.pin) == 8 and m.pin.isdigit() for m in made) and len({m.pin for m in made}) == 7
    # nothing new: same cursor, no more; asking after it says the kiosk has everything, so the PINs go
    assert kiosk.get("/api/v1/changes", params={"after": cursor}).json() == {"changes": [], "cursor": cursor,
                                                                             "more": False}
    replay, _ = _walk_feed(kiosk)
    assert all("pin" not in c for c in replay)
    with th.sessions() as session:
        assert session.scalar(select(func.count()).where(Change.secret.is_not(None))) == 0
    # the snapshot still carries the open reservations' PINs (from their own sealed copy)
    snap = kiosk.get("/api/v1/snapshot").json()
    assert snap["cursor"] == cursor
    assert sorted(c["pin"] for c in snap["changes"] if c["type"] == "reservation") == sorted(m.pin for m in made)
    assert kiosk.get("/api/v1/changes", params={"after": "-1"}).status_code == 422
    assert kiosk.get("/api/v1/changes", params={"limit": 501}).status_code == 422


def test_snapshot_lists_catalogue_badges_and_open_reservations(server):
    th, url = server
    kiosk = enrol(th, url, "aalter-1")
    keep = _reserve(th, locker=2).reservation
    gone = _reserve(th).reservation
    services.cancel_reservation(th, gone.id)
    services.save_badge(th, "aalter-1", "0a1b2c3d99", "staff", "An Peeters", pin="480613")
    snap = kiosk.get("/api/v1/snapshot").json()
    kinds = [c["type"] for c in snap["changes"]]
    assert kinds.count("product") == 5 and kinds.count("badge") == 1
    assert [c["id"] for c in snap["changes"] if c["type"] == "reservation"] == [keep.id]
    reservation = [c for c in snap["changes"] if c["type"] == "reservation"][0]
    assert reservation["locker"] == 2 and reservation["status"] == "ready" and "tags" not in reservation
    badge = [c for c in snap["changes"] if c["type"] == "badge"][0]
    # the kiosk has not confirmed the badge's feed entry yet: a kiosk starting from the snapshot gets its PIN
    assert badge == {"type": "badge", "uid": "0A1B2C3D99", "role": "staff", "name": "An Peeters", "pin": "480613"}
    feed, cursor = _walk_feed(kiosk)
    assert {"type": "badge", "uid": "0A1B2C3D99", "role": "staff", "name": "An Peeters", "pin": "480613"} in feed
    assert {"type": "reservation.cancel", "id": gone.id} in feed
    kiosk.get("/api/v1/changes", params={"after": cursor})  # confirms the whole feed: PINs erased
    badge = [c for c in kiosk.get("/api/v1/snapshot").json()["changes"] if c["type"] == "badge"][0]
    assert badge == {"type": "badge", "uid": "0A1B2C3D99", "role": "staff", "name": "An Peeters"}  # no PIN


def test_heartbeat_feeds_the_grid(server):
    th, url = server
    kiosk = enrol(th, url, "aalter-1")
    rid = _reserve(th, locker=1).reservation.id
    answer = kiosk.post("/api/v1/heartbeat", json={
        "at": "2026-11-30T21:00:00+00:00", "doors": {"1": "closed", "2": "open"},
        "lockers": [{"locker": 1, "contents": "ready", "flags": []}, {"locker": 2, "contents": "empty",
                                                                      "flags": ["suspect"]}],
        "alarms": [{"kind": "door_forced", "locker": 2, "device": None, "raised_at": "2026-11-30T20:59:00+00:00"}],
        "outbox_depth": 3, "versions": {"kioskd": "0.4.0", "api": 1}, "future_field": True})
    assert answer.status_code == 200 and answer.json()["server_time"].startswith("2026-11-30T00:53:20")
    grid = services.kiosk_grid(th, "aalter-1")
    assert grid.online and grid.outbox_depth == 3 and grid.versions == {"kioskd": "0.4.0", "api": 1}
    assert [(c.locker, c.door, c.contents, c.flags, c.reservations) for c in grid.lockers] == [
        (1, "closed", "ready", [], [rid]), (2, "open", "empty", ["suspect"], [])]
    assert grid.kiosk_alarms[0]["kind"] == "door_forced"
    assert kiosk.post("/api/v1/heartbeat", json={"doors": {}}).status_code == 422  # "at" is required
    with pytest.raises(services.ServiceError, match="locker_occupied"):
        _reserve(th, locker=1)
    with pytest.raises(services.ServiceError, match="unknown_locker"):
        _reserve(th, locker=9)


def test_rate_cap_per_kiosk_answers_429_with_retry_after(tmp_path, clock):
    with running_server(tmp_path, clock, requests_per_minute=60, burst=3) as (th, url):
        kiosk, other = enrol(th, url, "aalter-1"), enrol(th, url, "aalter-2")
        statuses = [kiosk.get("/api/v1/changes").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        capped = kiosk.get("/api/v1/changes")
        assert capped.json()["error"] == "rate_limited" and capped.headers["Retry-After"] == "1"
        assert other.get("/api/v1/changes").status_code == 200  # another kiosk has its own bucket
        clock.advance(1.0)
        assert kiosk.get("/api/v1/changes").status_code == 200


def test_errors_are_json(server):
    th, url = server
    missing = httpx.get(f"{url}/api/v1/nothing")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong_method = httpx.delete(f"{url}/api/v1/enrol")
    assert wrong_method.status_code == 405 and set(wrong_method.json()) == {"error", "detail"}
    invalid = httpx.post(f"{url}/api/v1/enrol", json={"kiosk_id": "bad id!", "code": "x"})
    assert invalid.status_code == 422 and invalid.json()["error"] == "invalid_request"
    huge = httpx.post(f"{url}/api/v1/events", content=b"x" * (5 * 2 ** 20))
    assert huge.status_code == 413 and huge.json()["error"] == "too_large"
    openapi = httpx.get(f"{url}/api/v1/openapi.json").json()
    assert set(openapi["paths"]) == {f"/api/v1/{p}" for p in ("enrol", "events", "changes", "snapshot",
                                                                "heartbeat", "itsme/sessions",
                                                                "itsme/sessions/{session_id}")}


def test_a_chunked_body_over_the_limit_is_413_before_it_is_parsed(server):
    _th, url = server

    def chunks():
        for _ in range(6):
            yield b"x" * (1024 * 1024)

    answer = httpx.post(f"{url}/api/v1/enrol", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 413 and answer.json()["error"] == "too_large"


@pytest.mark.parametrize("event", [
    {"created_at": "9999-12-31T23:59:59-01:00"}, {"created_at": "0001-01-01T00:00:00+01:00"},
    {"type": "alarm.door_forced", "payload": {"locker": 10**30, "at": "2026-11-30T21:00:00+00:00"}},
    {"type": "alarm.door_forced", "payload": {"locker": 2, "at": "9999-12-31T23:59:59-05:00"}},
    {"type": "reservation.loaded", "payload": {"reservation": "R-1", "locker": 10**30,
                                               "loaded_at": "9999-12-31T23:59:59-05:00"}},
])
def test_out_of_range_times_and_numbers_never_give_a_500(server, event):
    th, url = server
    services.create_kiosk(th, "aalter-1")
    client = enrol(th, url, "aalter-1")
    body = {**_event("alarm.door_forced", {"locker": 2}), **event}
    answer = client.post("/api/v1/events", json={"events": [body]})
    assert answer.status_code in (200, 422), answer.text
