"""The entry points as an operator uses them: kioskd under a systemd-like notify socket, kioskctl."""

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest

from conftest import ROOT, SIM_CONFIG, reservation

ENV = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}


def run(args, **kw):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=kw.pop("env", ENV), capture_output=True,
                          text=True, timeout=60, **kw)


@pytest.fixture
def notify_socket(tmp_path):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(15)
    yield path, sock
    sock.close()


def test_invalid_config_refused_with_every_problem(tmp_path):
    bad = tmp_path / "bad.toml"
    text = SIM_CONFIG.read_text().replace('default_language = "nl"', 'default_langauge = "nl"')
    text = text.replace("pulse_seconds = 0.5", "pulse_seconds = 60")
    bad.write_text(text)
    result = run(["kioskd", "--config", str(bad), "--data-dir", str(tmp_path / "d")])
    assert result.returncode == 2
    assert f"{bad}: kiosk.default_langauge: unknown key" in result.stderr
    assert "did you mean 'default_language'" in result.stderr
    assert f"{bad}: locks.pulse_seconds:" in result.stderr
    assert "refusing to start" in result.stderr
    assert not (tmp_path / "d").exists()


def test_ready_notification_after_self_checks(tmp_path, notify_socket):
    path, sock = notify_socket
    result = run(["kioskd", "--config", str(SIM_CONFIG), "--data-dir", str(tmp_path / "d"), "--exit-after-ready"],
                 env={**ENV, "NOTIFY_SOCKET": path})
    assert result.returncode == 0, result.stderr
    assert "ready in" in result.stdout
    assert sock.recv(4096).decode().startswith("READY=1")
    key = tmp_path / "d" / "kiosk.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_watchdog_pings_and_clean_stop(tmp_path, notify_socket):
    path, sock = notify_socket
    proc = subprocess.Popen([sys.executable, "-m", "kioskd", "--config", str(SIM_CONFIG), "--data-dir",
                             str(tmp_path / "d")], cwd=ROOT, env={**ENV, "NOTIFY_SOCKET": path,
                                                                  "WATCHDOG_USEC": "200000"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        messages = [sock.recv(4096).decode() for _ in range(4)]
        assert messages[0].startswith("READY=1")
        assert messages[1:] == ["WATCHDOG=1"] * 3
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        tail = sock.recv(4096).decode()
        while tail == "WATCHDOG=1":  # pings already on their way when SIGTERM arrived
            tail = sock.recv(4096).decode()
        assert tail == "STOPPING=1"
    finally:
        proc.kill()


def test_kioskctl_load_token_outbox(tmp_path):
    data = ["--config", str(SIM_CONFIG), "--data-dir", str(tmp_path / "d")]
    good = tmp_path / "good.json"
    good.write_text(json.dumps([reservation(), reservation("R-1002", locker=4, pin="12345678")]))
    result = run(["kioskd.ctl", *data, "load", str(good)])
    assert result.returncode == 0, result.stderr
    assert "applied 2 reservation" in result.stdout
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([reservation("R-2000", locker=5, pin="99990000"), {"type": "reservation.cancel"}]))
    result = run(["kioskd.ctl", *data, "load", str(bad)])
    assert result.returncode == 1
    assert f"{bad}: change 1: id: expected" in result.stderr and "nothing applied" in result.stderr
    broken = tmp_path / "broken.json"
    broken.write_text('[{"type": "reservation",')
    result = run(["kioskd.ctl", *data, "load", str(broken)])
    assert result.returncode == 1 and "invalid JSON: line 1" in result.stderr
    for path in (tmp_path / "d").iterdir():
        assert b"40213377" not in path.read_bytes() and b"99990000" not in path.read_bytes()

    token = run(["kioskd.ctl", *data, "token", "--key", str(ROOT / "config" / "sim-test-backend.key"), "R-1001"])
    assert token.returncode == 0 and token.stdout.startswith("KD1.")
    from kioskd import tokens
    from kioskd.config import load_config

    public = tokens.public_key_from_raw(load_config(SIM_CONFIG).identification.public_key_bytes())
    assert tokens.verify(public, token.stdout.strip(), "sim-1", time.time()).reservation_id == "R-1001"
    outbox = run(["kioskd.ctl", *data, "outbox"])
    assert outbox.returncode == 0 and outbox.stdout == ""


def test_kioskctl_keygen(tmp_path):
    out = tmp_path / "backend.key"
    result = run(["kioskd.ctl", "keygen", "--out", str(out)])
    assert result.returncode == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    line = [x for x in result.stdout.splitlines() if x.startswith("qr_public_key")][0]
    from kioskd.config import decode_public_key

    assert len(decode_public_key(line.split('"')[1])) == 32
    again = run(["kioskd.ctl", "keygen", "--out", str(out)])
    assert again.returncode == 1  # never overwrites a key


def test_example_placeholder_key_is_reported_at_start(tmp_path):
    from kioskd.config import EXAMPLE_PLACEHOLDER_PUBLIC_KEY_B64, SIM_TEST_PUBLIC_KEY_B64

    assert EXAMPLE_PLACEHOLDER_PUBLIC_KEY_B64 in (ROOT / "config" / "aalter.example.toml").read_text()
    config = tmp_path / "sim.toml"
    config.write_text(SIM_CONFIG.read_text().replace(SIM_TEST_PUBLIC_KEY_B64, EXAMPLE_PLACEHOLDER_PUBLIC_KEY_B64)
                      .replace('data_dir = "../var/sim"', f'data_dir = "{tmp_path}/d"'))
    result = run(["kioskd", "--config", str(config), "--exit-after-ready"])
    assert result.returncode == 0
    assert "degraded: identification.qr_public_key is the example placeholder" in result.stderr
