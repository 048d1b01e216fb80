"""Staff loading and emptying lockers with an enrolled badge and its PIN, end to end through the harness."""

from __future__ import annotations

from conftest import reservation

BADGE, PIN = "B0B0B0B0B0", "2604"


def enrol(k, uid=BADGE, pin=PIN, role="staff", name="An Peeters"):
    k.load([{"type": "badge", "uid": uid, "role": role, "pin": pin, "name": name}])


def awaiting(rid, product="vouchers", **extra):
    change = {"type": "reservation", "id": rid, "product": product, "status": "awaiting_stock", "pin": "73105528"
              if rid == "R-10" else "84910362"}
    change.update(extra)
    return change


def log_in(k, uid=BADGE, pin=PIN):
    k.present_tag(uid)
    assert k.screen == "staff_pin"
    for digit in pin:
        k.press(f"digit:{digit}")
    k.press("ok")


def status(k, rid):
    return k.store.conn.execute("SELECT status, locker FROM reservations WHERE id = ?", (rid,)).fetchone()


def test_staff_load_several_items_in_one_go(kiosk):
    k = kiosk
    enrol(k)
    k.load([awaiting("R-10"), awaiting("R-11", product="party-material", tags=["0A0A0A0A0A"])])
    log_in(k)
    assert k.screen == "staff_menu"
    assert k.parts.screen.current[1]["to_load"] == 2
    k.press("load")
    assert k.screen == "staff_load"
    assert [item["id"] for item in k.parts.screen.current[1]["items"]] == ["R-10", "R-11"]
    k.press("load:R-10")
    assert k.screen == "locker_open" and k.parts.screen.current[1]["purpose"] == "load"
    small = k.kiosk.state.locker
    assert small in (1, 2, 3)  # vouchers fit a small locker, and the smallest free one is proposed
    k.open_door(small)
    k.close_door(small)
    assert k.screen == "staff_load"
    assert k.parts.screen.current[1]["loaded"] == {"id": "R-10", "locker": small}
    assert status(k, "R-10") == ("ready", small)
    k.press("load:R-11")
    large = k.kiosk.state.locker
    assert large in (7, 8, 9)
    k.open_door(large)
    k.close_door(large)
    assert status(k, "R-11") == ("ready", large)
    assert k.parts.screen.current[1]["items"] == []
    loaded = [e["payload"]["reservation"] for e in k.outbox() if e["type"] == "reservation.loaded"]
    assert loaded == ["R-10", "R-11"]
    k.press("restart")  # log out
    assert k.screen == "attract" and k.kiosk.state.staff_badge is None
    # the citizen can now collect what was loaded
    k.press("pickup")
    k.press("method:pin")
    k.type_code("73105528")
    assert k.screen == "locker_open" and k.kiosk.state.locker == small


def test_a_wrong_staff_pin_is_refused_and_can_be_typed_again(kiosk):
    k = kiosk
    enrol(k)
    log_in(k, pin="9137")
    assert k.screen == "error" and k.parts.screen.current[1]["reason"] == "badge_refused"
    k.press("ok")
    assert k.screen == "staff_pin"
    for digit in PIN:
        k.press(f"digit:{digit}")
    k.press("ok")
    assert k.screen == "staff_menu"


def test_no_staff_pin_digit_is_shown_or_spoken(kiosk):
    k = kiosk
    enrol(k)
    k.present_tag(BADGE)
    for digit in PIN[:3]:
        k.press(f"digit:{digit}")
    model = k.parts.screen.model
    shown = [t for t in model.texts() if t not in {b.label for b in model.buttons() if b.style == "digit"}]
    assert not any(ch.isdigit() for text in shown for ch in text)  # only dots stand for the PIN
    assert not any(ch.isdigit() for _, _, text in k.spoken for ch in text)


def test_an_unknown_or_revoked_badge_is_just_an_unknown_tag(kiosk):
    k = kiosk
    enrol(k)
    k.load([{"type": "badge.revoke", "uid": BADGE}])
    k.present_tag(BADGE)
    assert k.screen == "error" and k.parts.screen.current[1]["reason"] == "unknown_tag"


