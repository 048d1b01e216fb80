#!/usr/bin/env python3
"""Benchmark: how long an event waits between its commit and the town hall's acknowledgement.

Prints one JSON document. The real town-hall server (townhall.app.create_app, see sync_drain.py) runs under
uvicorn on 127.0.0.1 and the kiosk's sync client runs in its own thread, as in the daemon. The "main loop"
commits one outbox event at a time, at a random moment (uniform over one push interval after the previous
one was acknowledged), and polls its own connection until the row is marked sent. With ``wake`` it then calls
``SyncClient.wake_push()``, as the daemon's outbox hook does (kioskd.app, Kiosk.watch_outbox); the baseline
does not, so the event waits for the next ``push_interval_seconds``. Figures are medians over the runs'
medians.

    .venv/bin/python tools/bench/sync_wake.py [--runs 3] [--events 20] [--interval 1.0]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync_drain import KIOSK, Server  # noqa: E402

from kioskd.changes import CURSOR_KEY  # noqa: E402
from kioskd.clock import SystemClock  # noqa: E402
from kioskd.config import SyncSection  # noqa: E402
from kioskd.store import Store  # noqa: E402
from kioskd.sync import SyncClient  # noqa: E402


def _sent(store: Store, event_id: str) -> bool:
    return store.conn.execute("SELECT sent_at FROM outbox WHERE id = ?", (event_id,)).fetchone()[0] is not None


def _wait(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the sync client did not get there in time")
        time.sleep(0.0005)


def latencies(directory: Path, count: int, interval: float, wake: bool, rng: random.Random) -> list[float]:
    server = Server(directory / "th")
    store = Store(directory / "kioskd.db")  # the main loop's connection
    settings = replace(SyncSection(server=server.url), push_interval_seconds=interval, pull_interval_seconds=3600,
                       heartbeat_interval_seconds=3600, max_requests_per_minute=100_000)
    client = SyncClient(settings, token=server.token, db_path=directory / "kioskd.db", kiosk_id=KIOSK, key=b"k" * 32,
                        pin_length=8, timezone="Europe/Brussels", lockers=(1,), door_is_open=lambda n: False,
                        post=lambda event: None, clock=SystemClock())
    client.start()
    try:
        # started from the snapshot, its report sent: from here on only our events travel
        _wait(lambda: store.meta(CURSOR_KEY) is not None and not store.outbox(), 30)
        measured = []
        for n in range(count):
            time.sleep(rng.uniform(0, interval))
            with store.transaction():
                event_id = store.add_outbox("bench.event", {"n": n}, time.time())
            committed = time.perf_counter()
            if wake:
                client.wake_push()
            _wait(lambda eid=event_id: _sent(store, eid), interval + 30)
            measured.append(time.perf_counter() - committed)
        return measured
    finally:
        client.stop()
        store.close()
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.0, help="push_interval_seconds (the default is 5)")
    parser.add_argument("--seed", type=int, default=20261129)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    runs: dict[str, list[list[float]]] = {"wake": [], "baseline_no_wake": []}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            for mode in runs:
                runs[mode].append(latencies(Path(tmp) / f"{mode}{run}", args.events, args.interval,
                                            mode == "wake", rng))

    def figures(samples: list[list[float]]) -> dict:
        every = sorted(s for run in samples for s in run)
        return {"median_ms": round(statistics.median(statistics.median(run) for run in samples) * 1000, 2),
                "p90_ms": round(every[int(0.9 * (len(every) - 1))] * 1000, 2),
                "max_ms": round(every[-1] * 1000, 2)}

    result = {mode: figures(samples) for mode, samples in runs.items()}
    print(json.dumps({"runs": args.runs, "events_per_run": args.events, "push_interval_seconds": args.interval,
                      "commit_to_ack": result,
                      "speedup": round(result["baseline_no_wake"]["median_ms"] / result["wake"]["median_ms"], 1)},
                     indent=2))


if __name__ == "__main__":
    main()
