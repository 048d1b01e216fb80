"""Technicians' service mode end to end through the harness: a technician badge and its PIN, the live locker
grid, opening one locker (confirmed, journaled before the relay, audited), the relay test, out-of-service
lockers, the RFID, camera, card-reader and audio tests, sync and outbox status, the log, the automatic exit."""

from __future__ import annotations

import json
import logging

import pytest

from kioskd.flows.service import LOG_PAGE_SIZE

from conftest import SIM_CONFIG, reservation

TECH, TECH_PIN = "7E7E7E7E7E", "1357"
STAFF, STAFF_PIN = "B0B0B0B0B0", "2604"


def enrol(k, uid=TECH, pin=TECH_PIN, role="technician", name="Tess Vermeulen"):
    k.load([{"type": "badge", "uid": uid, "role": role, "pin": pin, "name": name}])


def params(k):
    return k.parts.screen.current[1]


def cell(k, locker):
    return next(x for x in params(k)["lockers"] if x["locker"] == locker)


def releases(k):
    return k.store.conn.execute("SELECT locker, reason, state, reservation_id, detail FROM releases ORDER BY id"
                                ).fetchall()


def events(k, kind):
    return [e["payload"] for e in k.outbox() if e["type"] == kind]


@pytest.fixture
def tech(kiosk):
    enrol(kiosk)
    kiosk.log_in(TECH, TECH_PIN)
    assert kiosk.screen == "service_home"
    return kiosk


# ---- who gets in ------------------------------------------------------------------------------------


def test_technician_badge_opens_service_mode_and_staff_badge_does_not(kiosk):
    k = kiosk
    enrol(k)
    enrol(k, STAFF, STAFF_PIN, role="staff", name="An Peeters")
    k.log_in(STAFF, STAFF_PIN)
    assert k.screen == "staff_menu"  # staff load and empty lockers; service mode is not theirs
    k.press("restart")
    k.log_in(TECH, TECH_PIN)
    assert k.screen == "service_home"
    assert params(k)["name"] == "Tess Vermeulen"
    assert "load" not in [b.action for b in k.parts.screen.model.buttons()]


def test_no_default_credentials_and_a_wrong_pin_is_refused(kiosk):
    k = kiosk
    k.present_tag(TECH)  # nothing enrolled: the badge is just an unknown tag
    assert k.screen != "staff_pin"
    k.advance(120)
    enrol(k)
    k.log_in(TECH, "0000")
    assert k.screen == "error" and params(k)["reason"] == "badge_refused"
    assert k.kiosk.state.service is None


# ---- the live grid and the status -------------------------------------------------------------------


def test_home_shows_doors_alarms_devices_sync_and_outbox(tech):
    k = tech
    home = params(k)
    assert home["lockers"] == 9 and home["doors_open"] == 0
    assert home["sync"] == {"state": "not_configured", "since": None}
    assert home["outbox"]["pending"] == len(k.outbox())
    states = {d["name"]: d["state"] for d in home["devices"]}
    assert states["locks"] == "ok" and states["rfid"] == "ok" and states["camera"] == "ok"
    k.open_door(6)  # forced: nobody released it
    home = params(k)
    assert home["doors_open"] == 1
    assert {"kind": "door_forced", "locker": 6, "device": None} in home["alarms"]
    assert home["outbox"]["pending"] == len(k.outbox())


def test_grid_follows_the_doors_live(tech):
    k = tech
    k.load([reservation("R-1", locker=2)])
    k.press("service:lockers")
    assert k.screen == "service_lockers"
    assert [x["locker"] for x in params(k)["lockers"]] == list(range(1, 10))
    assert cell(k, 2)["contents"] == "ready" and cell(k, 2)["reservation"] == "R-1"
    assert cell(k, 5)["door"] == "closed"
    k.open_door(5)
    assert cell(k, 5)["door"] == "open"
    assert k.doors[5] == "open"
    k.close_door(5)
    assert cell(k, 5)["door"] == "closed"
    k.advance(3)  # the periodic refresh picks up what no event announces (a reservation from the town hall)
    k.load([reservation("R-2", locker=7, pin="51627384")])
    k.advance(1.5)
    assert cell(k, 7)["contents"] == "ready"


