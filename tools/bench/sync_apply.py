#!/usr/bin/env python3
"""Benchmark: 10,000 changes from the town hall applied at the kiosk, page by page with their cursor.

Prints one JSON document. The changes are reservations awaiting stock, each with its own PIN (so every
one is checked, PIN-hashed and checked for uniqueness), applied with ``apply_changes(..., cursor=...)`` in
pages of the sync client's default size, each page one transaction with its cursor, as the client does.
Each figure is a median over repeated runs on a fresh store, beside a baseline measured in the same
process: the same rows written by plain ``executemany`` inserts in one transaction (the storage floor).

    .venv/bin/python tools/bench/sync_apply.py [--runs 5] [--changes 10000] [--page 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from kioskd.catalogue import seed_catalogue  # noqa: E402
from kioskd.changes import CURSOR_KEY, apply_changes  # noqa: E402
from kioskd.clock import iso  # noqa: E402
from kioskd.secrets import keyed_hash  # noqa: E402
from kioskd.store import Store  # noqa: E402

KEY = b"k" * 32


def _changes(count: int) -> list[dict]:
    return [{"type": "reservation", "id": f"R-{n}", "product": "vouchers", "status": "awaiting_stock",
             "pin": f"{10_000_000 + n * 7919 % 90_000_000}"} for n in range(count)]


def _fresh(path: Path) -> Store:
    store = Store(path)
    seed_catalogue(store)
    return store


def apply_pages(path: Path, changes: list[dict], page: int) -> float:
    store = _fresh(path)
    try:
        now = time.time()
        started = time.perf_counter()
        for start in range(0, len(changes), page):
            apply_changes(store, changes[start:start + page], key=KEY, pin_length=8, now=now, source="sync",
                          cursor=str(start + page))
        elapsed = time.perf_counter() - started
        held = store.conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0]
        assert held == len(changes) and store.meta(CURSOR_KEY) is not None
        return elapsed
    finally:
        store.close()


def insert_baseline(path: Path, changes: list[dict]) -> float:
    store = _fresh(path)
    try:
        now = iso(time.time())
        started = time.perf_counter()
        with store.transaction() as conn:
            conn.executemany("INSERT INTO reservations (id, product, status, created_at, updated_at)"
                             " VALUES (?, ?, ?, ?, ?)",
                             [(c["id"], c["product"], c["status"], now, now) for c in changes])
            conn.executemany("INSERT INTO credentials (kind, digest, reservation_id) VALUES ('pin', ?, ?)",
                             [(keyed_hash(KEY, "pin", c["pin"]), c["id"]) for c in changes])
        return time.perf_counter() - started
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--page", type=int, default=200)
    args = parser.parse_args()
    changes = _changes(args.changes)
    assert len({c["pin"] for c in changes}) == len(changes)
    applied, base = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            applied.append(apply_pages(Path(tmp) / f"a{run}.db", changes, args.page))
            base.append(insert_baseline(Path(tmp) / f"b{run}.db", changes))
    median = statistics.median
    print(json.dumps({
        "runs": args.runs, "changes": args.changes, "page": args.page,
        "apply_seconds": {"median": round(median(applied), 3), "min": round(min(applied), 3),
                          "max": round(max(applied), 3), "baseline_plain_inserts_median": round(median(base), 3),
                          "ratio": round(median(applied) / median(base), 2)},
        "changes_per_second": {"median": round(args.changes / median(applied)),
                               "baseline_plain_inserts_median": round(args.changes / median(base))},
    }, indent=2))


if __name__ == "__main__":
    main()
