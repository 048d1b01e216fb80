#!/usr/bin/env python3
"""Benchmark: 10,000 outbox events drained by the kiosk's sync client to the real town-hall server.

Prints one JSON document. The server (townhall.app.create_app) runs under uvicorn in a thread on
127.0.0.1 with a fresh SQLite database per run; the kiosk's store is a fresh one too. Each figure is a
median over repeated runs, beside a baseline measured in the same process: the same events POSTed in
the same batches by a bare httpx client (no kiosk database, no checks), so the ratio is the client's cost.

    .venv/bin/python tools/bench/sync_drain.py [--runs 3] [--events 10000] [--batch 500]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from kioskd.clock import SystemClock  # noqa: E402
from kioskd.config import load_config  # noqa: E402
from kioskd.store import Store  # noqa: E402
from kioskd.sync import SyncClient  # noqa: E402

KIOSK = "sim-1"


class Server:
    def __init__(self, directory: Path) -> None:
        import uvicorn

        from townhall import services
        from townhall.app import create_app
        from townhall.config import Config, MailConfig

        config = Config(database_url=f"sqlite:///{directory / 'townhall.db'}", qr_private_key=directory / "qr.key",
                        secret_key=directory / "secret.key", requests_per_minute=100_000, burst=10_000,
                        mail=MailConfig(outbox_dir=directory / "mail"))
        self.app = create_app(config, console=False)
        th = self.app.state.townhall
        services.create_kiosk(th, KIOSK)
        self.token = services.enrol(th, KIOSK, services.create_enrolment_code(th, KIOSK)[0])
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="error", access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.app.state.townhall.close()


def _events(count: int) -> list[dict]:
    return [{"type": "bench.event", "payload": {"n": n, "locker": n % 9 + 1}} for n in range(count)]


def drain_with_client(directory: Path, count: int, batch: int) -> float:
    server = Server(directory / "th")
    config = load_config(ROOT / "config" / "sim.toml")
    store = Store(directory / "kioskd.db")
    now = time.time()
    with store.transaction():
        for event in _events(count):
            store.add_outbox(event["type"], event["payload"], now)
    store.close()
    from dataclasses import replace

    from kioskd.config import SyncSection

    settings = replace(SyncSection(server=server.url), batch_size=batch, max_requests_per_minute=100_000,
                       heartbeat_interval_seconds=3600, pull_interval_seconds=3600)
    client = SyncClient(settings, token=server.token, db_path=directory / "kioskd.db", kiosk_id=KIOSK, key=b"k" * 32,
                        pin_length=8, timezone=config.kiosk.timezone, lockers=(1,), door_is_open=lambda n: False,
                        post=lambda event: None, clock=SystemClock())
    client.open()
    try:
        started = time.perf_counter()
        while client.store.conn.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]:
            if client.push() is None:
                break
        return time.perf_counter() - started
    finally:
        client.close()
        server.close()


def drain_baseline(directory: Path, count: int, batch: int) -> float:
    server = Server(directory / "th")
    import uuid

    events = [dict(e, id=str(uuid.uuid4()), created_at="2026-11-29T00:00:00+00:00") for e in _events(count)]
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as http:
            started = time.perf_counter()
            for i in range(0, count, batch):
                http.post("/api/v1/events", json={"events": events[i:i + batch]}).raise_for_status()
            return time.perf_counter() - started
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    client_s, base_s = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            client_s.append(drain_with_client(Path(tmp) / f"c{run}", args.events, args.batch))
            base_s.append(drain_baseline(Path(tmp) / f"b{run}", args.events, args.batch))
    median = statistics.median
    print(json.dumps({
        "runs": args.runs, "events": args.events, "batch": args.batch,
        "drain_seconds": {"median": round(median(client_s), 3), "min": round(min(client_s), 3),
                          "max": round(max(client_s), 3),
                          "baseline_bare_httpx_median": round(median(base_s), 3),
                          "ratio": round(median(client_s) / median(base_s), 2)},
        "events_per_second": {"median": round(args.events / median(client_s)),
                              "baseline_bare_httpx_median": round(args.events / median(base_s))},
    }, indent=2))


if __name__ == "__main__":
    main()