def test_device_down_shows_at_once(tech):
    from kioskd.events import DeviceStatus

    k = tech
    k.kiosk.post(DeviceStatus("camera", False, "camera vanished"))
    k.settle()
    camera = next(d for d in params(k)["devices"] if d["name"] == "camera")
    assert camera == {"name": "camera", "state": "down", "detail": "camera vanished"}
    assert {"kind": "device_down", "locker": None, "device": "camera"} in params(k)["alarms"]


# ---- opening one locker -------------------------------------------------------------------------------


def test_open_one_locker_is_confirmed_journaled_first_and_audited(tech):
    k = tech
    k.load([reservation("R-1", locker=4)])
    k.press("service:lockers")
    k.press("locker:4")
    assert k.screen == "service_locker" and params(k)["contents"] == "ready"
    k.press("open")
    assert k.screen == "service_confirm"
    assert params(k) == {"what": "open", "locker": 4, "contents": "ready", "reservation": "R-1", "count": 1}
    k.press("cancel")
    assert k.screen == "service_locker" and k.released == [] and releases(k) == []
    k.press("open")
    k.press("confirm")
    assert [n for n, _ in k.released] == [4]
    (locker, reason, state, rid, detail), = releases(k)
    assert (locker, reason, state, rid) == (4, "service", "pending", None)
    assert json.loads(detail)["holding"] == ["R-1"] and not json.loads(detail)["test"]
    event, = events(k, "locker.service_release")
    assert event["locker"] == 4 and event["technician"] == "Tess Vermeulen" and event["holding"] == ["R-1"]
    audit = k.store.conn.execute("SELECT actor, action FROM audit WHERE action = 'locker.release'").fetchall()
    assert audit and audit[-1][0].startswith("technician:")
    assert params(k)["result"] == "pulsed" and "open" not in [b.action for b in k.parts.screen.model.buttons()]
    k.open_door(4)
    assert params(k)["result"] == "opened" and params(k)["door"] == "open"
    assert k.alarms() == []  # a door a technician released is not forced
    k.close_door(4)
    assert params(k)["result"] == "closed"
    assert releases(k)[0][2] == "closed"
    # the reservation is untouched: the technician did not collect it
    assert k.store.conn.execute("SELECT status FROM reservations WHERE id = 'R-1'").fetchone()[0] == "ready"


def test_a_door_that_does_not_open_is_reported(tech):
    k = tech
    k.press("service:lockers")
    k.press("locker:8")
    k.press("open")
    k.press("confirm")
    k.advance(21)
    assert params(k)["result"] == "not_opened"
    assert releases(k)[0][2] == "unopened"


def test_relay_fault_is_shown_alarmed_and_makes_the_locker_suspect(tech, monkeypatch):
    k = tech

    def broken(locker):
        raise OSError("relay board not answering")

    monkeypatch.setattr(k.parts.lock_bank, "pulse", broken)
    k.press("service:lockers")
    k.press("locker:2")
    k.press("open")
    k.press("confirm")
    assert params(k)["result"] == "fault"
    assert "suspect" in params(k)["flags"]
    assert any(a["kind"] == "relay_fault" and a["locker"] == 2 for a in k.alarms())


# ---- the relay test -----------------------------------------------------------------------------------


