"""The simulator: the headless tour and the window's hardware panel."""

import os
import signal
import subprocess
import sys
import time

import pygame

from conftest import ROOT, SIM_CONFIG


def test_headless_tour_writes_screenshots(tmp_path):
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "DISPLAY": ""}
    out = tmp_path / "shots"
    result = subprocess.run([sys.executable, "-m", "kioskd.demo", "--config", str(SIM_CONFIG), "--data-dir",
                             str(tmp_path / "data"), "--out", str(out)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    shots = sorted(out.glob("*.png"))
    assert len(shots) >= 15
    assert f"screenshots written to {out}" in result.stdout
    assert all(pygame.image.load(str(p)).get_size() == (1280, 800) for p in shots)
    assert {"attract", "pin", "locker_open", "thanks", "error", "help", "timeout"} <= {
        line.split()[1] for line in result.stdout.splitlines() if line.strip()[:2].strip().isdigit()}


def _click(window, action):
    x, y = window.panel.center_of(action)
    x += window.parts.config.ui.width  # the panel sits right of the kiosk screen
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(x, y), button=1, touch=False))
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=(x, y), button=1, touch=False))
    window.parts.kiosk.process_pending()


def test_panel_drives_the_sim_hardware(tmp_path):
    from kioskd.demo import SimulatorWindow
    from kioskd.ui.simpanel import SimAction

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
    finally:
        window.parts.close()


def test_window_mode_runs_and_stops_on_sigterm(tmp_path):
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy"}
    proc = subprocess.Popen([sys.executable, "-m", "kioskd.demo", "--window", "--config", str(SIM_CONFIG),
                             "--data-dir", str(tmp_path / "data")], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("Demo reservations"), line + proc.stderr.read()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
