"""Child process for the crash test: scripted pickups through the harness, killed at random.

Every relay pin is a witness: at the instant it is energised it asks the database, through a
separate connection, how many release rows for its locker are committed, and appends the answer
to a log file (write(2) on an O_APPEND file survives SIGKILL). The parent checks the log.

The parent forks each run from a server that has imported the daemon already (so a kill lands in the
daemon's start, its recovery or its work, not in Python's imports) and passes ``main`` its arguments;
the file also runs on its own: ``python tests/crash_child.py CONFIG DATA_DIR PLAN LOG``.
"""

import json
import os
import signal
import sqlite3
import sys
import traceback
from pathlib import Path

from gpiozero.pins.mock import MockFactory, MockPin

from kioskd.sim import Harness


class Witness:
    """The log every child appends to, one line per write(2), and the database it checks."""

    def __init__(self, data_dir: str, log_path: str) -> None:
        self.log_path = log_path
        self.db_path = Path(data_dir) / "kioskd.db"
        self.fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def log(self, line: str) -> None:
        os.write(self.fd, (line + "\n").encode())

    def lines(self) -> list[str]:
        return Path(self.log_path).read_text().splitlines()


class WitnessPin(MockPin):
    """At the instant a relay is energised: which release row, committed and pending, explains it?"""

    witness: Witness | None = None
    relay_lockers: dict = {}
    last_pulsed: dict = {}  # locker -> release id of its previous pulse (across restarts, from the log)

    def _change_state(self, value):
        if value and self._function == "output" and self.info.name in self.relay_lockers:
            locker = self.relay_lockers[self.info.name]
            conn = sqlite3.connect(f"file:{self.witness.db_path}?mode=ro", uri=True)
            try:
                newest = conn.execute("SELECT MAX(id) FROM releases WHERE locker = ? AND state = 'pending'",
                                      (locker,)).fetchone()[0]
            finally:
                conn.close()
            self.witness.log(f"pulse {locker} {newest or 0} {self.last_pulsed.get(locker, 0)}")
            self.last_pulsed[locker] = newest or 0
        return super()._change_state(value)


def witnessed_kiosk(config: str, data_dir: str, witness: Witness, start: float | None = None) -> Harness:
    """The daemon on a MockFactory whose relay pins report to ``witness``; enter it to start."""
    WitnessPin.witness = witness
    for line in witness.lines():
        parts = line.split()
        if parts and parts[0] == "pulse":
            WitnessPin.last_pulsed[int(parts[1])] = int(parts[2])
    return Harness(config=config, data_dir=data_dir, start=start, pin_factory=MockFactory(pin_class=WitnessPin))


def booted(k: Harness, witness: Witness, crash_at: int | None) -> None:
    """Point the witness pins at their lockers; log whether every relay came up off (rule 3) and what the
    kiosk recovered at its start. With ``crash_at``, die at that transaction edge from now on."""
    for n, wiring in k.parts.lock_bank.wiring.items():
        WitnessPin.relay_lockers[wiring.relay] = n
        WitnessPin.relay_lockers[k.relay_pin(n).info.name] = n
    witness.log(f"boot {int(k.parts.lock_bank.relays_off())}")
    for note in k.parts.recovered:
        witness.log(f"recovered {note}")
    if crash_at is not None:
        _die_at_transaction_edge(k, crash_at)


def _die_at_transaction_edge(k: Harness, count: int) -> None:
    """SIGKILL this process as the ``count``-th BEGIN or COMMIT of the kiosk's connection is about to run:
    the state a crash leaves just after one business change committed, or with the next one written but
    not committed."""
    edges = 0

    def trace(sql: str) -> None:
        nonlocal edges
        if sql.startswith(("BEGIN", "COMMIT")):
            edges += 1
            if edges >= count:
                os.kill(os.getpid(), signal.SIGKILL)

    k.store.conn.set_trace_callback(trace)


def reporting_errors(main, error_path: str, *args) -> None:
    """Run ``main(*args)``; a failure leaves its traceback in ``error_path`` for the parent to show."""
    try:
        main(*args)
    except BaseException:
        Path(error_path).write_text(traceback.format_exc())
        raise


def main(config: str, data_dir: str, plan_path: str, log_path: str, crash_at: int | None = None) -> None:
    plan = json.loads(Path(plan_path).read_text())
    witness = Witness(data_dir, log_path)
    with witnessed_kiosk(config, data_dir, witness) as k:
        booted(k, witness, crash_at)
        for start in range(0, len(plan), 9):
            wave = plan[start:start + 9]
            known = k.store.conn.execute("SELECT 1 FROM reservations WHERE id = ?", (wave[0]["id"],)).fetchone()
            if not known:  # one locker holds one reservation: the town hall sends a wave of nine at a time
                k.load([{"type": "reservation", "id": p["id"], "product": "vouchers", "status": "ready",
                         "locker": p["locker"], "pin": p["pin"], "expires_at": "2030-01-01T00:00:00+00:00"}
                        for p in wave])
            run_wave(k, wave, witness)
        witness.log("finished")


def run_wave(k: Harness, wave: list[dict], witness: Witness) -> None:
    for item in wave:
        status = k.store.conn.execute("SELECT status FROM reservations WHERE id = ?", (item["id"],)).fetchone()
        if status is None or status[0] != "ready":
            continue
        k.press("pickup")
        if item["method"] == "pin":
            k.press("method:pin")
            k.type_code(item["pin"])
        else:
            k.press("method:qr")
            k.show_qr(k.token_for(item["id"]))
            k.show_qr(None)
        if k.screen != "locker_open":
            witness.log(f"refused {item['id']} {k.screen}")
            k.advance(200)
            continue
        k.open_door(item["locker"])
        k.close_door(item["locker"])
        if k.screen == "thanks":
            witness.log(f"collected {item['id']}")
        k.press("done")


if __name__ == "__main__":
    config_arg, data_dir_arg, plan_arg, log_arg = sys.argv[1:5]
    main(config_arg, data_dir_arg, plan_arg, log_arg)
