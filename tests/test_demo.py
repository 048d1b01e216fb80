"""The simulator (`make demo`): the headless tour with and without the town hall beside it, the window's
hardware panel, and the window mode with the town hall stopped on SIGTERM."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pygame

from conftest import ROOT, SIM_CONFIG

# what the demo prints once the town hall answers: its URL, port, and the demo login's password
RUNNING = re.compile(r"Town hall running: (http://127\.0\.0\.1:(\d+))/console/ {2}"
                     r"\(log in as 'demo', password '([^']+)'")


def _tour(tmp_path, *extra):
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "DISPLAY": ""}
    out = tmp_path / "shots"
    # a data folder relative to the working directory, as `make demo` gives it (var/demo)
    result = subprocess.run([sys.executable, "-m", "kioskd.demo", "--config", str(SIM_CONFIG), "--data-dir",
                             "data", "--out", str(out), *extra], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"screenshots written to {out}" in result.stdout
    shots = sorted(out.glob("*.png"))
    kiosk_shots = [p for p in shots if "-console-" not in p.name]
    assert len(kiosk_shots) >= 15
    assert all(pygame.image.load(str(p)).get_size() == (1280, 800) for p in kiosk_shots)
    assert {"attract", "pin", "locker_open", "thanks", "error", "help", "timeout"} <= {
        line.split()[1] for line in result.stdout.splitlines() if line.strip()[:2].strip().isdigit()}
    return result, shots


def test_headless_tour_without_the_town_hall(tmp_path):
    result, shots = _tour(tmp_path, "--no-townhall")
    assert "Town hall" not in result.stdout and not any("-console-" in p.name for p in shots)


def test_headless_tour_takes_a_console_reservation_to_collected(tmp_path):
    """`make demo` without a display: the town hall runs beside the kiosk; a reservation made through the console's
    forms is pulled by the kiosk, loaded by staff, collected with its PIN, and the server knows; the server stops."""
    result, shots = _tour(tmp_path)
    out = result.stdout
    url = RUNNING.search(out)
    assert url, out
    rid = re.search(r"console: demo created (\S+) \(vouchers", out)[1]
    assert re.search(rf"kiosk: +received {rid} from the town hall", out)
    assert re.search(rf"kiosk: +staff loaded {rid} into locker \d", out)
    assert re.search(rf"console: {rid} collected", out)
    assert out.rstrip().endswith("Town hall stopped.")
    assert {"townhall-load-open-nl", "townhall-locker-open-en", "townhall-thanks-en"} <= {p.stem[3:] for p in shots}
    # a personal document proven with itsme: the town hall ran CIBA against the demo's itsme double
    assert re.search(r'itsme: +the holder confirmed in the app; the town hall said "match"', out)
    assert {"townhall-itsme-en", "townhall-itsme-locker-open-en", "prove-nl", "eid-insert-nl",
            "error-identity-mismatch-nl", "locker-open-eid-take-card-nl"} <= {p.stem[3:] for p in shots}
    if Path("/usr/bin/chromium").exists():
        console = [p for p in shots if "-console-" in p.name]
        assert [p.stem[3:] for p in console] == ["console-reservation-collected", "console-kiosk", "console-events"]
        assert all(pygame.image.load(str(p)).get_size()[0] == 1280 for p in console)
    with socket.socket() as probe:  # stopped: nothing listens on its port any more
        assert probe.connect_ex(("127.0.0.1", int(url[2]))) != 0
    # the server's own record, read from its database: collected, and the kiosk's pickup.collected held once
    from sqlalchemy import select

    from townhall import services
    from townhall.config import load_config
    from townhall.models import Event
    from townhall.runtime import Townhall

    data = tmp_path / "data"
    assert not (data / "tour-townhall" / "enrolment.code").exists()  # spent, not left lying around
    th = Townhall(load_config(data / "tour-townhall" / "townhall.toml"))
    try:
        assert services.get_reservation(th, rid).status == "collected"
        with th.transaction() as session:
            rows = session.execute(select(Event.type, Event.payload).where(Event.kiosk_id == "sim-1")).all()
        assert [t for t, payload in rows if payload.get("reservation") == rid] == ["reservation.loaded",
                                                                                   "pickup.collected"]
        assert services.get_reservation(th, "TH-2004").status == "collected"
        assert [payload["method"] for t, payload in rows
                if t == "pickup.collected" and payload.get("reservation") == "TH-2004"] == ["qr+itsme"]
    finally:
        th.close()
    for written in (data / "tour-townhall").rglob("*"):  # the demo's password is printed, never stored
        assert not written.is_file() or url[3].encode() not in written.read_bytes(), written


def _click(window, action):
    x, y = window.panel.center_of(action)
    x += window.parts.config.ui.width  # the panel sits right of the kiosk screen
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(x, y), button=1, touch=False))
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=(x, y), button=1, touch=False))
    window.parts.kiosk.process_pending()


def test_panel_drives_the_sim_hardware(tmp_path):
    from kioskd.demo import SimulatorWindow
    from kioskd.ui.simpanel import DEMO_HOLDER, SimAction

    window = SimulatorWindow(str(SIM_CONFIG), tmp_path / "data", tmp_path / "prompts")
    try:
        kiosk = window.parts.kiosk
        assert window.parts.config.speech.cache_dir == tmp_path / "prompts"  # the clips `make demo` made
        _click(window, SimAction("door", "4"))
        assert window.parts.lock_bank.door_is_open(4)
        assert [e["type"] for e in window.parts.store.outbox()] == ["alarm.door_forced"]
        window.refresh_panel()
        _click(window, SimAction("door", "4"))
        assert not window.parts.lock_bank.door_is_open(4)
        _click(window, SimAction("qr", "R-1001"))  # shown on a helper thread, like a hand holding a phone
        deadline = time.monotonic() + 5
        while kiosk.screen.model.screen == "attract" and time.monotonic() < deadline:
            time.sleep(0.05)
            kiosk.process_pending()
        assert kiosk.screen.model.screen == "locker_open"
        assert window.parts.lock_bank.relays[1].value  # R-1001 is in locker 1
        assert kiosk.screen.model.screen != "error"
        reader = window.parts.card_reader
        _click(window, SimAction("card", DEMO_HOLDER[0]))  # a test eID card into the Sim reader
        assert reader.wait_idle(5)
        kiosk.process_pending()
        assert kiosk.state.card_present
        _click(window, SimAction("card", None))
        assert reader.wait_idle(5)
        kiosk.process_pending()
        assert not kiosk.state.card_present
        _click(window, SimAction("itsme", DEMO_HOLDER[0]))  # no session open: nothing happens, nothing breaks
    finally:
        window.parts.close()


def test_window_mode_runs_beside_the_town_hall_and_stops_both_on_sigterm(tmp_path):
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy"}
    proc = subprocess.Popen([sys.executable, "-m", "kioskd.demo", "--window", "--config", str(SIM_CONFIG),
                             "--data-dir", str(tmp_path / "data"), "--port", "0"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Demo reservations"):
                break
        printed = "".join(lines)
        url = RUNNING.search(printed)
        assert url, printed + proc.stderr.read()
        # the login printed is the one that works; the kiosk is enrolled and syncs with a [sync] section
        from kioskd.demo_townhall import ConsoleClient

        console = ConsoleClient(url[1])
        try:
            console.log_in("demo", url[3])
        finally:
            console.close()
        kiosk = tmp_path / "data" / "window"
        assert (kiosk / "sync.token").exists() and "[sync]" in (kiosk / "kiosk.toml").read_text()
        from kioskd.config import load_config

        assert load_config(SIM_CONFIG).sync is None  # the simulator's own config stays without sync
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert "Town hall stopped." in proc.stdout.read()
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", int(url[2]))) != 0
    finally:
        proc.kill()
