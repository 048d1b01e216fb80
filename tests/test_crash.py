"""Kill -9 at random moments during hundreds of pickups, and during rounds of staff loading, loans
collected, returned in parts and emptied by staff; the journal, the outbox and the relays must tell one
consistent story afterwards (rules 1 to 4 of DESIGN.md).

Each run of a child is forked from a server that has imported the daemon already, so the random kill
lands in the daemon's start, its recovery after the previous kill, or its work, rather than in imports.
"""

import json
import multiprocessing
import random
import re
import signal
import sqlite3
import time
from collections import Counter, defaultdict
from pathlib import Path

import crash_child
import crash_child_work

from conftest import NOW, SIM_CONFIG

PICKUPS = 216  # 24 waves of nine
KILLS = 20  # at most; the child may finish its plan before
LOCKERS = 9

ROUNDS = 16  # of the loans test: four reservations a round
WORK_KILLS = 36
# what a child would otherwise import at every start; pytest too, because multiprocessing re-runs the
# main script (pytest's) in each child
PRELOAD = ["kioskd.sim", "kioskd.ui.touchscreen", "kioskd.ui.layouts", "kioskd.drivers.camera", "kioskd.drivers.rfid",
           "gpiozero.pins.mock", "pytest"]


def _forked():
    """Children forked from a server that has imported the daemon (by module names it can import from
    anywhere: the server does not see the tests folder)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def _kill_and_restart(main, tmp_path: Path, plan, *, kills: int, window: tuple[float, float], seed: int):
    """Run ``main`` until it logs "finished", killing it (SIGKILL) at a random moment of each of the first
    ``kills`` runs. Returns (log lines, kills, runs, database path).

    A quarter of the kills come at a random time (in the daemon's start and recovery as much as in its work);
    a quarter a few milliseconds after a random relay pulse (a door's whole journey - journaled, energised,
    opened, closed, recorded - takes some 10-25 ms); half are the child killing itself at a random
    transaction edge (BEGIN or COMMIT), so every durable state between two business changes is met, also
    the narrow ones such as "door closed, its return not yet recorded".
    """
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(plan))
    log_path = tmp_path / "witness.log"
    log_path.touch()
    error_path = tmp_path / "child-error.txt"
    context = _forked()
    rng = random.Random(seed)
    killed = runs = 0
    while "finished" not in log_path.read_text():
        assert runs < kills + 5, "the child never finished"
        offset = log_path.stat().st_size
        mode = rng.choice(("time", "pulse", "edge", "edge")) if killed < kills else "none"
        crash_at = rng.randint(1, 80) if mode == "edge" else None
        child = context.Process(target=crash_child.reporting_errors, daemon=True, args=(
            main, str(error_path), str(SIM_CONFIG), str(data_dir), str(plan_path), str(log_path), crash_at))
        child.start()
        runs += 1
        if mode == "time":
            child.join(rng.uniform(*window))
        elif mode == "pulse":
            _wait_for_pulses(child, log_path, offset, rng.randint(1, 8), timeout=window[1])
            time.sleep(rng.uniform(0, 0.03))
        else:  # "edge": the child kills itself; "none": the last, clean run
            child.join(120)
        if child.exitcode is None:
            child.kill()  # SIGKILL: no cleanup, no atexit, no flush
            child.join()
        if child.exitcode == -signal.SIGKILL:
            killed += 1
            continue
        assert child.exitcode == 0, error_path.read_text()[-3000:] if error_path.exists() else child.exitcode
    lines = log_path.read_text().splitlines()
    recovered = Counter(re.sub(r"release \d+:? |\(locker \d+\) | of \S+| in locker \d+", "", line[10:])
                        for line in lines if line.startswith("recovered "))
    print(f"{killed} kills in {runs} runs; recovered at start: {dict(recovered)}")  # shown with pytest -s
    return lines, killed, runs, data_dir / "kioskd.db"


def _wait_for_pulses(child, log_path: Path, offset: int, pulses: int, timeout: float) -> None:
    """Until the child's witness has logged ``pulses`` relay pulses since ``offset`` (or it ended, or time is up)."""
    deadline = time.monotonic() + timeout
    with log_path.open("rb") as log:
        log.seek(offset)
        seen = b""
        while child.is_alive() and time.monotonic() < deadline:
            seen += log.read()
            if seen.count(b"pulse ") >= pulses:
                return
            time.sleep(0.001)


def _check_witness(lines: list[str], kills: int, runs: int) -> None:
    """Rules 1 and 3, from what the relay pins saw."""
    pulses = [line.split() for line in lines if line.startswith("pulse ")]
    boots = [line for line in lines if line.startswith("boot ")]
    # rule 1: at the instant of every pulse a new journal row for that locker was already committed
    # and pending - newer than the row that explained the locker's previous pulse
    assert pulses
    for _, locker, newest_pending, previous in pulses:
        assert int(newest_pending) > int(previous), f"locker {locker}: pulse without a new committed journal row"
    # rule 3: relays off at every start
    # (a child killed while the daemon was still starting never got to boot)
    assert runs - kills <= len(boots) <= runs and all(b == "boot 1" for b in boots)


def _check_no_secret_at_rest(db: Path, secrets: list[str]) -> None:
    """Rule 4, also after kill -9: no PIN or badge uid in the database or its write-ahead log."""
    stored = b"".join(path.read_bytes() for path in (db, db.with_name(db.name + "-wal")) if path.exists())
    assert stored
    assert not [secret for secret in secrets if secret.encode() in stored], "a secret stored in plain text"


def _plan():
    rng = random.Random(20261128)
    plan, pins = [], set()
    for i in range(PICKUPS):
        pin = f"{rng.randrange(10**8):08d}"
        while pin in pins:
            pin = f"{rng.randrange(10**8):08d}"
        pins.add(pin)
        plan.append({"id": f"R-{i:04d}", "pin": pin, "locker": i % LOCKERS + 1,
                     "method": "qr" if i % 4 == 3 else "pin"})
    return plan


def test_kill_minus_nine_during_pickups(tmp_path):
    lines, kills, runs, db = _kill_and_restart(crash_child.main, tmp_path, _plan(), kills=KILLS,
                                               window=(0.1, 1.1), seed=7)
    collected_by_child = [line.split()[1] for line in lines if line.startswith("collected ")]
    assert kills >= 10, f"only {kills} kills"
    _check_witness(lines, kills, runs)
    pulses = [line for line in lines if line.startswith("pulse ")]

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    events = [(eid, etype, json.loads(payload)) for eid, etype, payload in
              conn.execute("SELECT id, type, payload FROM outbox")]
    assert len({e[0] for e in events}) == len(events)
    collected_events = Counter(p["reservation"] for _, t, p in events if t == "pickup.collected")
    # nothing counted twice
    assert max(collected_events.values()) == 1
    collected_rows = {r[0] for r in conn.execute("SELECT id FROM reservations WHERE status = 'collected'")}
    # business change and outbox event together: one event per collected reservation, none without
    assert set(collected_events) == collected_rows
    # nothing lost: every pickup the child saw complete has its event
    assert set(collected_by_child) <= set(collected_events)
    assert len(collected_rows) >= 200
    # nobody got the same item twice: at most one pickup release per reservation saw its door open
    handed_out = Counter(r[0] for r in conn.execute(
        "SELECT reservation_id FROM releases WHERE reason != 'reopen' AND opened_at IS NOT NULL"))
    assert max(handed_out.values()) == 1
    # every release row belongs to a pulse or was interrupted before/around it
    releases = conn.execute("SELECT COUNT(*) FROM releases").fetchone()[0]
    assert releases >= len(pulses)
    conn.close()
    _check_no_secret_at_rest(db, [p["pin"] for p in _plan()])


# ---- loans: staff loading, collection, returns in parts, staff emptying ------------------------------


def _work_plan():
    """Per round: a room key with one tag, a room key with two, party material with three (a part of
    which may come back only the next round) and a plain order of vouchers; all loaded by staff first."""
    rng = random.Random(4242)
    rounds, pins = [], set()

    def pin():
        code = f"{rng.randrange(10**8):08d}"
        while code in pins:
            code = f"{rng.randrange(10**8):08d}"
        pins.add(code)
        return code

    def parts(tags, late_ok):
        cut = rng.randrange(len(tags)) if len(tags) > 1 else 0  # 0: all at once
        groups = [tags[:cut], tags[cut:]] if cut else [tags]
        return [{"tags": group, "by": rng.choice(("tag", "pin")), "late": late_ok and n == 1 and rng.random() < .6}
                for n, group in enumerate(groups)]

    for r in range(ROUNDS):
        items = []
        for n, (product, count) in enumerate((("room-key", 1), ("room-key", 2), ("party-material", 3))):
            tags = [f"C0{r:04X}{n:02X}{t:02X}" for t in range(count)]
            items.append({"id": f"L-{r:02d}-{n}", "product": product, "pin": pin(), "tags": tags,
                          "returns": parts(tags, late_ok=product == "party-material")})
        items.append({"id": f"V-{r:02d}", "product": "vouchers", "pin": pin(), "tags": [], "returns": []})
        rounds.append(items)
    return {"badge": "B0B0B0B0B0", "badge_pin": "480613972", "technician": "7E7E7E7E7E",
            "technician_pin": "8642097531", "rounds": rounds}


def test_kill_minus_nine_during_loading_returns_and_emptying(tmp_path):
    plan = _work_plan()
    lines, kills, runs, db = _kill_and_restart(crash_child_work.main, tmp_path, plan, kills=WORK_KILLS,
                                               window=(0.1, 0.9), seed=11)
    assert kills >= 20, f"only {kills} kills"
    _check_witness(lines, kills, runs)
    items = {item["id"]: item for round_ in plan["rounds"] for item in round_}
    loans = {rid: item["tags"] for rid, item in items.items() if item["tags"]}
    seen = defaultdict(list)  # what the child saw done, by kind
    for line in lines:
        word, *rest = line.split()
        seen[word].append(tuple(rest))

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    events = [(seq, eid, etype, json.loads(payload)) for seq, eid, etype, payload in
              conn.execute("SELECT seq, id, type, payload FROM outbox ORDER BY seq")]
    # rule 2: each event has its own id, none written twice
    assert len({e[1] for e in events}) == len(events)
    by_type = defaultdict(list)
    for _, _, etype, payload in events:
        by_type[etype].append(payload)
    releases = conn.execute("SELECT id, reservation_id, locker, reason, state, detail FROM releases"
                            " ORDER BY id").fetchall()
    closed = defaultdict(list)  # reason -> closed releases (the door opened and closed again)
    for release_id, rid, locker, reason, state, detail in releases:
        if state == "closed":
            closed[reason].append((release_id, rid, locker, json.loads(detail) if detail else {}))
    # after the last, clean run nothing is left half-done
    assert not [r for r in releases if r[4] in ("pending", "opened")]
    # every release a crash interrupted is reported once
    interrupted = [r[0] for r in releases if r[4] == "interrupted"]
    assert sorted(p["release"] for p in by_type["release.interrupted"]) == interrupted

    # the crashes never looked like a forced door, a door that did not open, a failed record or a flapping
    # sensor; the one alarm they raise is work interrupted with its door open, once per such release
    alarms = {t for t in by_type if t.startswith("alarm.")}
    assert alarms <= {"alarm.work_interrupted", "alarm.work_interrupted.cleared"}, sorted(alarms)
    reasons = {r[0]: r[3] for r in releases}
    assert sorted(p["release"] for p in by_type["alarm.work_interrupted"]) == sorted(
        p["release"] for p in by_type["release.interrupted"]
        if p["door_opened"] and reasons[p["release"]] in ("return", "load", "take_out"))
    # ... and its locker is suspect until a technician has opened it, looked and put it back in service:
    # no load and no return goes there meanwhile
    suspect: set[int] = set()
    for seq, _, etype, p in events:
        if etype == "locker.suspect":
            suspect.add(p["locker"])
        elif etype == "locker.suspect_cleared":
            suspect.remove(p["locker"])
            assert p["technician"] == "Tess Vermeulen"
        elif etype in ("reservation.loaded", "loan.returned"):
            assert p["locker"] not in suspect, (seq, p)
    assert suspect == set()
    assert {int(locker) for (locker,) in seen["checked"]} <= {p["locker"] for p in by_type["locker.suspect_cleared"]}
    assert conn.execute("SELECT COUNT(*) FROM alarms WHERE cleared_at IS NULL").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM lockers WHERE suspect = 1 OR out_of_service = 1").fetchone()[0] == 0
    # every door a technician opened is in the journal and reported, with the technician's name
    assert sorted(p["release"] for p in by_type["locker.service_release"]) == [
        r[0] for r in releases if r[3] == "service"]
    assert {p["technician"] for p in by_type["locker.service_release"]} <= {"Tess Vermeulen"}

    # loading: each order loaded exactly once, with its event, into the locker the journal opened for it
    loaded = Counter(p["reservation"] for p in by_type["reservation.loaded"])
    assert loaded == Counter(list(items)), "each reservation loaded exactly once"
    load_releases = {rid: locker for _, rid, locker, _ in closed["load"]}
    assert len(load_releases) == len(closed["load"]) == len(items)
    rows = {rid: (status, locker, expires_at, collected_at) for rid, status, locker, expires_at, collected_at in
            conn.execute("SELECT id, status, locker, expires_at, collected_at FROM reservations")}
    for p in by_type["reservation.loaded"]:
        assert p["locker"] == load_releases[p["reservation"]] == rows[p["reservation"]][1], p
        assert p["expires_at"] == rows[p["reservation"]][2] and p["staff"] == "An Peeters"
    assert {(rid, int(locker)) for rid, locker in seen["loaded"]} <= {(p["reservation"], p["locker"]) for p in
                                                                       by_type["reservation.loaded"]}

    # collection: each loan and order handed out once, from the locker it was loaded into
    collected = Counter(p["reservation"] for p in by_type["pickup.collected"])
    assert collected == Counter(list(items))
    for p in by_type["pickup.collected"]:
        assert p["locker"] == rows[p["reservation"]][1] and p["collected_at"] == rows[p["reservation"]][3]
    handed_out = Counter(r[0] for r in conn.execute(
        "SELECT reservation_id FROM releases WHERE reason IN ('pickup', 'retry') AND opened_at IS NOT NULL"))
    assert max(handed_out.values()) == 1
    assert {rid for (rid,) in seen["collected"]} <= set(collected)

    # returns: each tag back exactly once; the events and the tag rows say the same, tag by tag
    tag_rows = {tag: (rid, returned_at, locker, taken_out_at) for rid, tag, returned_at, locker, taken_out_at in
                conn.execute("SELECT reservation_id, tag, returned_at, return_locker, taken_out_at"
                             " FROM reservation_tags")}
    assert set(tag_rows) == {tag for tags in loans.values() for tag in tags}
    returned = Counter(tag for p in by_type["loan.returned"] for tag in p["tags"])
    assert set(returned.values()) == {1}, "a tag returned twice"
    assert set(returned) == {tag for tag, row in tag_rows.items() if row[1] is not None} == set(tag_rows)
    back_so_far = defaultdict(set)
    for p in by_type["loan.returned"]:
        rid = p["reservation"]
        for tag in p["tags"]:
            assert tag_rows[tag][:3] == (rid, p["returned_at"], p["locker"]), (tag, p)
        back_so_far[rid] |= set(p["tags"])
        assert p["outstanding"] == sorted(set(loans[rid]) - back_so_far[rid]), p
        assert p["complete"] == (not p["outstanding"])
    # ... and each return recorded is the one the journal opened a locker for, with the tags counted
    assert sorted((p["reservation"], p["locker"], sorted(p["tags"])) for p in by_type["loan.returned"]) == sorted(
        (rid, locker, sorted(detail["tags"])) for _, rid, locker, detail in closed["return"])
    assert {(rid, int(locker), tags) for rid, locker, tags in seen["returned"]} <= {
        (p["reservation"], p["locker"], ",".join(p["tags"])) for p in by_type["loan.returned"]}

    # emptying: each returned tag taken out exactly once, from the locker it was returned to
    taken = Counter(tag for p in by_type["locker.emptied"] for item in p["items"] for tag in item["tags"])
    assert set(taken.values()) == {1} and set(taken) == set(tag_rows)
    for p in by_type["locker.emptied"]:
        for item in p["items"]:
            assert item["was"] == "returned"
            for tag in item["tags"]:
                assert tag_rows[tag][0] == item["reservation"] and tag_rows[tag][2:] == (p["locker"], p["emptied_at"])
    assert sorted(p["locker"] for p in by_type["locker.emptied"]) == sorted(r[2] for r in closed["take_out"])
    assert Counter(int(locker) for (locker,) in seen["emptied"]) <= Counter(p["locker"] for p in
                                                                             by_type["locker.emptied"])

    # no locker ever held two things: replay the outbox, locker by locker
    held: dict[int, tuple[str, set]] = {}  # locker -> (reservation, returned tags in it)
    for seq, _, etype, p in events:
        if etype == "reservation.loaded":
            assert p["locker"] not in held, (seq, p, held)
            held[p["locker"]] = (p["reservation"], set())
        elif etype == "pickup.collected":
            assert held.pop(p["locker"], None) == (p["reservation"], set()), (seq, p)
        elif etype == "loan.returned":
            rid, tags = held.get(p["locker"], (p["reservation"], set()))
            assert rid == p["reservation"], (seq, p, held)
            held[p["locker"]] = (rid, tags | set(p["tags"]))
        elif etype == "locker.emptied":
            assert [(item["reservation"], set(item["tags"])) for item in p["items"]] == [held.pop(p["locker"])]
    assert held == {}

    # the end: every order collected, every loan back, taken out and closed; every locker empty and shut
    assert {rid: row[0] for rid, row in rows.items()} == {
        rid: "closed" if item["tags"] else "collected" for rid, item in items.items()}
    assert all(row[3] is not None for row in tag_rows.values())
    closing = [item["reservation"] for p in by_type["locker.emptied"] for item in p["items"] if item["closed"]]
    assert sorted(closing) == sorted(loans), "each loan closed by the emptying of its last items"
    doors = dict(conn.execute("SELECT locker, kind FROM door_events WHERE id IN"
                              " (SELECT MAX(id) FROM door_events GROUP BY locker)"))
    assert set(doors.values()) == {"closed"}
    conn.close()
    _check_no_secret_at_rest(db, [item["pin"] for item in items.values()] + [
        plan["badge"], plan["badge_pin"], plan["technician"], plan["technician_pin"]])


def test_a_door_closed_while_the_kiosk_was_down_is_offered_again(tmp_path):
    """Killed while a citizen had a pickup's door open; the door is shut when the kiosk is back. The pickup
    is recovered as collected and the locker is empty, in service and not suspect; the door sensors are read
    at start (journal.reconcile_doors), so the journal knows the door is shut and the locker is offered again."""
    from kioskd import inventory
    from kioskd.sim import Harness

    data = tmp_path / "data"
    order = {"type": "reservation", "id": "R-1", "product": "vouchers", "status": "ready", "locker": 1,
             "pin": "73105528", "expires_at": "2030-01-01T00:00:00+00:00"}
    with Harness(config=SIM_CONFIG, data_dir=data, start=NOW) as k:
        k.load([order])
        k.press("pickup")
        k.press("method:pin")
        k.type_code("73105528")
        k.open_door(1)
        # the process ends here, the door open: nothing more is journaled
    with Harness(config=SIM_CONFIG, data_dir=data, start=NOW + 60) as k:  # the door is shut now
        assert not k.parts.lock_bank.door_is_open(1)
        assert k.store.conn.execute("SELECT status FROM reservations WHERE id = 'R-1'").fetchone() == ("collected",)
        assert k.store.conn.execute("SELECT suspect, out_of_service FROM lockers WHERE number = 1").fetchone() == (0, 0)
        assert inventory.free_locker(k.store, "S") == 1
