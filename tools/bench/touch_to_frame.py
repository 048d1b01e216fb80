#!/usr/bin/env python3
"""Benchmark: touch → first frame showing the response, through the real daemon loop.

Prints one JSON document. A "touch" is a pygame mouse event posted from another thread while the
kiosk's own production loop (``Kiosk.run``) runs in the main thread, exactly as SDL delivers touches;
the figure is the time from posting the event to the end of the first ``display.flip`` that shows its
effect:
- ``press``: finger down → the pressed button drawn sunk (the immediate feedback);
- ``release``: finger up → the next screen drawn (the flow's answer, speech and timers included).
Each is split by whether the kiosk was idle on the start screen (where input is polled every 100 ms
to save CPU) or inside a session (every ``ui.input_poll_ms``). The baseline, measured in the same
process, is one full redraw of the same screens (render + flip): the floor any touch pays.

    .venv/bin/python tools/bench/touch_to_frame.py [--touches 200] [--config config/sim.toml]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/bench/stats.py
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

from stats import run_loop_while  # noqa: E402


def figures(samples_ms: list[float]) -> dict:
    ordered = sorted(samples_ms)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": round(statistics.median(ordered), 2), "p95_ms": round(p95, 2),
            "max_ms": round(ordered[-1], 2), "runs": len(ordered)}


class FrameWatch:
    """Wraps the touchscreen's render so every flip is time-stamped, and lets a thread wait for one."""

    def __init__(self, screen) -> None:
        self.screen = screen
        self.cond = threading.Condition()
        self.flips: list[float] = []
        original = screen.render_if_dirty

        def watched() -> bool:
            drew = original()
            if drew:
                with self.cond:
                    self.flips.append(time.perf_counter())
                    self.cond.notify_all()
            return drew

        screen.render_if_dirty = watched

    def next_flip_after(self, count: int, timeout: float = 5.0) -> float:
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.flips) > count, timeout):
                raise SystemExit("no frame after a touch within 5 s")
            return self.flips[count]


def run(touches: int, config: str) -> dict:
    import pygame

    from kioskd.sim import Harness

    results: dict[str, list[float]] = {"press_idle": [], "release_idle": [], "press_session": [],
                                       "release_session": []}
    with tempfile.TemporaryDirectory() as tmp, Harness(config=config, data_dir=tmp) as k:
        screen = k.parts.screen
        # the harness's clock stands still, so no inactivity timer interrupts the 200 touches
        watch = FrameWatch(screen)
        def touch(action: str, kind: str) -> None:
            x, y = screen.center_of(action)
            for down in (True, False):
                count = len(watch.flips)
                posted = time.perf_counter()
                pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN if down else pygame.MOUSEBUTTONUP,
                                                     pos=(x, y), button=1, touch=False))
                flipped = watch.next_flip_after(count)
                results[f"{'press' if down else 'release'}_{kind}"].append((flipped - posted) * 1000)
                time.sleep(0.03)  # a finger is not faster than this; lets the loop go back to sleep

        def driver() -> None:
            time.sleep(0.2)
            for i in range(touches // 2):
                time.sleep(0.011 * (i % 9))  # touches land at varied points of the poll cycle
                touch("pickup", "idle")  # attract -> method
                touch("back", "session")  # method -> attract (session ends)

        run_loop_while(k.kiosk, driver)
        baseline = _redraw_baseline(screen, touches)
    out = {name: figures(samples) for name, samples in results.items()}
    out["baseline_full_redraw"] = figures(baseline)
    for name in results:
        out[name]["ratio_to_redraw"] = round(out[name]["median_ms"] / out["baseline_full_redraw"]["median_ms"], 2)
    presses = results["press_idle"] + results["press_session"]
    out["touch_to_frame"] = figures(presses)
    return out


def _redraw_baseline(screen, runs: int) -> list[float]:
    import pygame

    samples = []
    for i in range(runs):
        screen.show("method" if i % 2 else "attract", {"qr_available": True})
        start = time.perf_counter()
        screen._renderer.draw(screen.model, None)
        pygame.display.flip()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--touches", type=int, default=200)
    parser.add_argument("--config", default=str(ROOT / "config" / "sim.toml"))
    args = parser.parse_args()
    print(json.dumps({"benchmark": "touch_to_frame", "touches": args.touches, **run(args.touches, args.config)},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
