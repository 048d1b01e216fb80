"""Pickups end to end through the harness: real store, MockFactory relays, real touch path,
real QR images through the real decoder."""

import pytest

from conftest import NOW, reservation


def pin_pickup(k, code="40213377"):
    k.press("pickup")
    k.press("method:pin")
    k.type_code(code)


def test_pin_pickup_end_to_end(kiosk):
    k = kiosk
    k.load([reservation()])
    assert k.screen == "attract"
    pin_pickup(k)
    assert k.screen == "locker_open"
    assert k.released == [(3, NOW)]
    row = k.store.conn.execute("SELECT reservation_id, locker, state FROM releases").fetchall()
    assert row == [("R-1001", 3, "pending")]
    assert any("3" in t for t in k.texts)
    k.open_door(3)
    assert k.screen == "close_door"
    assert k.outbox() == []  # collected only when the door is closed again
    k.advance(5)
    k.close_door(3)
    assert k.screen == "thanks"
    events = k.outbox()
    assert [e["type"] for e in events] == ["pickup.collected"]
    assert events[0]["payload"]["reservation"] == "R-1001" and events[0]["payload"]["method"] == "pin"
    status = k.store.conn.execute("SELECT status FROM reservations WHERE id='R-1001'").fetchone()[0]
    assert status == "collected"
    k.press("done")
    assert k.screen == "attract"


def test_qr_pickup_and_replay_refused(kiosk):
    k = kiosk
    k.load([reservation(pin=None)])
    token = k.token_for("R-1001")
    k.press("pickup")
    k.press("method:qr")
    assert k.screen == "scan"
    k.show_qr(token)
    assert k.screen == "locker_open" and k.released == [(3, NOW)]
    spent = k.store.conn.execute("SELECT token_id, release_id FROM spent_tokens").fetchall()
    assert len(spent) == 1
    k.show_qr(None)
    k.open_door(3)
    k.close_door(3)
    k.press("done")
    k.show_qr(token)  # the same code again, straight from the attract screen
    assert k.screen == "error"
    assert k.parts.screen.model  # rendered
    assert k.store.conn.execute("SELECT COUNT(*) FROM releases").fetchone()[0] == 1
    assert len(k.released) == 1