def test_relay_test_opens_empty_closed_lockers_one_by_one(tech):
    k = tech
    k.load([reservation("R-1", locker=2)])  # holds an item: never opened by a test
    k.open_door(9)  # already open: nothing to test
    springs = {1, 3, 4, 5}  # these doors spring open when their lock is released; 6, 7, 8 are stuck
    k.press("service:lockers")
    k.press("relay_test")
    assert k.screen == "service_confirm"
    assert params(k)["what"] == "relay_test" and params(k)["count"] == 7
    k.press("confirm")
    assert k.screen == "service_lockers"
    seen = 0
    for _ in range(40):
        while seen < len(k.released):  # opening one door lets the test pulse the next at once
            locker = k.released[seen][0]
            seen += 1
            if locker in springs:
                k.open_door(locker)
        if not params(k)["relay_test"]["running"]:
            break
        k.advance(1.0)
    assert [n for n, _ in k.released] == [1, 3, 4, 5, 6, 7, 8]
    results = {x["locker"]: x["test"] for x in params(k)["lockers"]}
    assert results == {1: "opened", 2: None, 3: "opened", 4: "opened", 5: "opened", 6: "not_opened",
                       7: "not_opened", 8: "not_opened", 9: None}
    assert params(k)["relay_test"] == {"done": 7, "total": 7, "running": False}
    tests = events(k, "locker.service_release")
    assert all(e["test"] for e in tests) and {e["locker"] for e in tests} == {1, 3, 4, 5, 6, 7, 8}
    # doors that did not open stay explained for the usual door-open time, then their releases are closed
    assert {state for locker, _, state, _, _ in releases(k) if locker in (6, 7, 8)} == {"pending"}
    k.advance(21)
    assert {(locker, state) for locker, _, state, _, _ in releases(k)} == {
        (1, "opened"), (3, "opened"), (4, "opened"), (5, "opened"), (6, "unopened"), (7, "unopened"),
        (8, "unopened")}


def test_a_slow_relay_test_door_is_not_forced(tech):
    k = tech
    k.press("service:lockers")
    k.press("relay_test")
    k.press("confirm")
    k.advance(3.5)  # locker 1 did not open in time: the test moved on to locker 2
    assert [n for n, _ in k.released] == [1, 2]
    k.open_door(1)  # ... then it swings open after all
    assert cell(k, 1)["test"] == "opened"
    assert not any(a["kind"] == "door_forced" for a in k.alarms(active=False))


def test_logging_out_closes_releases_still_waiting_so_a_later_opening_is_forced(tech):
    k = tech
    k.press("service:lockers")
    k.press("locker:8")
    k.press("open")
    k.press("confirm")
    k.press("back")
    k.press("locker:7")  # moving on gives up the door of locker 8
    assert releases(k)[0][2] == "unopened"
    k.press("open")
    k.press("confirm")
    k.press("restart")
    assert [state for _, _, state, _, _ in releases(k)] == ["unopened", "unopened"]
    k.advance(60)
    k.open_door(7)
    assert any(a["kind"] == "door_forced" and a["locker"] == 7 for a in k.alarms())


def test_a_door_opened_in_service_mode_and_left_open_is_alarmed_after_logout(tech):
    k = tech
    k.press("service:lockers")
    k.press("locker:4")
    k.press("open")
    k.press("confirm")
    k.open_door(4)
    k.press("restart")
    k.advance(119)
    assert not k.alarms()
    k.advance(2)
    alarm, = k.alarms()
    assert (alarm["kind"], alarm["locker"]) == ("door_left_open", 4)
    k.advance(600)
    assert len([e for e in k.outbox() if e["type"] == "alarm.door_left_open"]) == 1  # reported once
    k.close_door(4)
    assert k.alarms() == []


def test_open_is_refused_while_a_relay_test_runs(tech):
    k = tech
    k.press("service:lockers")
    k.press("relay_test")
    k.press("confirm")
    k.press("locker:9")
    k.press("open")
    assert k.screen == "service_locker" and k.tones[-1] == "error"


def test_logging_out_stops_the_relay_test(tech):
    k = tech
    k.press("service:lockers")
    k.press("relay_test")
    k.press("confirm")
    assert len(k.released) == 1
    k.press("restart")
    assert k.screen == "attract"
    k.advance(30)
    assert len(k.released) == 1


# ---- out of service ----------------------------------------------------------------------------------


