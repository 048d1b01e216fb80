"""The kiosk and the real town-hall server over HTTP on 127.0.0.1: enrolment, the round trip of a
reservation, a week offline with pickups going on, ≥ 10,000 events through a fault-injecting proxy, and
a change page the kiosk refuses."""

import logging
import re
import stat
import time

import pytest
from test_sync_support import FaultProxy, TownhallServer, kiosk_config, random_plan

from kioskd import ctl
from kioskd.changes import CURSOR_KEY
from kioskd.sim import Harness

from conftest import reservation, wait_until

pytest.importorskip("townhall.api")
KIOSK = "sim-1"


@pytest.fixture
def townhall(tmp_path):
    server = TownhallServer(tmp_path / "townhall")
    yield server
    server.close()


def enrolled_config(tmp_path, townhall, server_url, **sync):
    """A kiosk config pointing at ``server_url`` that trusts the town hall's QR key, enrolled by kioskctl."""
    path = kiosk_config(tmp_path / "cfg", server_url, **sync)
    text = re.sub(r'qr_public_key = "[^"]*"', f'qr_public_key = "{townhall.townhall.qr_public_key}"', path.read_text())
    path.write_text(text)
    code = townhall.enrolment_code(KIOSK)
    assert ctl.main(["--config", str(path), "--data-dir", str(tmp_path / "data"), "enrol", "--server", townhall.url,
                     "--code", code]) == 0
    return path


def create(townhall, locker=None, **extra):
    from townhall import services

    return services.create_reservation(townhall.townhall, kiosk_id=KIOSK, product="vouchers",
                                       citizen=services.Citizen("An Peeters"), locker=locker, notify=False, **extra)


def server_status(townhall, rid):
    from townhall import services

    return services.get_reservation(townhall.townhall, rid).status


def kiosk_has(k, rid):
    return k.store.conn.execute("SELECT 1 FROM reservations WHERE id = ?", (rid,)).fetchone() is not None


def all_sent(k):
    return k.store.conn.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0] == 0


def outbox_all(k):
    return sorted((e["id"], e["type"], e["payload"]) for e in k.store.outbox(pending_only=False))


def pick_up_with_pin(k, pin):
    k.press("pickup")
    k.press("method:pin")
    k.type_code(pin)
    locker = k.released[-1][0]
    k.open_door(locker)
    k.close_door(locker)
    k.press("done")
    return locker


def pick_up_with_qr(k, token):
    k.press("pickup")
    k.press("method:qr")
    k.show_qr(token)
    wait_until(lambda: (k.settle(), k.screen in ("locker_open", "error"))[1])
    k.show_qr(None)
    assert k.screen == "locker_open", k.texts
    locker = k.released[-1][0]
    k.open_door(locker)
    k.close_door(locker)
    k.press("done")
    return locker