def test_forged_and_foreign_qr_refused(kiosk, tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from kioskd import tokens

    k = kiosk
    k.load([reservation()])
    forged = tokens.mint(Ed25519PrivateKey.generate(), "R-1001", "sim-1", NOW + 3600)
    k.show_qr(forged)
    assert k.screen == "error" and k.released == []
    k.press("ok")
    k.show_qr(None)
    k.show_qr(k.token_for("R-1001", kiosk_id="aalter-2"))
    assert k.screen == "error" and k.released == []
    k.show_qr(None)
    k.show_qr("https://example.org/not-a-token")
    assert k.screen == "error" and k.released == []


def test_wrong_code_then_lockout_escalates(kiosk):
    k = kiosk
    k.load([reservation()])
    k.press("pickup")
    k.press("method:pin")
    for _attempt in range(4):
        k.type_code("11111111")
        assert k.screen == "error"
        texts = " ".join(k.texts)
        k.press("ok")
        k.press("method:pin")
    k.type_code("11111111")  # fifth failure: locked for 30 s
    assert k.screen == "error"
    state = k.store.conn.execute("SELECT failures, locked_until FROM lockouts WHERE method='pin'").fetchone()
    assert state == (5, NOW + 30)
    k.press("ok")
    k.press("method:pin")
    k.type_code("40213377")  # even the right code is refused while locked
    assert k.screen == "error" and k.released == []
    k.advance(31)
    k.press("ok") if k.screen == "error" else None
    if k.screen == "timeout":
        k.press("extend")
    k.press("method:pin") if k.screen == "method" else None
    if k.screen != "pin":
        k.press("pickup")
        k.press("method:pin")
    k.type_code("22222222")  # sixth failure doubles the lockout
    locked_until = k.store.conn.execute("SELECT locked_until FROM lockouts WHERE method='pin'").fetchone()[0]
    assert locked_until == pytest.approx(k.clock.time() + 60)
    assert texts  # the error screen said something


def test_expired_and_collected_twice_refused(kiosk):
    k = kiosk
    k.load([reservation(), reservation("R-OLD", locker=5, pin="12340000", expires_at="2026-11-01T00:00:00+00:00")])
    pin_pickup(k, "12340000")
    assert k.screen == "error" and k.released == []
    assert k.kiosk.state.error == "expired"
    k.press("ok")
    k.press("method:pin")
    k.type_code("40213377")
    k.open_door(3)
    k.close_door(3)
    k.press("done")
    pin_pickup(k)
    assert k.screen == "error" and len(k.released) == 1
    assert k.kiosk.state.error == "already_collected"
    assert k.store.conn.execute("SELECT COUNT(*) FROM lockouts").fetchone()[0] == 0  # not a wrong guess


def test_strong_product_code_alone_asks_for_proof(kiosk):
    k = kiosk
    k.load([reservation(product="passport", national_number="85073003328")])
    pin_pickup(k)
    assert k.screen == "prove" and k.released == []  # the PIN only said which reservation


def test_door_never_opened_retries_once_then_alarm(kiosk):
    k = kiosk
    k.load([reservation()])
    pin_pickup(k)
    k.advance(20)
    assert k.released == [(3, NOW), (3, NOW + 20)]
    k.advance(20)
    assert k.screen == "help"
    assert [e["type"] for e in k.outbox()] == ["alarm.door_not_opened", "locker.suspect"]
    states = [r[0] for r in k.store.conn.execute("SELECT state FROM releases ORDER BY id")]
    assert states == ["unopened", "unopened"]
    assert k.store.conn.execute("SELECT status FROM reservations").fetchone()[0] == "ready"


def test_door_left_open_reminds_then_alarms(kiosk):
    k = kiosk
    k.load([reservation()])
    pin_pickup(k)
    k.open_door(3)
    k.advance(30)
    assert k.screen == "close_door" and k.parts.kiosk.state.reminder
    k.advance(90)
    types = [e["type"] for e in k.outbox()]
    assert types == ["alarm.door_left_open", "pickup.collected"]
    assert k.screen == "attract"
    k.close_door(3)  # closing later is journaled, no second collection
    assert [e["type"] for e in k.outbox()] == types


def test_reopen_within_grace(kiosk):
    k = kiosk
    k.load([reservation()])
    pin_pickup(k)
    k.open_door(3)
    k.close_door(3)
    k.advance(10)
    k.press("reopen")
    assert k.screen == "locker_open" and len(k.released) == 2
    k.open_door(3)
    k.close_door(3)
    assert [e["type"] for e in k.outbox()] == ["pickup.collected"]
    k.advance(61)  # nobody there: the usual warning after 45 s, then the session ends
    assert k.screen == "attract"


def test_the_reopen_window_does_not_grow_with_activity(kiosk):
    k = kiosk
    k.load([reservation()])
    pin_pickup(k)
    k.open_door(3)
    k.close_door(3)
    for _ in range(3):  # someone keeps the session alive by touching the screen
        k.advance(25)
        k.press("help")
        k.press("back")
    assert k.screen == "thanks"
    assert k.parts.screen.model.button("reopen") is None  # 75 s after closing: the 60 s window is over
    assert len(k.released) == 1


def test_inactivity_warns_then_returns_to_attract_in_default_language(kiosk):
    k = kiosk
    k.press("lang:en")
    k.press("pickup")
    assert k.language == "en"
    k.advance(45)
    assert k.screen == "timeout"
    k.press("extend")
    assert k.screen == "method"
    k.advance(45 + 15)
    assert k.screen == "attract" and k.language == "nl"


def test_forced_door_is_an_alarm(kiosk):
    kiosk.open_door(7)
    assert [e["type"] for e in kiosk.outbox()] == ["alarm.door_forced"]


def test_rfid_tag_goes_through_real_parser(kiosk):
    kiosk.present_tag("0A1B2C3D4E")
    assert kiosk.parts.tag_reader.parser.frames_ok == 1
    # no loan has this tag: the citizen is told so, and nothing else changes
    assert kiosk.screen == "error" and kiosk.parts.screen.current[1]["reason"] == "unknown_tag"
    assert kiosk.released == [] and kiosk.outbox() == []


def test_relays_off_at_start_and_after_pulse(kiosk):
    import time

    assert kiosk.parts.lock_bank.relays_off()
    kiosk.load([reservation()])
    pin_pickup(kiosk)
    assert not kiosk.parts.lock_bank.relays_off()
    deadline = time.monotonic() + 5
    while not kiosk.parts.lock_bank.relays_off() and time.monotonic() < deadline:
        time.sleep(0.05)  # the pulse is bounded (0.5 s in sim.toml) in wall time
    states = kiosk.relay_pin(3).states
    assert kiosk.parts.lock_bank.relays_off() and 0.4 <= states[-1].timestamp <= 1.5


def test_help_during_open_door_keeps_the_session(kiosk):
    k = kiosk
    k.load([reservation()])
    pin_pickup(k)
    k.open_door(3)
    k.press("help")
    assert k.parts.screen.model.button("restart") is None  # the door must be settled before starting over
    k.press("back")
    assert k.screen == "close_door"
    k.close_door(3)
    assert [e["type"] for e in k.outbox()] == ["pickup.collected"]


def test_cancelled_reservation_is_told_so(kiosk):
    k = kiosk
    k.load([reservation()])
    k.load([{"type": "reservation.cancel", "id": "R-1001"}])
    pin_pickup(k)
    assert k.screen == "error" and k.kiosk.state.error == "cancelled" and k.released == []


def test_relay_fault_is_refused_and_alarmed(kiosk):
    k = kiosk
    k.load([reservation()])
    k.parts.lock_bank.relays[3].close()  # the relay output is gone (e.g. a GPIO fault)
    pin_pickup(k)
    assert k.screen == "error" and k.released == []
    assert [e["type"] for e in k.outbox()] == ["alarm.relay_fault", "locker.suspect"]
    assert k.store.conn.execute("SELECT state FROM releases").fetchone()[0] == "unopened"
    assert k.store.conn.execute("SELECT status FROM reservations").fetchone()[0] == "ready"


def test_doors_shows_each_sensor(kiosk):
    assert set(kiosk.doors.values()) == {"closed"} and len(kiosk.doors) == 9
    kiosk.open_door(7)
    assert kiosk.doors[7] == "open" and kiosk.doors[6] == "closed"
    kiosk.close_door(7)
    assert kiosk.doors[7] == "closed"