def test_out_of_service_toggle_refuses_pickups_and_back_in_service_clears_suspect(tech):
    k = tech
    k.load([reservation("R-1", locker=3)])
    k.press("service:lockers")
    k.press("locker:3")
    k.press("service_toggle")
    assert "out_of_service" in params(k)["flags"]
    assert events(k, "locker.out_of_service")[-1]["locker"] == 3
    k.press("restart")
    k.press("pickup")
    k.press("method:pin")
    k.type_code("40213377")
    assert k.screen == "error" and params(k)["reason"] == "locker_out_of_service"
    assert k.released == []
    k.press("restart")
    # a suspect locker (its door did not open) is put back by the technician, with its alarm cleared
    k.store.conn.execute("UPDATE lockers SET suspect = 1 WHERE number = 3")
    k.store.conn.commit()
    from kioskd import journal

    journal.raise_alarm(k.store, "door_not_opened", 3, "R-1", k.clock.time())
    k.log_in(TECH, TECH_PIN)
    k.press("service:lockers")
    k.press("locker:3")
    assert set(params(k)["flags"]) >= {"out_of_service", "suspect"}
    k.press("service_toggle")
    assert params(k)["flags"] == []
    assert events(k, "locker.in_service")[-1]["locker"] == 3
    assert not any(a["kind"] == "door_not_opened" for a in k.alarms())
    k.press("restart")
    k.press("pickup")
    k.press("method:pin")
    k.type_code("40213377")
    assert k.screen == "locker_open" and [n for n, _ in k.released] == [3]


def test_all_lockers_out_of_service_closes_the_kiosk_until_one_is_back(tech):
    k = tech
    k.press("service:lockers")
    for n in range(1, 10):
        k.press(f"locker:{n}")
        k.press("service_toggle")
        k.press("back")
    k.press("restart")
    assert k.screen == "out_of_service"
    assert any(a["kind"] == "device_down" and a["device"] == "locks" for a in k.alarms())
    k.log_in(TECH, TECH_PIN)
    k.press("service:lockers")
    k.press("locker:1")
    k.press("service_toggle")
    k.press("restart")
    assert k.screen == "attract"


# ---- device tests -------------------------------------------------------------------------------------


def test_rfid_test_shows_last_frames_masked_and_logs_nobody_in(tech):
    k = tech
    enrol(k, STAFF, STAFF_PIN, role="staff")
    k.press("service:tests")
    k.press("test:rfid")
    assert k.screen == "service_rfid" and params(k)["reads"] == 0 and params(k)["protocol"] == "rdm6300"
    k.present_tag(STAFF)  # a badge read during the test is counted, never a login
    assert k.screen == "service_rfid" and params(k)["reads"] == 1
    k.write_serial(b"\x020A1B2C3D4E00\x03")  # wrong checksum: no event, the next refresh shows it
    k.advance(1.0)
    frames = params(k)["frames"]
    assert frames[0]["valid"] is False and frames[0]["problem"]
    assert any(f["valid"] and f["uid"] == "••••••B0B0" for f in frames)  # the UID, not its checksum
    shown = json.dumps(params(k)) + " ".join(k.texts)
    assert STAFF not in shown and "0A1B2C3D4E" not in shown


def test_camera_test_shows_decodes_shortened_and_opens_nothing(tech):
    k = tech
    k.load([reservation("R-1", locker=4)])
    token = k.token_for("R-1")
    k.press("service:tests")
    k.press("test:camera")
    assert k.screen == "service_camera"
    k.show_qr(token)
    read, = params(k)["reads"]
    assert read["length"] == len(token) and read["text"] == token[:6] + "…"
    assert token not in " ".join(k.texts)
    assert k.released == [] and k.screen == "service_camera"


def test_card_reader_and_audio_tests_answer_on_the_tests_screen(tech):
    k = tech
    k.press("service:tests")
    assert params(k)["card"] is None
    k.press("test:cards")
    card = params(k)["card"]
    assert card["state"] in ("ok", "none", "down")
    if card["state"] == "down":
        assert card["detail"]  # why: no PC/SC service, or pyscard missing
    k.press("test:audio")
    assert params(k)["audio"]["state"] == "played" and 0 < params(k)["audio"]["volume"] <= 100
    assert k.tones[-1] == "complete"
    assert k.spoken[-1][0] == "hint.audio_test" and k.spoken[-1][1] == k.language


# ---- the log --------------------------------------------------------------------------------------------


