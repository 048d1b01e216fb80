"""The PostgreSQL path (psycopg 3): a temporary cluster started with the machine's own binaries, the same API
walk as on SQLite. Skipped where no initdb/pg_ctl exist."""

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from townhall_helpers import Clock, enrol, running_server

from townhall import services
from townhall.services import Citizen


def _binary(name):
    for candidate in (f"/usr/local/bin/{name}", shutil.which(name)):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


INITDB, PG_CTL = _binary("initdb"), _binary("pg_ctl")


@pytest.fixture(scope="module")
def postgres_url():
    if not (INITDB and PG_CTL):
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl) on this machine")
    base = Path(tempfile.mkdtemp(prefix="townhall-pg-"))
    run_as = []
    user = pwd.getpwuid(os.getuid()).pw_name
    if os.getuid() == 0:  # initdb refuses root: run the cluster as an unprivileged user
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv")
        nobody = pwd.getpwnam("nobody")
        os.chown(base, nobody.pw_uid, nobody.pw_gid)
        user = "nobody"
        run_as = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
    data, sockets = base / "data", base
    env = {**os.environ, "LC_ALL": "C"}
    subprocess.run([*run_as, INITDB, "-D", str(data), "-A", "trust", "-U", user, "-E", "UTF8"], check=True,
                   capture_output=True, env=env)
    subprocess.run([*run_as, PG_CTL, "-D", str(data), "-w", "-l", str(base / "log"), "-o",
                    f"-k {sockets} -c listen_addresses='' -c fsync=off", "start"], check=True,
                   capture_output=True, env=env)
    try:
        yield f"postgresql://{user}@/postgres?host={sockets}"
    finally:
        subprocess.run([*run_as, PG_CTL, "-D", str(data), "-m", "immediate", "stop"], capture_output=True, env=env)
        shutil.rmtree(base, ignore_errors=True)


def test_the_api_on_postgresql(tmp_path, postgres_url):
    with running_server(tmp_path, Clock(), database_url=postgres_url) as (th, url):
        assert th.engine.dialect.name == "postgresql" and th.engine.dialect.driver == "psycopg"
        kiosk = enrol(th, url, "pg-1")
        made = services.create_reservation(th, kiosk_id="pg-1", product="room-key", kind="loan",
                                           tags=["0A1B2C3D4E"], citizen=Citizen("An", "an@example.org"))
        page = kiosk.get("/api/v1/changes", params={"limit": 500}).json()
        assert [c["pin"] for c in page["changes"] if c["type"] == "reservation"] == [made.pin]
        rid = made.reservation.id
        events = [{"id": str(uuid.uuid4()), "type": "reservation.loaded", "payload": {"reservation": rid,
                                                                                       "locker": 2}},
                  {"id": str(uuid.uuid4()), "type": "pickup.collected", "payload": {"reservation": rid}},
                  {"id": str(uuid.uuid4()), "type": "alarm.door_forced", "payload": {"locker": 2}}]
        for _ in range(2):
            assert kiosk.post("/api/v1/events", json={"events": events}).json() == {"acked": [e["id"] for e in events]}
        assert services.get_reservation(th, rid).status == "on_loan"
        assert kiosk.get("/api/v1/changes", params={"after": page["cursor"]}).json()["changes"] == []
        assert kiosk.post("/api/v1/heartbeat", json={"at": "2026-11-30T21:00:00+00:00"}).status_code == 200
        assert [a.kind for a in services.active_alarms(th, "pg-1")] == ["door_forced"]
        assert services.cancel_reservation(th, services.create_reservation(
            th, kiosk_id="pg-1", product="vouchers", citizen=Citizen("B")).reservation.id).status == "cancelled"


def test_feed_rows_in_flight_are_never_skipped_on_postgresql(tmp_path, postgres_url):
    """Two staff transactions append to one kiosk's feed; the first is still open while the second wants to
    commit. The feed lock makes the second wait, so a kiosk pulling meanwhile cannot move its cursor past
    the first one's row and lose it."""
    import threading
    import time

    from townhall_helpers import make_config

    from townhall import exchange
    from townhall.runtime import Townhall

    th = Townhall(make_config(tmp_path, database_url=postgres_url), clock=Clock())
    try:
        services.seed_products(th)
        services.create_kiosk(th, "pg-2")
        _page, cursor, _more = exchange.changes_page(th, "pg-2", None, 500)
        first = th.sessions()
        first.begin()
        services._append(first, th, "pg-2", "R-A", {"type": "reservation.cancel", "id": "R-A"})
        first.flush()  # R-A has its sequence number, not yet committed

        def second():
            with th.transaction() as session:
                services._append(session, th, "pg-2", "R-B", {"type": "reservation.cancel", "id": "R-B"})

        writer = threading.Thread(target=second)
        writer.start()
        time.sleep(0.3)
        assert writer.is_alive()  # waiting for the feed lock
        page, after, _more = exchange.changes_page(th, "pg-2", cursor, 500)
        assert page == [] and after == cursor  # nothing committed yet: the cursor stays
        first.commit()
        first.close()
        writer.join(5)
        seen = []
        while True:
            page, after, more = exchange.changes_page(th, "pg-2", after, 500)
            seen += [c["id"] for c in page]
            if not more:
                break
        assert seen == ["R-A", "R-B"]
    finally:
        th.close()
