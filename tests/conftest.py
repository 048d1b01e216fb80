import os
import time
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

ROOT = Path(__file__).resolve().parent.parent
SIM_CONFIG = ROOT / "config" / "sim.toml"
NOW = 1_796_000_000.0  # 2026-11-30T01:33:20Z


@pytest.fixture
def kiosk(tmp_path):
    from kioskd.sim import Harness

    with Harness(config=SIM_CONFIG, data_dir=tmp_path / "data", start=NOW) as k:
        yield k


@pytest.fixture
def store(tmp_path):
    """A kiosk database with the pilot catalogue and nine small lockers in three rows (no daemon)."""
    from kioskd.catalogue import seed_catalogue
    from kioskd.store import Store

    s = Store(tmp_path / "kioskd.db")
    seed_catalogue(s)
    with s.transaction() as conn:
        for n in range(1, 10):
            conn.execute("INSERT INTO lockers (number, size, row, col) VALUES (?, 'S', ?, ?)",
                         (n, (n - 1) // 3 + 1, (n - 1) % 3 + 1))
    yield s
    s.close()


def reservation(rid="R-1001", locker=3, pin="40213377", product="room-key", **extra):
    change = {"type": "reservation", "id": rid, "product": product, "status": "ready", "locker": locker,
              "pin": pin, "expires_at": "2026-12-05T00:00:00+00:00"}
    change.update(extra)
    return change


def wait_until(predicate, timeout=3.0):
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass (driver threads act on their own time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


class Events(list):
    """A driver's ``post`` for tests: list.append is atomic under the GIL."""

    def __call__(self, event):
        self.append(event)

    def of(self, kind):
        return [e for e in self if isinstance(e, kind)]
