"""Child process for the crash test of loans: staff load, citizens collect and return, staff empty.

Rounds of work through the harness, killed at random by the parent. Each round the town hall sends
loans (RFID-tagged items) and a plain order, all ``awaiting_stock``; a staff member (badge and PIN)
first empties every locker holding returned items, then loads everything awaiting; citizens collect
what was loaded and give loaned items back by presenting an item's tag or by their PIN, in one go or
in parts (a part may only come back a round later, after staff took the first part out). After a
restart a technician first checks every locker the kiosk marked suspect (work interrupted with its
door open) and puts it back in service.

Every step is chosen from the database, so a run restarted after a kill carries on where the kiosk
is. The relays report to the same witness as the pickup child's; completed steps are logged as the
child saw them (``loaded``, ``collected``, ``returned``, ``emptied``, ``checked``) for the parent to hold
against the outbox.
"""

import json
import sqlite3
import sys
from pathlib import Path

from crash_child import Witness, booted, witnessed_kiosk

from kioskd.clock import parse_iso
from kioskd.sim import Harness

BETWEEN_SESSIONS = 15  # kiosk seconds between two people at the kiosk: a door used by each is not a flapping sensor


def main(config: str, data_dir: str, plan_path: str, log_path: str, crash_at: int | None = None) -> None:
    plan = json.loads(Path(plan_path).read_text())
    rounds = plan["rounds"]
    witness = Witness(data_dir, log_path)
    with witnessed_kiosk(config, data_dir, witness, _after_last_record(Path(data_dir) / "kioskd.db")) as k:
        booted(k, witness, crash_at)
        _close_doors_still_open(k, witness)
        if k.store.conn.execute("SELECT 1 FROM badges").fetchone() is None:
            k.load([{"type": "badge", "uid": plan["badge"], "role": "staff", "pin": plan["badge_pin"],
                     "name": "An Peeters"},
                    {"type": "badge", "uid": plan["technician"], "role": "technician", "pin": plan["technician_pin"],
                     "name": "Tess Vermeulen"}])
        check_suspect_lockers(k, plan, witness)
        for r in range(len(rounds) + 1):
            items = rounds[r] if r < len(rounds) else []
            if items and _status(k, items[0]["id"]) is None:  # the town hall sends a round's orders at once
                k.load([_awaiting(item) for item in items])
            staff_session(k, plan, witness)
            for item in items:
                collect(k, item, witness)
            for item in items:
                for part in item["returns"]:
                    if not part["late"]:
                        give_back(k, item, part, witness)
            for item in rounds[r - 1] if r > 0 else []:
                for part in item["returns"]:
                    if part["late"]:
                        give_back(k, item, part, witness)
        staff_session(k, plan, witness)
        witness.log("finished")


def _awaiting(item: dict) -> dict:
    change = {"type": "reservation", "id": item["id"], "product": item["product"], "status": "awaiting_stock",
              "pin": item["pin"]}
    if item["tags"]:
        change["tags"] = item["tags"]
    return change


def _after_last_record(db_path: Path) -> float | None:
    """The kiosk clock of a restarted child goes on after the last recorded moment, never back."""
    if not db_path.exists():
        return None
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        stamps = [conn.execute(f"SELECT MAX({column}) FROM {table}").fetchone()[0] for table, column in
                  (("outbox", "created_at"), ("releases", "created_at"), ("releases", "closed_at"),
                   ("door_events", "at"))]
    except sqlite3.OperationalError:  # no tables yet (killed before the first migration), or no WAL index
        return None
    finally:
        conn.close()
    stamps = [parse_iso(s) for s in stamps if s]
    return max(stamps) + BETWEEN_SESSIONS if stamps else None


def _close_doors_still_open(k: Harness, witness: Witness) -> None:
    """A door the kiosk last saw open was open through the restart; its user closes it now.

    A Sim door starts closed, so it is set open before the kiosk listens (as the Sim bank sets every
    door closed), and then closed in front of the kiosk. A door closed while the kiosk was down is not
    played: the kiosk does not read its door sensors at start, so the journal would keep that door open
    and the locker would never be offered again (test_crash.py:
    test_a_door_closed_while_the_kiosk_was_down_is_offered_again, expected to fail until it is).
    """
    rows = k.store.conn.execute("SELECT locker, kind FROM door_events WHERE id IN"
                                " (SELECT MAX(id) FROM door_events GROUP BY locker)").fetchall()
    bank = k.parts.lock_bank
    for locker, kind in sorted(rows):
        if kind != "opened":
            continue
        door = bank.doors[locker]
        listeners = door.when_activated, door.when_deactivated
        door.when_activated = door.when_deactivated = None
        bank.open_door(locker)
        door.when_activated, door.when_deactivated = listeners
        witness.log(f"door-open-at-boot {locker}")
        k.close_door(locker)


def _status(k: Harness, rid: str) -> str | None:
    row = k.store.conn.execute("SELECT status FROM reservations WHERE id = ?", (rid,)).fetchone()
    return row[0] if row else None


def _expect(k: Harness, screen: str, doing: str) -> None:
    if k.screen != screen:
        raise AssertionError(f"{doing}: screen {k.screen!r} {k.parts.screen.current[1]}, expected {screen!r}")


