"""The staff console over FastAPI's TestClient: logins (no default user, wrong passwords refused and throttled),
CSRF refusals, a reservation created → listed → cancelled, and the KPIs from known kiosk events."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from townhall_helpers import Clock, make_config

from townhall import exchange, services
from townhall.app import create_app
from townhall.console import queries
from townhall.models import Reservation

PASSWORD = "correct horse battery"
BRUSSELS = ZoneInfo("Europe/Brussels")


@pytest.fixture
def app(tmp_path):
    app = create_app(make_config(tmp_path, opening_hours=queries.PILOT_OPENING_HOURS), clock=Clock())
    services.create_kiosk(app.state.townhall, "aalter-1", "Aalter town hall")
    yield app
    app.state.townhall.close()


@pytest.fixture
def th(app):
    return app.state.townhall


@pytest.fixture
def client(app):
    with TestClient(app, follow_redirects=False) as client:
        yield client


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no {name} field"
    return match[1]


def login(client, username="anna", password=PASSWORD):
    page = client.get("/console/login")
    return client.post("/console/login", data={"login_token": hidden(page.text, "login_token"),
                                               "username": username, "password": password, "next": "/console/"})


@pytest.fixture
def staff(client, th):
    services.create_user(th, "anna", PASSWORD)
    assert login(client).status_code == 303
    return client


def csrf(client, path="/console/"):
    return hidden(client.get(path).text, "csrf")


# ---- logins --------------------------------------------------------------------------------------------

def test_no_default_user_every_page_asks_for_a_login(client):
    answer = client.get("/console/reservations?kiosk=aalter-1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/login?next=/console/reservations%3Fkiosk%3Daalter-1"
    page = client.get("/console/login")
    assert "No console user exists yet" in page.text and "townhall" in page.text
    for username, password in (("admin", "admin"), ("admin", ""), ("staff", "staff"), ("root", "password")):
        answer = login(client, username, password)
        assert answer.status_code == 401, username
        assert "townhall_console=" not in answer.headers.get("set-cookie", "")
    assert client.get("/console/").status_code == 303


def test_wrong_password_refused_then_throttled(client, th):
    services.create_user(th, "anna", PASSWORD)
    answer = login(client, password="wrong password")
    assert answer.status_code == 401 and "Wrong user name or password" in answer.text
    assert client.get("/console/").status_code == 303
    for _ in range(4):
        assert login(client, password="still wrong").status_code == 401
    answer = login(client)  # the right password, but too late
    assert answer.status_code == 429 and "Too many failed log-ins" in answer.text
    th.clock.advance(16 * 60)
    assert login(client).status_code == 303


def test_login_sets_a_strict_httponly_signed_cookie_and_logout_ends_it(staff):
    cookie = staff.cookies.get("townhall_console")
    assert cookie and "." in cookie
    page = staff.get("/console/")
    assert page.status_code == 200 and "Signed in as" in page.text
    assert "no-store" in page.headers["cache-control"] and "frame-ancestors 'none'" in page.headers[
        "content-security-policy"]
    answer = staff.post("/console/logout", data={"csrf": hidden(page.text, "csrf")})
    assert answer.status_code == 303
    staff.cookies.set("townhall_console", cookie, path="/console")  # a copy kept by an attacker
    assert staff.get("/console/").status_code == 303


def test_cookie_flags(client, th):
    services.create_user(th, "anna", PASSWORD)
    header = login(client).headers.get_list("set-cookie")
    session = next(h for h in header if h.startswith("townhall_console="))
    assert "HttpOnly" in session and "SameSite=strict" in session and "Path=/console" in session


def test_forged_cookie_and_open_redirect_refused(client, th):
    services.create_user(th, "anna", PASSWORD)
    client.cookies.set("townhall_console", "made-up.0123", path="/console")
    assert client.get("/console/").status_code == 303
    page = client.get("/console/login")
    answer = client.post("/console/login", data={"login_token": hidden(page.text, "login_token"),
                                                 "username": "anna", "password": PASSWORD,
                                                 "next": "//evil.example/console/"})
    assert answer.headers["location"] == "/console/"


# ---- CSRF ----------------------------------------------------------------------------------------------

def test_post_without_or_with_a_wrong_csrf_token_changes_nothing(staff, th):
    form = {"kiosk": "aalter-1", "product": "vouchers", "kind": "pickup", "citizen_name": "Jan",
            "placement": "awaiting_stock"}
    assert staff.post("/console/reservations", data=form).status_code == 403
    assert staff.post("/console/reservations", data={**form, "csrf": "x" * 43}).status_code == 403
    assert services.list_reservations(th) == []
    created = services.create_reservation(th, kiosk_id="aalter-1", product="vouchers",
                                          citizen=services.Citizen("Jan"), notify=False)
    answer = staff.post(f"/console/reservations/{created.reservation.id}/cancel", data={"confirm": "yes"})
    assert answer.status_code == 403 and "Form expired" in answer.text
    assert services.get_reservation(th, created.reservation.id).status == "awaiting_stock"
    assert staff.post("/console/logout", data={}).status_code == 403


def test_login_form_needs_its_token(client, th):
    services.create_user(th, "anna", PASSWORD)
    answer = client.post("/console/login", data={"username": "anna", "password": PASSWORD})
    assert answer.status_code == 403
    assert "townhall_console=" not in answer.headers.get("set-cookie", "")


def test_a_post_without_a_session_is_refused(client):
    answer = client.post("/console/reservations", data={"csrf": "x"})
    assert answer.status_code == 403 and "log in" in answer.text.lower()


# ---- reservations --------------------------------------------------------------------------------------

def test_create_then_listed_then_cancelled(staff, th):
    answer = staff.post("/console/reservations", data={
        "csrf": csrf(staff, "/console/reservations/new"), "kiosk": "aalter-1", "product": "vouchers",
        "kind": "pickup", "citizen_name": "Jan Janssens", "citizen_email": "jan@example.org",
        "placement": "awaiting_stock"})
    assert answer.status_code == 201
    rid = re.search(r"Reservation (R-\d+) created", answer.text)[1]
    pin = re.search(r'class="secret"[^>]*>(\d{4}) (\d{4})<', answer.text)
    assert pin, "the PIN is shown"
    assert '<svg class="qr"' in answer.text and "no-store" in answer.headers["cache-control"]
    with th.sessions() as session:
        row = session.get(Reservation, rid)
        assert row.created_by == "anna" and row.status == "awaiting_stock"
    listed = staff.get("/console/reservations?kiosk=aalter-1&status=open")
    assert rid in listed.text and "Jan Janssens" in listed.text
    page = staff.get(f"/console/reservations/{rid}")
    assert page.status_code == 200 and "sent to the kiosk as awaiting_stock" in page.text
    assert pin[1] + pin[2] not in page.text and pin[1] + " " + pin[2] not in page.text  # shown once only

    token = hidden(page.text, "csrf")
    refused = staff.post(f"/console/reservations/{rid}/cancel", data={"csrf": token})
    assert refused.status_code == 400 and services.get_reservation(th, rid).status == "awaiting_stock"
    answer = staff.post(f"/console/reservations/{rid}/cancel", data={"csrf": token, "confirm": "yes"})
    assert answer.status_code == 303
    page = staff.get(answer.headers["location"])
    assert "The reservation is cancelled" in page.text and "cancellation sent to the kiosk" in page.text
    assert services.get_reservation(th, rid).status == "cancelled"
    assert rid in staff.get("/console/reservations?status=cancelled").text
    assert rid not in staff.get("/console/reservations?status=open").text
    again = staff.post(f"/console/reservations/{rid}/cancel", data={"csrf": token, "confirm": "yes"})
    assert again.status_code == 409


def test_loan_in_a_locker_errors_and_extend(staff, th):
    token = csrf(staff, "/console/reservations/new")
    form = {"csrf": token, "kiosk": "aalter-1", "product": "room-key", "kind": "loan", "citizen_name": "Klaproos",
            "tags": "0A1B2C3E01, zz", "placement": "locker", "locker": "3"}
    answer = staff.post("/console/reservations", data=form)
    assert answer.status_code == 400 and 'id="tags-error"' in answer.text and 'value="Klaproos"' in answer.text
    answer = staff.post("/console/reservations", data={**form, "tags": "0A1B2C3E01 0a1b2c3e02"})
    assert answer.status_code == 201
    rid = re.search(r"Reservation (R-\d+) created", answer.text)[1]
    view = services.get_reservation(th, rid)
    assert view.status == "ready" and view.locker == 3 and view.tags == ["0A1B2C3E01", "0A1B2C3E02"]
    answer = staff.post(f"/console/reservations/{rid}/extend", data={"csrf": token, "expires_on": "2027-01-15",
                                                                     "expires_time": "18:00"})
    assert answer.status_code == 303
    assert services.get_reservation(th, rid).expires_at == datetime(2027, 1, 15, 18, 0, tzinfo=BRUSSELS)
    bad = staff.post(f"/console/reservations/{rid}/extend", data={"csrf": token, "expires_on": "2026-02-30"})
    assert bad.status_code == 400
    busy = staff.post("/console/reservations", data={**form, "kind": "pickup", "product": "vouchers", "tags": ""})
    assert busy.status_code == 400 and 'id="locker-error"' in busy.text


# ---- kiosks, events, figures ---------------------------------------------------------------------------

def test_dashboard_grid_and_event_log_show_the_heartbeat_and_alarms(staff, th):
    now = th.now().isoformat()
    exchange.record_heartbeat(th, "aalter-1", {
        "at": now, "doors": {"1": "closed", "2": "open"}, "lockers": [
            {"locker": 1, "contents": "empty", "flags": []}, {"locker": 2, "contents": "ready", "flags": ["suspect"]}],
        "alarms": [], "outbox_depth": 7, "versions": {"kioskd": "0.1.0"}})
    exchange.touch(th, "aalter-1")
    exchange.receive_events(th, "aalter-1", [exchange.IncomingEvent("e1", "alarm.door_forced", {"locker": 2}, None)])
    dashboard = staff.get("/console/").text
    assert "online" in dashboard and "7 events waiting" in dashboard and "⚠ 1" in dashboard
    grid = staff.get("/console/kiosks/aalter-1").text
    assert "Locker 2" in grid and "open" in grid and "suspect" in grid and "door forced" in grid
    th.clock.advance(600)
    assert "offline" in staff.get("/console/").text
    events = staff.get("/console/events?kiosk=aalter-1&type=alarm.").text
    assert "<code>alarm.door_forced</code>" in events
    assert "<code>alarm.door_forced</code>" not in staff.get("/console/events?type=pickup.").text
    assert staff.get("/console/kiosks/nowhere").status_code == 404


def _collect(th, n, ready_local: datetime, collected_local: datetime) -> None:
    created = services.create_reservation(th, kiosk_id="aalter-1", product="vouchers",
                                          citizen=services.Citizen(f"Citizen {n}"), notify=False)
    rid = created.reservation.id
    exchange.receive_events(th, "aalter-1", [
        exchange.IncomingEvent(f"load-{n}", "reservation.loaded",
                               {"reservation": rid, "locker": 1, "loaded_at": ready_local.isoformat()}, ready_local),
        exchange.IncomingEvent(f"collect-{n}", "pickup.collected",
                               {"reservation": rid, "locker": 1, "collected_at": collected_local.isoformat()},
                               collected_local)])


def test_kpis_from_known_events(staff, th):
    def local(day, hour, minute=0):
        return datetime(2026, 11, day, hour, minute, tzinfo=BRUSSELS)

    # pilot hours: Mon–Fri 09:00–12:00, Wed also 14:00–19:00, Sat 09:00–11:30; 2026-11-02 is a Monday
    _collect(th, 1, local(2, 8), local(2, 10))            # Monday 10:00: inside; 2 h
    _collect(th, 2, local(3, 10), local(4, 15))           # Wednesday 15:00: inside (afternoon); 29 h
    _collect(th, 3, local(5, 10), local(5, 20))           # Thursday 20:00: outside; 10 h
    _collect(th, 4, local(7, 9), local(7, 12))            # Saturday 12:00: outside (closes 11:30); 3 h
    _collect(th, 5, local(30, 9), datetime(2026, 12, 1, 7, tzinfo=BRUSSELS))  # December
    [november, december] = queries.kpis(th, kiosk_id="aalter-1")
    assert (november.month, november.collected, november.outside_hours) == ("2026-11", 4, 2)
    assert november.outside_share == 0.5
    assert november.median_ready_to_collected_seconds == 6.5 * 3600
    assert (december.month, december.collected, december.outside_hours) == ("2026-12", 1, 1)
    page = staff.get("/console/kpis?kiosk=aalter-1&month=2026-11").text
    assert "50 %" in page and "6 h 30 min" in page and "2026-12" not in page.split("Opening hours used")[0]
    assert "14:00–19:00" in page  # the hours used are shown
    assert staff.get("/console/kpis?month=november").status_code == 400


def test_opening_hours_per_kiosk_from_the_console_section(th):
    assert queries.opening_hours_for(th, "aalter-1") == queries.PILOT_OPENING_HOURS
    th.config.console = {"opening_hours": {"aalter-1": {"sun": ["10:00-12:00"]}}}
    assert queries.opening_hours_for(th, "aalter-1") == {"sun": [(600, 720)]}
    assert queries.opening_hours_for(th, "other") == queries.PILOT_OPENING_HOURS


# ---- badges --------------------------------------------------------------------------------------------


def test_badges_enrolled_with_a_generated_pin_shown_once_and_revoked(staff, th):
    path = "/console/kiosks/aalter-1/badges"
    assert staff.get(path).status_code == 200
    refused = staff.post(path, data={"csrf": csrf(staff, path), "uid": "not-hex", "name": "Tess",
                                     "role": "technician"})
    assert refused.status_code == 400 and "hexadecimal" in refused.text
    assert services.list_badges(th, "aalter-1") == []
    assert staff.post(path, data={"uid": "7E7E7E7E7E", "name": "Tess", "role": "technician"}).status_code == 403
    page = staff.post(path, data={"csrf": csrf(staff, path), "uid": "7e7e7e7e7e", "name": "Tess Vermeulen",
                                  "role": "technician"})
    assert page.status_code == 200
    pin = re.search(r'aria-label="Badge PIN">(\d+)<', page.text)[1]
    assert len(pin) == 6 and not services._weak_pin(pin)
    badge, = services.list_badges(th, "aalter-1")
    assert (badge.uid, badge.role, badge.name, badge.active) == ("7E7E7E7E7E", "technician", "Tess Vermeulen", True)
    listing = staff.get(path).text
    assert 'aria-label="Badge PIN"' not in listing and "<td>…7E7E</td>" in listing  # the PIN is shown once
    # the kiosk receives the badge with its PIN through the feed, and accepts it
    changes, _cursor, _more = exchange.changes_page(th, "aalter-1", after=None, limit=100)
    enrolled = [c for c in changes if c["type"] == "badge"]
    assert enrolled == [{"type": "badge", "uid": "7E7E7E7E7E", "role": "technician", "name": "Tess Vermeulen",
                         "pin": pin}]
    revoked = staff.post(path + "/revoke", data={"csrf": csrf(staff, path), "uid": "7E7E7E7E7E"})
    assert revoked.status_code == 303
    assert not services.list_badges(th, "aalter-1")[0].active


def test_catalogue_lists_the_pilot_products_and_a_change_reaches_the_kiosks(staff, th):
    page = staff.get("/console/catalogue")
    assert page.status_code == 200 and "room-key" in page.text and "passport" in page.text
    form = {"csrf": hidden(page.text, "csrf"), "code": "bike-key", "name_nl": "Fietssleutel",
            "name_fr": "Clé de vélo", "name_en": "Bike key", "identification": "code", "locker_size": "S",
            "pickup_days": "0", "returnable": "1", "rfid_tagged": "1"}
    refused = staff.post("/console/catalogue", data=form)
    assert refused.status_code == 400 and "pickup_days" in refused.text
    assert "bike-key" not in [p.code for p in services.list_products(th)]
    saved = staff.post("/console/catalogue", data={**form, "pickup_days": "10"})
    assert saved.status_code == 200 and "bike-key saved" in saved.text
    product = next(p for p in services.list_products(th) if p.code == "bike-key")
    assert (product.pickup_days, product.returnable, product.rfid_tagged) == (10, True, True)
    changes, _cursor, _more = exchange.changes_page(th, "aalter-1", after=None, limit=500)
    assert any(c.get("type") == "product" and c.get("code") == "bike-key" for c in changes)


def test_event_log_paging_with_a_hand_made_cursor_is_not_a_500(staff):
    for before in ("100000000000000000000", "-5", "0"):
        assert staff.get(f"/console/events?before={before}").status_code == 200


def test_a_change_the_kiosk_refused_shows_on_the_reservation_and_can_be_sent_again(staff, th):
    made = services.create_reservation(th, kiosk_id="aalter-1", product="vouchers", citizen=services.Citizen("An"))
    rid = made.reservation.id
    exchange.receive_events(th, "aalter-1", [exchange.IncomingEvent(id="e-refused-1", type="changes.refused", payload={
        "after": "3", "cursor": "4", "problems": ["change 0: locker: 4 is not a locker of this kiosk"],
        "changes": [{"type": "reservation", "id": rid}], "at": "2026-11-30T21:00:00+00:00"},
        created_at=datetime(2026, 11, 30, 21, tzinfo=BRUSSELS))])
    page = staff.get(f"/console/reservations/{rid}")
    assert "changes.refused" in page.text
    _changes, before, _more = exchange.changes_page(th, "aalter-1", after=None, limit=500)
    sent = staff.post(f"/console/reservations/{rid}/send-again", data={"csrf": hidden(page.text, "csrf")})
    assert sent.status_code == 303
    again, _cursor, _more = exchange.changes_page(th, "aalter-1", after=before, limit=500)
    assert [(c["type"], c["id"], c.get("pin")) for c in again] == [("reservation", rid, made.pin)]
