"""End to end over 127.0.0.1, the way staff and citizens use the system: the kiosk enrolled with a code made in
the staff console; a reservation created through the console's forms (log-in, CSRF token), received by the kiosk
through the real sync client, loaded by staff at the kiosk (or made ready in a locker directly), collected by a
citizen with the PIN the console showed; the console then says collected and the server holds the kiosk's
``pickup.collected`` exactly once."""

import re
import socket
import threading
import time

import httpx
import pytest
from test_sync_support import kiosk_config

from kioskd import ctl
from kioskd.changes import CURSOR_KEY
from kioskd.sim import Harness

from conftest import wait_until

pytest.importorskip("townhall.api")
KIOSK = "sim-1"
USER, PASSWORD = "anna", "a console password for the test"
BADGE, STAFF_PIN = "B0B0B0B0B0", "260419"


class ConsoleTownhall:
    """The reference server with its staff console (townhall.app.create_app) under uvicorn on 127.0.0.1."""

    def __init__(self, directory):
        import uvicorn

        from townhall.app import create_app
        from townhall.config import Config, MailConfig

        directory.mkdir(parents=True, exist_ok=True)
        self.config = Config(database_url=f"sqlite:///{directory / 'townhall.db'}",
                             qr_private_key=directory / "qr.key", secret_key=directory / "secret.key",
                             requests_per_minute=100_000, burst=10_000, mail=MailConfig(outbox_dir=directory / "mail"))
        self.app = create_app(self.config)
        self.townhall = self.app.state.townhall
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False,
                                                     timeout_graceful_shutdown=1))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        assert wait_until(lambda: self._server.started, 10)

    def close(self):
        self._server.should_exit = True
        self._thread.join(10)
        self.townhall.close()

    def collected_events(self, reservation_id):
        from sqlalchemy import select

        from townhall.models import Event

        with self.townhall.transaction() as session:
            rows = session.execute(select(Event.event_id, Event.type, Event.payload)
                                   .where(Event.kiosk_id == KIOSK)).all()
        return [eid for eid, etype, payload in rows
                if etype == "pickup.collected" and payload.get("reservation") == reservation_id]


@pytest.fixture
def townhall(tmp_path):
    from townhall import services

    server = ConsoleTownhall(tmp_path / "townhall")
    services.create_user(server.townhall, USER, PASSWORD)  # what `townhall create-user` does
    yield server
    server.close()


def hidden(page, name):
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no {name} field on the page"
    return match[1]


@pytest.fixture
def console(townhall):
    """Staff logged in to the console, as a browser without JavaScript: the log-in form's token, then the session."""
    with httpx.Client(base_url=townhall.url, follow_redirects=False, timeout=10) as client:
        page = client.get("/console/login")
        answer = client.post("/console/login", data={"login_token": hidden(page.text, "login_token"),
                                                     "username": USER, "password": PASSWORD, "next": "/console/"})
        assert answer.status_code == 303 and answer.headers["location"] == "/console/"
        yield client


def post_form(console, page_path, action, form):
    """A form as the browser sends it: the CSRF token of the page it is on, then the fields."""
    return console.post(action, data={"csrf": hidden(console.get(page_path).text, "csrf"), **form})


def enrolled_kiosk(tmp_path, townhall, console):
    """Enrolment code from the console's Kiosks page; the kiosk enrols with `kioskctl enrol`."""
    answer = post_form(console, "/console/", "/console/kiosks", {"kiosk_id": KIOSK, "name": "Test kiosk"})
    assert answer.status_code == 200, answer.text
    code = re.search(r'<p class="secret"[^>]*>([^<]+)</p>', answer.text)[1].strip()
    path = kiosk_config(tmp_path / "cfg", townhall.url)
    path.write_text(re.sub(r'qr_public_key = "[^"]*"', f'qr_public_key = "{townhall.townhall.qr_public_key}"',
                           path.read_text()))
    assert ctl.main(["--config", str(path), "--data-dir", str(tmp_path / "data"), "enrol", "--server", townhall.url,
                     "--code", code]) == 0
    return path