def _next_person(k: Harness) -> None:
    _expect(k, "attract", "between sessions")
    k.advance(BETWEEN_SESSIONS)


def check_suspect_lockers(k: Harness, plan: dict, witness: Witness) -> None:
    """Work interrupted with its door open left its locker suspect: a technician opens it from service mode,
    looks, closes it and puts it back in service."""
    suspect = [n for (n,) in k.store.conn.execute("SELECT number FROM lockers WHERE suspect = 1 ORDER BY number")]
    if not suspect:
        return
    _next_person(k)
    k.log_in(plan["technician"], plan["technician_pin"])
    _expect(k, "service_home", "technician badge and PIN")
    k.press("service:lockers")
    for locker in suspect:
        k.press(f"locker:{locker}")
        k.press("open")
        k.press("confirm")
        _expect(k, "service_locker", f"service open of locker {locker}")
        if k.parts.screen.current[1]["result"] != "pulsed":
            raise AssertionError(f"service open of locker {locker}: {k.parts.screen.current[1]}")
        k.open_door(locker)
        k.close_door(locker)
        k.press("service_toggle")
        if k.parts.screen.current[1]["flags"]:
            raise AssertionError(f"locker {locker} still {k.parts.screen.current[1]['flags']}")
        witness.log(f"checked {locker}")
        k.press("back")
    k.press("restart")  # log out


def staff_session(k: Harness, plan: dict, witness: Witness) -> None:
    """Log in with the badge and its PIN; empty every locker on the list, then load everything awaiting."""
    to_load = k.store.conn.execute("SELECT 1 FROM reservations WHERE status = 'awaiting_stock'").fetchone()
    to_empty = k.store.conn.execute("SELECT 1 FROM reservation_tags WHERE returned_at IS NOT NULL"
                                    " AND taken_out_at IS NULL").fetchone()
    if not to_load and not to_empty:
        return
    _next_person(k)
    k.log_in(plan["badge"], plan["badge_pin"])
    _expect(k, "staff_menu", "staff badge and PIN")
    if to_empty:
        k.press("collect")
        while lockers := k.parts.screen.current[1]["lockers"]:
            locker = lockers[0]["locker"]
            k.press(f"take:{locker}")
            _expect(k, "locker_open", f"take out of locker {locker}")
            k.open_door(locker)
            k.close_door(locker)
            _expect(k, "staff_collect", f"take out of locker {locker}")
            witness.log(f"emptied {locker}")
        k.press("back")
    if to_load:
        k.press("load")
        while items := k.parts.screen.current[1]["items"]:
            rid = items[0]["id"]
            k.press(f"load:{rid}")
            _expect(k, "locker_open", f"load {rid}")
            locker = k.kiosk.state.locker
            k.open_door(locker)
            k.close_door(locker)
            _expect(k, "staff_load", f"load {rid}")
            witness.log(f"loaded {rid} {locker}")
        k.press("back")
    k.press("restart")  # log out


def collect(k: Harness, item: dict, witness: Witness) -> None:
    row = k.store.conn.execute("SELECT status, locker FROM reservations WHERE id = ?", (item["id"],)).fetchone()
    if row is None or row[0] != "ready":
        return
    _next_person(k)
    k.press("pickup")
    k.press("method:pin")
    k.type_code(item["pin"])
    _expect(k, "locker_open", f"pickup of {item['id']}")
    k.open_door(row[1])
    k.close_door(row[1])
    _expect(k, "thanks", f"pickup of {item['id']}")
    witness.log(f"collected {item['id']}")
    k.press("done")


def give_back(k: Harness, item: dict, part: dict, witness: Witness) -> None:
    """Return ``part["tags"]`` of a loan: start with an item's tag or with the PIN, count every item."""
    back = {tag for (tag,) in k.store.conn.execute("SELECT tag FROM reservation_tags WHERE reservation_id = ?"
                                                   " AND returned_at IS NOT NULL", (item["id"],))}
    if set(part["tags"]) <= back:
        return
    doing = f"return of {item['id']} {part['tags']}"
    _next_person(k)
    if part["by"] == "tag":
        k.present_tag(part["tags"][0])
        _expect(k, "return_tags", doing)
        rest = part["tags"][1:]
    else:
        k.press("return")
        k.press("method:pin")
        k.type_code(item["pin"])
        _expect(k, "return_tags", doing)
        rest = part["tags"]
    for tag in rest:
        k.present_tag(tag)
    if k.kiosk.state.presented != tuple(part["tags"]):
        raise AssertionError(f"{doing}: counted {k.kiosk.state.presented}")
    k.press("continue")
    _expect(k, "locker_open", doing)
    locker = k.kiosk.state.locker
    k.open_door(locker)
    k.close_door(locker)
    _expect(k, "return_done", doing)
    witness.log(f"returned {item['id']} {locker} {','.join(part['tags'])}")
    k.press("done")


if __name__ == "__main__":
    config_arg, data_dir_arg, plan_arg, log_arg = sys.argv[1:5]
    main(config_arg, data_dir_arg, plan_arg, log_arg)
