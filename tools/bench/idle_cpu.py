"""Benchmark piece: CPU share of the daemon idling on the attract screen with the scanner armed.

The daemon runs as its own process from config/sim.toml with one change: the camera is the real
OpenCV source reading a generated MJPEG video of an empty kiosk window (camera noise, no code) at the
configured fps, so every frame is new and goes through the decoder as a USB camera's would (the Sim
camera repeats an unchanged frame, which the scanner need not decode). The figure is the process's CPU
time (utime + stime from /proc) over wall time, sampled in windows; the baseline is the same daemon
with the camera driver "none" (no scanner), measured in the same run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from stats import figure, ratio  # noqa: E402

CONFIG = ROOT / "config" / "sim.toml"
ENV = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy", "PYGAME_HIDE_SUPPORT_PROMPT": "1"}
TARGET_PERCENT = 1.0


def _camera_config(tmp: Path, driver: str, device: str, fps: float) -> Path:
    text = CONFIG.read_text(encoding="utf-8")
    section = re.search(r"^\[camera\]\n(?:.*\n)*?(?=\n\[)", text, re.M)
    camera = f'[camera]\ndriver = "{driver}"\ndevice = "{device}"\nwidth = 640\nheight = 480\nfps = {fps}\n'
    text = text[:section.start()] + camera + text[section.end():]
    text = re.sub(r'^data_dir = .*$', f'data_dir = "{tmp / ("data-" + driver)}"', text, flags=re.M)
    path = tmp / f"idle-{driver}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def empty_window_video(path: Path, seconds: float, fps: float) -> Path:
    """An MJPEG video of what the camera sees with nobody there: a dim room and sensor noise."""
    rng = np.random.default_rng(7)
    room = cv2.resize(rng.uniform(30, 120, (6, 8, 3)).astype(np.float32), (640, 480),
                      interpolation=cv2.INTER_CUBIC)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (640, 480))
    for _ in range(int(seconds * fps) + 1):
        frame = np.clip(room + rng.normal(0, 4, room.shape), 0, 255).astype(np.uint8)
        writer.write(frame)
    writer.release()
    return path


def _cpu_share(config: Path, seconds: float, window: float) -> list[float]:
    proc = subprocess.Popen([sys.executable, "-m", "kioskd", "--config", str(config), "--log-level", "ERROR"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=ENV, cwd=ROOT)
    try:
        line = proc.stdout.readline().decode()
        if "ready" not in line:
            raise RuntimeError(f"kioskd did not get ready with {config}: {line!r}")
        time.sleep(1.0)  # first frames, caches
        tick = os.sysconf("SC_CLK_TCK")

        def cpu_seconds() -> float:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tick  # utime + stime

        shares = []
        end = time.monotonic() + seconds
        while time.monotonic() < end - window / 2:
            before, start = cpu_seconds(), time.monotonic()
            time.sleep(min(window, max(0.0, end - start)))
            shares.append(100 * (cpu_seconds() - before) / (time.monotonic() - start))
        return shares
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run(tmp: Path, seconds: float = 60.0, fps: float = 10.0) -> dict:
    """``seconds`` of idle with the scanner armed, then as long without a camera."""
    window = min(5.0, seconds / 3)
    video = empty_window_video(tmp / "empty-window.avi", seconds + 10, fps)
    armed = _cpu_share(_camera_config(tmp, "opencv", str(video), fps), seconds, window)
    bare = _cpu_share(_camera_config(tmp, "none", "0", fps), seconds, window)
    total_armed = sum(armed) / len(armed)
    result = {**figure(armed, 2), "unit": "% of one core", "window_seconds": window, "seconds": seconds,
              "mean": round(total_armed, 2), "fps": fps,
              "baseline": {**figure(bare, 2), "what": "same daemon, camera driver none (no scanner)"}}
    result["ratio"] = ratio(result["median"], result["baseline"]["median"])
    result["target"] = f"<= {TARGET_PERCENT:g} % of a core"
    result["met"] = total_armed <= TARGET_PERCENT
    return result
