#!/usr/bin/env python3
"""Benchmark: simulator start → ready, and resident memory at ready and after many pickups.

Prints one JSON document. Each figure is a median over repeated runs and is set beside a baseline
measured in the same run (a bare interpreter importing the same heavy libraries), so the ratio
holds on a noisy machine.

    .venv/bin/python tools/bench/startup_memory.py [--runs 5] [--pickups 300]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "sim.toml"
ENV = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy", "PYGAME_HIDE_SUPPORT_PROMPT": "1"}

PICKUP_SCRIPT = r"""
import json, resource, sys, time
from kioskd.sim import Harness
pickups, data_dir = int(sys.argv[1]), sys.argv[2]
def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) / 1024
with Harness(config=sys.argv[3], data_dir=data_dir) as k:
    ready = rss_mb()
    for i in range(pickups):
        k.load([{"type": "reservation", "id": f"R-{i}", "product": "vouchers", "status": "ready", "locker": 1,
                 "pin": f"{10_000_000 + i}"}])
        k.press("pickup"); k.press("method:pin"); k.type_code(f"{10_000_000 + i}")
        k.open_door(1); k.close_door(1); k.press("done")
        if i == pickups // 10:
            warm = rss_mb()
    collected = k.store.conn.execute("SELECT COUNT(*) FROM reservations WHERE status='collected'").fetchone()[0]
    print(json.dumps({"rss_ready_mb": ready, "rss_warm_mb": warm, "rss_end_mb": rss_mb(), "collected": collected}))
"""


def _run(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) of the child, stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=ENV, cwd=ROOT)
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed with {proc.returncode}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024, out


def _idle_cpu(data_dir: str, seconds: float) -> dict:
    """CPU share of the daemon sitting on the attract screen (sim camera armed), from /proc."""
    proc = subprocess.Popen([sys.executable, "-m", "kioskd", "--config", str(CONFIG), "--data-dir", data_dir,
                             "--log-level", "ERROR"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env=ENV, cwd=ROOT)
    proc.stdout.readline()  # "ready in N ms"
    time.sleep(1.0)
    tick = os.sysconf("SC_CLK_TCK")

    def cpu_seconds() -> float:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick  # utime + stime

    before, start = cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    used, wall = cpu_seconds() - before, time.monotonic() - start
    proc.terminate()
    proc.wait(timeout=10)
    return {"seconds": round(wall, 1), "cpu_percent_of_one_core": round(100 * used / wall, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pickups", type=int, default=300)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    args = parser.parse_args()
    ready_ms, ready_wall, ready_rss, base_wall, base_rss = [], [], [], [], []
    baseline = [sys.executable, "-c", "import pygame, cv2, pyzbar.pyzbar, gpiozero, serial, sqlite_utils, cryptography"]
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs + 1):  # the first pair warms the page cache and is not counted
            wall, rss, out = _run([sys.executable, "-m", "kioskd", "--config", str(CONFIG), "--data-dir",
                                   f"{tmp}/d{run}", "--exit-after-ready", "--log-level", "ERROR"])
            bwall, brss, _ = _run(baseline)
            if run == 0:
                continue
            ready_ms.append(float(re.search(r"ready in (\d+) ms", out).group(1)))
            ready_wall.append(wall * 1000)
            ready_rss.append(rss)
            base_wall.append(bwall * 1000)
            base_rss.append(brss)
        idle = _idle_cpu(f"{tmp}/idle", seconds=args.idle_seconds)
        _, _, out = _run([sys.executable, "-c", PICKUP_SCRIPT, str(args.pickups), f"{tmp}/pickups", str(CONFIG)])
        pickups = json.loads(out.strip().splitlines()[-1])
    median = statistics.median
    print(json.dumps({
        "runs": args.runs,
        "start_to_ready_ms": {"median": median(ready_ms), "min": min(ready_ms), "max": max(ready_ms)},
        "process_start_to_exit_ms": {"median": median(ready_wall),
                                     "baseline_imports_only_median": median(base_wall),
                                     "ratio": round(median(ready_wall) / median(base_wall), 2)},
        "peak_rss_at_ready_mb": {"median": round(median(ready_rss), 1),
                                 "baseline_imports_only_median": round(median(base_rss), 1),
                                 "ratio": round(median(ready_rss) / median(base_rss), 2)},
        "idle_attract_screen": idle,
        "pickups": {"count": args.pickups, "collected": pickups["collected"],
                    "rss_ready_mb": round(pickups["rss_ready_mb"], 1),
                    "rss_after_10pct_mb": round(pickups["rss_warm_mb"], 1),
                    "rss_end_mb": round(pickups["rss_end_mb"], 1),
                    "growth_after_warmup_mb": round(pickups["rss_end_mb"] - pickups["rss_warm_mb"], 1)},
    }, indent=2))


if __name__ == "__main__":
    main()
