"""Kill -9 at random moments during hundreds of pickups; the journal, the outbox and the relays
must tell one consistent story afterwards (rules 1, 2 and 3 of DESIGN.md)."""

import json
import random
import sqlite3
import subprocess
import sys
from collections import Counter

from conftest import ROOT, SIM_CONFIG

PICKUPS = 216  # 24 waves of nine
KILLS = 20  # at most; the child may finish its plan before
LOCKERS = 9


def _plan():
    rng = random.Random(20261128)
    plan, pins = [], set()
    for i in range(PICKUPS):
        pin = f"{rng.randrange(10**8):08d}"
        while pin in pins:
            pin = f"{rng.randrange(10**8):08d}"
        pins.add(pin)
        plan.append({"id": f"R-{i:04d}", "pin": pin, "locker": i % LOCKERS + 1,
                     "method": "qr" if i % 4 == 3 else "pin"})
    return plan


def test_kill_minus_nine_during_pickups(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    plan = _plan()
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(plan))
    log_path = tmp_path / "witness.log"
    log_path.touch()
    rng = random.Random(7)
    kills = restarts = 0
    while "finished" not in log_path.read_text():
        assert restarts < KILLS + 5, "the child never finished"
        child = subprocess.Popen([sys.executable, str(ROOT / "tests" / "crash_child.py"), str(SIM_CONFIG),
                                  str(data_dir), str(plan_path), str(log_path)], cwd=ROOT,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        restarts += 1
        try:
            child.wait(timeout=rng.uniform(0.5, 2.5) if kills < KILLS else 600)
        except subprocess.TimeoutExpired:
            child.kill()  # SIGKILL: no cleanup, no atexit, no flush
            child.wait()
            kills += 1
            continue
        assert child.returncode == 0, child.stderr.read().decode()[-3000:]

    lines = log_path.read_text().splitlines()
    pulses = [line.split() for line in lines if line.startswith("pulse ")]
    boots = [line for line in lines if line.startswith("boot ")]
    collected_by_child = [line.split()[1] for line in lines if line.startswith("collected ")]
    assert kills >= 10, f"only {kills} kills"
    # rule 1: at the instant of every pulse a new journal row for that locker was already committed
    # and pending - newer than the row that explained the locker's previous pulse
    assert pulses
    for _, locker, newest_pending, previous in pulses:
        assert int(newest_pending) > int(previous), f"locker {locker}: pulse without a new committed journal row"
    # rule 3: relays off at every start
    # (a child killed while still importing never got to boot)
    assert restarts - kills <= len(boots) <= restarts and all(b == "boot 1" for b in boots)

    conn = sqlite3.connect(data_dir / "kioskd.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    events = [(eid, etype, json.loads(payload)) for eid, etype, payload in
              conn.execute("SELECT id, type, payload FROM outbox")]
    assert len({e[0] for e in events}) == len(events)
    collected_events = Counter(p["reservation"] for _, t, p in events if t == "pickup.collected")
    # nothing counted twice
    assert max(collected_events.values()) == 1
    collected_rows = {r[0] for r in conn.execute("SELECT id FROM reservations WHERE status = 'collected'")}
    # business change and outbox event together: one event per collected reservation, none without
    assert set(collected_events) == collected_rows
    # nothing lost: every pickup the child saw complete has its event
    assert set(collected_by_child) <= set(collected_events)
    assert len(collected_rows) >= 200
    # nobody got the same item twice: at most one pickup release per reservation saw its door open
    handed_out = Counter(r[0] for r in conn.execute(
        "SELECT reservation_id FROM releases WHERE reason != 'reopen' AND opened_at IS NOT NULL"))
    assert max(handed_out.values()) == 1
    # every release row belongs to a pulse or was interrupted before/around it
    releases = conn.execute("SELECT COUNT(*) FROM releases").fetchone()[0]
    assert releases >= len(pulses)
    conn.close()