def test_enrol_then_a_reservation_goes_round_trip(tmp_path, townhall, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    config = enrolled_config(tmp_path, townhall, townhall.url)
    token_file = tmp_path / "data" / "sync.token"
    token = token_file.read_text().strip()
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token not in capsys.readouterr().out
    by_pin, by_qr = create(townhall, locker=3), create(townhall, locker=5)
    with Harness(config=config, data_dir=tmp_path / "data", start=time.time()) as k:
        assert wait_until(lambda: kiosk_has(k, by_pin.reservation.id) and kiosk_has(k, by_qr.reservation.id), 10)
        assert pick_up_with_pin(k, by_pin.pin) == 3
        assert pick_up_with_qr(k, by_qr.qr_token) == 5
        assert wait_until(lambda: server_status(townhall, by_pin.reservation.id) == "collected"
                          and server_status(townhall, by_qr.reservation.id) == "collected", 10)
        assert wait_until(lambda: all_sent(k), 10)
        assert wait_until(lambda: (k.settle(), k.kiosk.devices.get("sync"))[1] is not None, 5)
        assert k.kiosk.devices["sync"].ok
        assert wait_until(lambda: beat_row(townhall).last_heartbeat is not None, 5)
        beat = beat_row(townhall).last_heartbeat
        assert beat["versions"]["api"] == 1 and set(beat["doors"]) == {str(n) for n in range(1, 10)}
    assert sorted(e[0] for e in townhall.events(KIOSK)) == sorted(e[0] for e in outbox_all_after(tmp_path))
    logged = caplog.text
    assert token not in logged and by_pin.pin not in logged


def beat_row(townhall):
    from townhall.models import Kiosk

    with townhall.townhall.sessions() as session:
        return session.get(Kiosk, KIOSK)


def outbox_all_after(tmp_path):
    from kioskd.store import Store

    store = Store(tmp_path / "data" / "kioskd.db")
    try:
        return [(e["id"], e["type"], e["payload"]) for e in store.outbox(pending_only=False)]
    finally:
        store.close()


def test_a_week_offline_pickups_go_on_then_the_backlog_drains(tmp_path, townhall):
    proxy = FaultProxy(townhall.address)
    config = enrolled_config(tmp_path, townhall, proxy.url)
    created = [create(townhall, locker=n) for n in range(1, 8)]
    try:
        with Harness(config=config, data_dir=tmp_path / "data", start=time.time()) as k:
            # started from the snapshot, whose report (sync.reconciled) reaches the town hall before it goes
            assert wait_until(lambda: all(kiosk_has(k, c.reservation.id) for c in created) and all_sent(k), 10)
            held = len(townhall.events(KIOSK))
            proxy.down()
            assert wait_until(lambda: (k.settle(), not k.kiosk.devices.get("sync", object).ok)[1]
                              if "sync" in k.kiosk.devices else (k.settle(), False)[1], 10)
            since = k.kiosk.devices["sync"].detail
            assert re.fullmatch(r"\d\d:\d\d", since)
            for day, c in enumerate(created):
                k.advance(86400)
                if day % 2:
                    pick_up_with_qr(k, c.qr_token)
                else:
                    pick_up_with_pin(k, c.pin)
            assert len(k.outbox()) >= 7
            assert len(townhall.events(KIOSK)) == held
            assert not k.kiosk.devices["sync"].ok
            proxy.up()
            assert wait_until(lambda: all_sent(k), 20)
            assert wait_until(lambda: (k.settle(), k.kiosk.devices["sync"].ok)[1], 5)
            assert wait_until(lambda: all_sent(k), 10)  # the alarm's clearing, too
            # the nights it spent offline: it reconciles once, as soon as the outbox and the feed are through
            assert wait_until(lambda: all_sent(k) and [t for _i, t, p in townhall.events(KIOSK)
                                                       if t == "sync.reconciled" and not p["first"]], 10)
            assert sorted(townhall.events(KIOSK)) == outbox_all(k)
            assert all(server_status(townhall, c.reservation.id) == "collected" for c in created)
    finally:
        proxy.down()


def test_ten_thousand_events_through_a_faulty_network_arrive_exactly_once(tmp_path, townhall):
    weights = {"ok": 40, "503": 8, "reset": 8, "lost": 12, "duplicate": 12, "delay": 12, "429": 8}
    proxy = FaultProxy(townhall.address, plan=random_plan(20261129, weights))
    config = enrolled_config(tmp_path, townhall, proxy.url, batch_size=100, heartbeat_interval_seconds=0.2)
    # business events among the noise: loads, collections and returns the server must apply exactly once
    pickups = [create(townhall).reservation.id for _ in range(120)]
    from townhall import services

    loans = [services.create_reservation(townhall.townhall, kiosk_id=KIOSK, product="room-key", kind="loan",
                                         tags=[f"0C0C{n:06X}"], citizen=services.Citizen("Club"),
                                         notify=False).reservation.id for n in range(30)]
    base = time.time() - 86400
    business = []
    for n, rid in enumerate(pickups + loans):
        loaded, collected = base + n * 60, base + n * 60 + 3600
        business.append(("reservation.loaded", {"reservation": rid, "locker": n % 9 + 1,
                                                 "loaded_at": _utc(loaded)}))
        business.append(("pickup.collected", {"reservation": rid, "locker": n % 9 + 1, "method": "pin",
                                               "collected_at": _utc(collected)}))
        if rid in loans:
            business.append(("loan.returned", {"reservation": rid, "tags": [f"0C0C{loans.index(rid):06X}"],
                                               "locker": 1, "returned_at": _utc(collected + 3600)}))
    started = time.monotonic()
    try:
        with Harness(config=config, data_dir=tmp_path / "data", start=time.time()) as k:
            for chunk in range(20):  # the kiosk keeps writing while the backlog drains
                with k.store.transaction():
                    for n in range(500):
                        k.store.add_outbox("sync.test", {"n": chunk * 500 + n, "text": "é€"}, k.clock.time())
                    for kind, payload in business[chunk::20]:
                        k.store.add_outbox(kind, payload, k.clock.time())
                k.settle()
            assert wait_until(lambda: (k.settle(), all_sent(k))[1], 40)
            held = townhall.events(KIOSK)
            kiosk = outbox_all(k)
    finally:
        proxy.down()
    for n, rid in enumerate(pickups + loans):  # the server's effects are the kiosk's events, exactly
        r = services.get_reservation(townhall.townhall, rid)
        assert r.status == ("returned" if rid in loans else "collected"), (rid, r.status)
        assert (r.locker, r.ready_at.timestamp(), r.collected_at.timestamp()) == (
            n % 9 + 1, pytest.approx(base + n * 60, abs=0.01), pytest.approx(base + n * 60 + 3600, abs=0.01))
    assert len(kiosk) >= 10_000
    assert len(held) == len({e[0] for e in held})  # no duplicate
    assert sorted(held) == kiosk  # no loss, nothing else
    assert all(proxy.counts[fault] > 0 for fault in weights), proxy.counts
    print(f"\n{len(kiosk)} events, {sum(proxy.counts.values())} requests {proxy.counts}, "
          f"{time.monotonic() - started:.1f} s")


def _utc(ts):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat()


def test_a_refused_change_is_skipped_and_reported_the_others_apply(tmp_path, townhall):
    config = enrolled_config(tmp_path, townhall, townhall.url, pull_interval_seconds=0.05)
    with Harness(config=config, data_dir=tmp_path / "data", start=time.time()) as k:
        assert wait_until(lambda: k.store.meta(CURSOR_KEY) is not None, 10)
        k.parts.sync.stop()  # hold the feed while the kiosk's own state and the town hall's disagree
        k.load([reservation("R-LOCAL", locker=3, pin="55512345")])
        first, clash, last = create(townhall, locker=1), create(townhall, locker=3), create(townhall, locker=5)
        k.parts.sync.start()
        assert wait_until(lambda: kiosk_has(k, first.reservation.id) and kiosk_has(k, last.reservation.id), 10)
        assert not kiosk_has(k, clash.reservation.id)
        assert wait_until(lambda: all_sent(k), 10)
        refused = [e for e in townhall.events(KIOSK) if e[1] == "changes.refused"]
        assert len(refused) == 1
        assert refused[0][2]["changes"] == [{"type": "reservation", "id": clash.reservation.id}]
        assert "locker 3 already holds reservation R-LOCAL" in refused[0][2]["problems"][0]
        assert clash.pin not in str(refused)