def test_staff_empty_a_locker_with_returned_items(kiosk):
    k = kiosk
    enrol(k)
    k.load([reservation(rid="L-1", locker=1, pin="73105528", product="room-key", tags=["0A1B2C3D4E"])])
    k.press("pickup")
    k.press("method:pin")
    k.type_code("73105528")
    k.open_door(1)
    k.close_door(1)
    k.press("done")
    k.present_tag("0A1B2C3D4E")
    k.press("continue")
    locker = k.kiosk.state.locker
    k.open_door(locker)
    k.close_door(locker)
    k.press("done")
    k.advance(5)
    log_in(k)
    assert k.parts.screen.current[1]["to_collect"] == 1
    k.press("collect")
    assert k.parts.screen.current[1]["lockers"] == [{"locker": locker, "what": "returned", "id": "L-1"}]
    k.press(f"take:{locker}")
    assert k.screen == "locker_open" and k.parts.screen.current[1]["purpose"] == "take_out"
    k.open_door(locker)
    k.close_door(locker)
    assert k.screen == "staff_collect" and k.parts.screen.current[1]["emptied"] == locker
    assert k.parts.screen.current[1]["lockers"] == []
    assert status(k, "L-1")[0] == "closed"
    assert "locker.emptied" in [e["type"] for e in k.outbox()]


def test_staff_are_logged_out_after_silence(kiosk):
    k = kiosk
    enrol(k)
    log_in(k)
    k.advance(k.config.pickup.inactivity_seconds)
    assert k.screen == "timeout"
    k.advance(k.config.pickup.timeout_warning_seconds)
    assert k.screen == "attract" and k.kiosk.state.staff_badge is None


def test_staff_load_an_order_by_the_qr_on_its_envelope(kiosk):
    k = kiosk
    enrol(k)
    k.load([awaiting("R-10"), awaiting("R-11")])
    log_in(k)
    k.press("load")
    k.show_qr(k.token_for("R-11"))
    assert k.screen == "locker_open" and k.kiosk.state.reservation_id == "R-11"
    k.open_door(k.kiosk.state.locker)
    k.close_door(k.kiosk.state.locker)
    assert status(k, "R-11")[0] == "ready" and status(k, "R-10")[0] == "awaiting_stock"
    k.show_qr(None)
    k.show_qr(k.token_for("R-11"))  # already loaded: nothing opens, a tone says so
    assert k.screen == "staff_load" and "error" in k.tones


def test_a_load_that_cannot_be_recorded_after_the_door_closed_is_an_alarm(kiosk):
    """The locker was taken out of service by another writer while its door stood open: the item is in it
    but the load cannot be recorded. Nothing is half-written; staff are alarmed to check the locker."""
    k = kiosk
    enrol(k)
    k.load([awaiting("R-10")])
    log_in(k)
    k.press("load")
    k.press("load:R-10")
    locker = k.kiosk.state.locker
    k.open_door(locker)
    with k.store.transaction() as conn:
        conn.execute("UPDATE lockers SET out_of_service = 1 WHERE number = ?", (locker,))
    k.close_door(locker)
    assert status(k, "R-10") == ("awaiting_stock", None)
    assert not [e for e in k.outbox() if e["type"] == "reservation.loaded"]
    alarm, = [a for a in k.alarms() if a["kind"] == "record_failed"]
    assert alarm["locker"] == locker
    event, = [e["payload"] for e in k.outbox() if e["type"] == "alarm.record_failed"]
    assert event["work"] == "load" and event["reason"] == "locker_unavailable" and event["reservation"] == "R-10"


def test_a_load_interrupted_with_the_door_open_is_checked_before_the_locker_is_used_again(tmp_path):
    """The kiosk stops while staff have a door open: after the restart the release is interrupted, the
    locker is suspect (no return or load goes there) and an alarm asks staff to check it."""
    from kioskd.sim import Harness

    from conftest import NOW, SIM_CONFIG

    data = tmp_path / "data"
    with Harness(config=SIM_CONFIG, data_dir=data, start=NOW) as k:
        enrol(k)
        k.load([awaiting("R-10")])
        log_in(k)
        k.press("load")
        k.press("load:R-10")
        locker = k.kiosk.state.locker
        k.open_door(locker)
    with Harness(config=SIM_CONFIG, data_dir=data, start=NOW + 60) as k:
        alarm, = [a for a in k.alarms() if a["kind"] == "work_interrupted"]
        assert alarm["locker"] == locker
        assert k.store.conn.execute("SELECT suspect FROM lockers WHERE number = ?", (locker,)).fetchone() == (1,)
        assert status(k, "R-10") == ("awaiting_stock", None)  # not recorded as loaded: nobody knows
        kinds = [e["type"] for e in k.outbox()]
        assert "release.interrupted" in kinds and "alarm.work_interrupted" in kinds and "locker.suspect" in kinds
