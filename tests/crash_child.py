"""Child process for the crash test: scripted pickups through the harness, killed at random.

Every relay pin is a witness: at the instant it is energised it asks the database, through a
separate connection, how many release rows for its locker are committed, and appends the answer
to a log file (write(2) on an O_APPEND file survives SIGKILL). The parent checks the log.
"""

import json
import os
import sqlite3
import sys
from pathlib import Path

from gpiozero.pins.mock import MockFactory, MockPin

from kioskd.sim import Harness

config, data_dir, plan_path, log_path = sys.argv[1:5]
plan = json.loads(Path(plan_path).read_text())
log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
db_path = Path(data_dir) / "kioskd.db"


def log(line: str) -> None:
    os.write(log_fd, (line + "\n").encode())


class WitnessPin(MockPin):
    """At the instant a relay is energised: which release row, committed and pending, explains it?"""

    relay_lockers: dict = {}
    last_pulsed: dict = {}  # locker -> release id of its previous pulse (across restarts, from the log)

    def _change_state(self, value):
        if value and self._function == "output" and self.info.name in self.relay_lockers:
            locker = self.relay_lockers[self.info.name]
            conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
            try:
                newest = conn.execute("SELECT MAX(id) FROM releases WHERE locker = ? AND state = 'pending'",
                                      (locker,)).fetchone()[0]
            finally:
                conn.close()
            log(f"pulse {locker} {newest or 0} {self.last_pulsed.get(locker, 0)}")
            self.last_pulsed[locker] = newest or 0
        return super()._change_state(value)


def main() -> None:
    for line in Path(log_path).read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "pulse":
            WitnessPin.last_pulsed[int(parts[1])] = int(parts[2])
    factory = MockFactory(pin_class=WitnessPin)
    with Harness(config=config, data_dir=data_dir, pin_factory=factory) as k:
        WitnessPin.relay_lockers = {k.parts.lock_bank.wiring[n].relay: n for n in k.parts.lock_bank.wiring}
        for n in k.parts.lock_bank.wiring:
            name = k.relay_pin(n).info.name
            WitnessPin.relay_lockers[name] = n
        log(f"boot {int(k.parts.lock_bank.relays_off())}")
        for start in range(0, len(plan), 9):
            wave = plan[start:start + 9]
            known = k.store.conn.execute("SELECT 1 FROM reservations WHERE id = ?", (wave[0]["id"],)).fetchone()
            if not known:  # one locker holds one reservation: the town hall sends a wave of nine at a time
                k.load([{"type": "reservation", "id": p["id"], "product": "vouchers", "status": "ready",
                         "locker": p["locker"], "pin": p["pin"], "expires_at": "2030-01-01T00:00:00+00:00"}
                        for p in wave])
            run_wave(k, wave)
        log("finished")


def run_wave(k, wave) -> None:
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
            log(f"refused {item['id']} {k.screen}")
            k.advance(200)
            continue
        k.open_door(item["locker"])
        k.close_door(item["locker"])
        if k.screen == "thanks":
            log(f"collected {item['id']}")
        k.press("done")


main()