def enrol_staff_badge(k, townhall):
    """Staff badges come from the town hall too (no console page for them yet), through the feed with the PIN
    sealed. A badge enrolled before the kiosk first synced would reach it only through the snapshot, which
    carries no PIN; so, as in real life, the badge is enrolled for a kiosk that is up."""
    from townhall import services

    assert wait_until(lambda: k.store.meta(CURSOR_KEY) is not None, 10), "the kiosk never synced"
    services.save_badge(townhall.townhall, KIOSK, BADGE, "staff", "An Peeters", pin=STAFF_PIN)
    # a fresh kiosk has no badge; its uid is stored only keyed
    assert wait_until(lambda: k.store.conn.execute("SELECT 1 FROM badges WHERE active = 1").fetchone(), 10)


def console_status(console, rid):
    page = console.get(f"/console/reservations/{rid}")
    assert page.status_code == 200
    return re.search(r'<dt>Status</dt><dd><span class="status status-([a-z_]+)">', page.text)[1]


def kiosk_row(k, rid):
    return k.store.conn.execute("SELECT status, locker FROM reservations WHERE id = ?", (rid,)).fetchone()


def all_sent(k):
    return k.store.conn.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0] == 0


def press_listed(k, action):
    from kioskd.sim import HarnessError

    for _ in range(10):
        try:
            return k.press(action)
        except HarnessError:
            k.press("next")
    raise AssertionError(f"{action} on no page of {k.screen}")


@pytest.mark.parametrize("placement", ["awaiting_stock", "locker"])
def test_console_reservation_is_collected_at_the_kiosk_and_seen_collected(tmp_path, townhall, console, placement):
    config = enrolled_kiosk(tmp_path, townhall, console)
    started = time.monotonic()
    with Harness(config=config, data_dir=tmp_path / "data", start=time.time()) as k:
        enrol_staff_badge(k, townhall)
        form = {"kiosk": KIOSK, "product": "vouchers", "kind": "pickup", "citizen_name": "An Peeters",
                "citizen_email": "an@example.org", "placement": placement}
        if placement == "locker":
            form["locker"] = "2"
        created = post_form(console, f"/console/reservations/new?kiosk={KIOSK}", "/console/reservations", form)
        assert created.status_code == 201, created.text
        rid = re.search(r"<h1>Reservation (\S+) created</h1>", created.text)[1]
        pin = re.search(r'<p class="secret"[^>]*>([\d ]+)</p>', created.text)[1].replace(" ", "")
        assert len(pin) == 8 and console_status(console, rid) == placement.replace("locker", "ready")

        assert wait_until(lambda: kiosk_row(k, rid) is not None, 10), "the kiosk never received it"
        if placement == "awaiting_stock":
            assert kiosk_row(k, rid) == ("awaiting_stock", None)
            k.log_in(BADGE, STAFF_PIN)  # the badge the town hall enrolled, with its PIN
            assert k.screen == "staff_menu", k.texts
            k.press("load")
            press_listed(k, f"load:{rid}")
            locker = k.kiosk.state.locker
            k.open_door(locker)
            k.close_door(locker)
            k.press("restart")
            assert wait_until(lambda: console_status(console, rid) == "ready", 10)
        else:
            locker = 2
        assert kiosk_row(k, rid) == ("ready", locker)

        k.press("pickup")
        k.press("method:pin")
        k.type_code(pin)  # the PIN the console showed once
        assert k.screen == "locker_open" and k.released[-1][0] == locker
        k.open_door(locker)
        k.close_door(locker)
        assert k.screen == "thanks"
        k.press("done")
        assert kiosk_row(k, rid)[0] == "collected"

        assert wait_until(lambda: console_status(console, rid) == "collected", 10)
        assert wait_until(lambda: all_sent(k), 10)
        k.parts.sync.wake()  # one more round: nothing is sent twice
        time.sleep(0.3)
    page = console.get(f"/console/reservations/{rid}").text
    assert page.count("kiosk event pickup.collected") == 1
    assert len(townhall.collected_events(rid)) == 1
    events = console.get("/console/events", params={"kiosk": KIOSK, "type": "pickup.collected"}).text
    assert rid in events
    print(f"\n{placement}: console → kiosk → collected → console in {time.monotonic() - started:.1f} s")