def test_log_screen_shows_recent_lines_with_paging(tech):
    k = tech
    for n in range(2 * LOG_PAGE_SIZE + 3):
        logging.getLogger("kioskd.test").warning("line %d", n)
    k.press("service:log")
    p = params(k)
    assert p["pages"] >= 3 and p["page"] == p["pages"] - 1  # opens on the newest lines
    assert p["lines"][-1].endswith(f"line {2 * LOG_PAGE_SIZE + 2}")
    k.press("prev")
    assert params(k)["page"] == p["page"] - 1
    assert len(params(k)["lines"]) == LOG_PAGE_SIZE
    k.press("next")
    assert params(k)["page"] == p["page"]


# ---- leaving -----------------------------------------------------------------------------------------------


def test_service_mode_ends_by_itself_after_silence(tech):
    k = tech
    k.press("service:lockers")
    k.advance(119)
    assert k.screen == "service_lockers"  # the live refresh is not activity, but 2 minutes are allowed
    k.advance(2)
    assert k.screen == "timeout"
    k.press("extend")
    assert k.screen == "service_lockers"
    k.advance(121 + 16)
    assert k.screen == "attract" and k.kiosk.state.service is None


@pytest.mark.parametrize("action", ["locker:99", "locker:", "locker:x", "test:nothing", "service:nowhere"])
def test_unknown_actions_change_nothing(tech, action):
    from kioskd.events import Tap

    k = tech
    for screen in ("service:lockers", "back", "service:tests", "back"):
        before = k.kiosk.state
        k.kiosk.dispatch(Tap(action))
        k.settle()
        assert k.kiosk.state.phase == before.phase and k.released == []
        k.press(screen)


# ---- the parts service mode reads ------------------------------------------------------------------------


def test_masked_frames_never_show_more_than_four_hex_digits():
    from hypothesis import given
    from hypothesis import strategies as st

    from kioskd.diagnostics import mask_uid

    @given(st.text(alphabet="0123456789ABCDEFabcdef :-<>XYZ", max_size=60))
    def check(text):
        masked = mask_uid(text)
        assert sum(ch in "0123456789ABCDEFabcdef" for ch in masked) <= 4
        assert len(masked) == len(text)

    check()
    assert mask_uid("0A1B2C3D4E") == "••••••3D4E"
    assert mask_uid("04:A2:3B:C4:D5") == "••:••:••:C4:D5"  # separators do not let a UID through


def test_recent_log_keeps_the_last_first_lines():
    from kioskd.logbuffer import RecentLog

    handler = RecentLog(capacity=3)
    logger = logging.getLogger("kioskd.test.recent")
    logger.addHandler(handler)
    try:
        for n in range(5):
            logger.warning("event %d", n)
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed\nsecond line")
    finally:
        logger.removeHandler(handler)
    lines = handler.lines()
    assert len(lines) == 3
    assert lines[0].endswith("WARNING test.recent: event 3") and lines[-1].endswith("ERROR test.recent: failed")
    assert not any("Traceback" in line or "second line" in line for line in lines)


def test_card_reader_status_without_pcscd_is_an_answer(monkeypatch, tmp_path):
    from kioskd.drivers.cards import pcsc_status

    monkeypatch.setenv("PCSCLITE_CSOCK_NAME", str(tmp_path / "no-pcscd.comm"))  # no daemon behind it
    status = pcsc_status()
    assert status.state in ("down", "none")
    assert status.readers == () and not status.card_present and status.detail


@pytest.mark.parametrize("line, message", [
    ("inactivity_seconds = 5", "service.inactivity_seconds"),
    ("refresh_seconds = 0", "service.refresh_seconds"),
    ('relay_test_seconds = "soon"', "service.relay_test_seconds"),
    ("unknown = 1", "service.unknown"),
])
def test_broken_service_config_is_refused_precisely(line, message):
    from kioskd.config import ConfigError, parse_config

    text = SIM_CONFIG.read_text().split("\n[service]")[0] + f"\n[service]\n{line}\n"
    with pytest.raises(ConfigError) as refused:
        parse_config(text, SIM_CONFIG)
    assert any(message in problem for problem in refused.value.problems), refused.value.problems
