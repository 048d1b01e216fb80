"""Benchmark piece: scan → relay, wall clock, through the real daemon loop and the Sim camera.

The kiosk's production loop (``Kiosk.run``) runs in this thread on the harness's store and drivers, as
in touch_to_frame.py; a driver thread holds signed QR tokens up to the Sim camera from the attract
screen. Timed with ``time.perf_counter`` (the harness's own clock is manual):
- start: the scanner's frame source hands the frame with the code to the scanner (frame delivered);
- end: the relay pin of the locker goes high on gpiozero's MockFactory (relay energised); the journal
  row commits before that, so the commit is inside the figure (its instant is recorded too).
Baseline, interleaved in the same run: the same pickup with ``QrScanned`` posted straight onto the
kiosk's queue, i.e. the path after the decoder (flow, token check, commit, relay).
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

from stats import figure, ratio, run_loop_while  # noqa: E402

TARGET_MS = 20.0
LOCKERS = range(1, 10)


def _stamping_factory(stamps: dict, ready: threading.Condition):
    from gpiozero.pins.mock import MockFactory, MockPin

    class StampPin(MockPin):
        def _change_state(self, value):
            changed = super()._change_state(value)
            if value and self._function == "output":
                with ready:
                    stamps.setdefault(self.info.name, []).append(time.perf_counter())
                    ready.notify_all()
            return changed

    return MockFactory(pin_class=StampPin)


def run(runs: int = 30, config: str | None = None) -> dict:
    import pygame

    from kioskd import journal
    from kioskd.events import QrScanned
    from kioskd.sim import Harness

    stamps: dict[str, list[float]] = {}
    cond = threading.Condition()
    samples = {"scan": [], "posted": [], "scan_commit_to_relay": []}
    commits: list[float] = []
    original_commit = journal.commit_release

    def timed_commit(*args, **kwargs):
        result = original_commit(*args, **kwargs)
        commits.append(time.perf_counter())
        return result

    journal.commit_release = timed_commit
    try:
        with tempfile.TemporaryDirectory() as tmp, \
                Harness(config=config or ROOT / "config" / "sim.toml", data_dir=tmp,
                        pin_factory=_stamping_factory(stamps, cond)) as k:
            camera = k.parts.camera
            source = camera.source
            delivered: dict[int, float] = {}
            original_read = source.read

            def stamped_read(timeout):
                frame = original_read(timeout)
                if frame is not None:
                    delivered.setdefault(source.last_read_seq, time.perf_counter())
                return frame

            source.read = stamped_read
            relay_name = {n: k.relay_pin(n).info.name for n in LOCKERS}
            done = 0
            while done < 2 * runs:
                batch = min(len(LOCKERS), 2 * runs - done)
                ids = [f"R-{done + i}" for i in range(batch)]
                k.load([{"type": "reservation", "id": rid, "product": "vouchers", "status": "ready",
                         "locker": n} for rid, n in zip(ids, LOCKERS, strict=False)])
                toks = [k.token_for(rid) for rid in ids]
                def driver(toks=toks, first=done) -> None:
                    for i, token in enumerate(toks):
                        locker = LOCKERS[i]
                        name = relay_name[locker]
                        _wait(lambda: k.screen == "attract")
                        with cond:
                            before = len(stamps.get(name, []))
                        via_camera = (first + i) % 2 == 0
                        if via_camera:
                            seq = source.show(token)
                        else:
                            posted = time.perf_counter()
                            k.kiosk.post(QrScanned(token))
                        def pulsed(name=name, before=before) -> bool:
                            return len(stamps.get(name, [])) > before

                        with cond:
                            if not cond.wait_for(pulsed, 5.0):
                                raise RuntimeError(f"locker {locker} was not released within 5 s")
                            energised = stamps[name][before]
                        if via_camera:
                            samples["scan"].append((energised - delivered[seq]) * 1000)
                            samples["scan_commit_to_relay"].append((energised - commits[-1]) * 1000)
                            camera.show(None)
                        else:
                            samples["posted"].append((energised - posted) * 1000)
                        _wait(lambda: k.screen == "locker_open")
                        k.parts.lock_bank.open_door(locker)
                        _wait(lambda: k.screen == "close_door")
                        k.parts.lock_bank.close_door(locker)
                        _wait(lambda: k.screen == "thanks")
                        x, y = k.parts.screen.center_of("done")
                        for kind in (pygame.MOUSEBUTTONDOWN, pygame.MOUSEBUTTONUP):
                            pygame.event.post(pygame.event.Event(kind, pos=(x, y), button=1, touch=False))

                run_loop_while(k.kiosk, driver)
                k.settle()
                done += batch
    finally:
        journal.commit_release = original_commit
    scan, posted = figure(samples["scan"]), figure(samples["posted"])
    return {
        **scan, "unit": "ms",
        "baseline": {**posted, "what": "QrScanned posted straight to the kiosk's queue → relay (no camera, no decode)"},
        "ratio": ratio(scan["median"], posted["median"]),
        "commit_to_relay": figure(samples["scan_commit_to_relay"]),
        "target": f"median <= {TARGET_MS:g} ms", "met": scan["median"] is not None and scan["median"] <= TARGET_MS,
    }


def _wait(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("the kiosk did not reach the expected screen within 5 s")
        time.sleep(0.002)


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
