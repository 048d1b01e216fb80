"""Returning loaned items at the kiosk: by an item's tag or by code, every tag checked, a free locker opened,
the return recorded with its outbox event. End to end through the harness: tags are RDM6300 frames through
the real parser, doors are MockFactory pins, the store is a real SQLite file."""

from __future__ import annotations

from conftest import NOW, reservation

KEY_A, KEY_B, STRAY = "0A1B2C3D4E", "0A1B2C3D4F", "7700FF0011"


def loan(rid="L-1", locker=1, pin="73105528", tags=(KEY_A, KEY_B), product="room-key"):
    return reservation(rid=rid, locker=locker, pin=pin, product=product, tags=list(tags))


def collect(k, pin="73105528", locker=1):
    k.press("pickup")
    k.press("method:pin")
    k.type_code(pin)
    k.open_door(locker)
    k.close_door(locker)
    k.press("done")
    assert k.screen == "attract"


def status(k, rid="L-1"):
    return k.store.conn.execute("SELECT status FROM reservations WHERE id = ?", (rid,)).fetchone()[0]


def test_a_loan_is_returned_by_presenting_its_items(kiosk):
    k = kiosk
    k.load([loan()])
    collect(k)
    assert status(k) == "on_loan"
    k.advance(3600)
    k.present_tag(KEY_A)  # on the start screen: the tag itself starts the return
    assert k.screen == "return_tags"
    assert k.kiosk.state.presented == (KEY_A,)
    k.present_tag(STRAY)
    assert k.kiosk.state.notice == "wrong_tag" and k.spoken[-1][0].startswith("screen.return_tags")
    k.advance(2)  # the reader's hold time: the same tag again later counts as a new read
    k.present_tag(KEY_A)
    assert k.kiosk.state.notice == "already_counted" and len(k.kiosk.state.presented) == 1
    k.present_tag(KEY_B)
    assert k.kiosk.state.presented == (KEY_A, KEY_B) and k.kiosk.state.notice is None
    k.press("continue")
    assert k.screen == "locker_open"
    locker = k.kiosk.state.locker
    assert locker is not None and k.released[-1][0] == locker
    k.open_door(locker)
    assert k.screen == "close_door"
    k.close_door(locker)
    assert k.screen == "return_done"
    assert status(k) == "returned"
    returned = [e for e in k.outbox() if e["type"] == "loan.returned"]
    assert len(returned) == 1
    assert returned[0]["payload"]["complete"] and returned[0]["payload"]["tags"] == [KEY_A, KEY_B]
    assert returned[0]["payload"]["locker"] == locker
    k.press("done")
    assert k.screen == "attract"


def test_a_partial_return_is_recorded_and_the_rest_can_follow(kiosk):
    k = kiosk
    k.load([loan()])
    collect(k)
    k.present_tag(KEY_B)
    k.press("continue")
    first = k.kiosk.state.locker
    k.open_door(first)
    k.close_door(first)
    assert k.screen == "return_done"
    assert status(k) == "partially_returned"
    assert k.parts.screen.current[1]["outstanding"] == 1
    k.press("done")
    k.advance(5)
    k.present_tag(KEY_A)
    assert k.screen == "return_tags" and k.kiosk.state.loan_returned == (KEY_B,)
    k.press("continue")
    second = k.kiosk.state.locker
    assert second != first  # the first locker holds the first item until staff empty it
    k.open_door(second)
    k.close_door(second)
    assert status(k) == "returned"
    assert [e["payload"]["complete"] for e in k.outbox() if e["type"] == "loan.returned"] == [False, True]


def test_a_return_by_code_counts_every_item_at_the_reader(kiosk):
    k = kiosk
    k.load([loan()])
    collect(k)
    k.press("return")
    assert k.screen == "return_identify"
    k.press("method:pin")
    k.type_code("73105528")
    assert k.screen == "return_tags" and k.kiosk.state.presented == ()
    assert k.parts.screen.model.button("continue") is None  # nothing to put away yet
    k.present_tag(KEY_A)
    assert k.parts.screen.model.button("continue") is not None


def test_a_return_by_qr_code(kiosk):
    k = kiosk
    k.load([loan()])
    collect(k)
    k.press("return")
    k.show_qr(k.token_for("L-1"))
    assert k.screen == "return_tags"


def test_refusals_are_explained(kiosk):
    k = kiosk
    k.load([loan(), reservation(rid="R-9", locker=9, pin="51515151")])
    k.press("return")
    k.present_tag(STRAY)
    assert k.screen == "error" and k.parts.screen.current[1]["reason"] == "unknown_tag"
    k.press("restart")
    k.present_tag(KEY_A)  # lent but not collected yet
    assert k.screen == "error" and k.parts.screen.current[1]["reason"] == "not_on_loan"
    k.press("restart")
    k.press("return")
    k.press("method:pin")
    k.type_code("51515151")  # a plain pickup's code: nothing to return
    assert k.screen == "error" and k.parts.screen.current[1]["reason"] == "not_on_loan"
    assert k.released == [] and [e for e in k.outbox() if e["type"] == "loan.returned"] == []


def test_no_free_locker_means_the_door_stays_shut(kiosk):
    k = kiosk
    k.load([loan()])
    collect(k)
    with k.store.transaction() as conn:
        conn.execute("UPDATE lockers SET out_of_service = 1")
    k.present_tag(KEY_A)
    k.press("continue")
    assert k.screen == "error" and k.parts.screen.current[1]["reason"] == "no_free_locker"
    assert len(k.released) == 1  # only the pickup's release
    assert status(k) == "on_loan"


def test_a_blind_citizen_returns_a_key_with_keys_only(kiosk):
    k = kiosk
    k.load([loan(tags=(KEY_A,))])
    collect(k)
    k.key("5", hold=2.0)
    for _ in range(3):
        if k.focus == "return":
            break
        k.key("down")
    k.key("enter")
    assert k.screen == "return_identify" and k.spoken[-1][0] == "screen.return_identify.qr.keys"
    k.present_tag(KEY_A)
    assert k.screen == "return_tags"
    assert "one" in k.spoken[-1][2].lower() or "één" in k.spoken[-1][2]
    while k.focus != "continue":
        k.key("down")
    k.key("enter")
    locker = k.kiosk.state.locker
    k.open_door(locker)
    k.close_door(locker)
    assert k.screen == "return_done" and status(k) == "returned"
    assert not any(c.isdigit() for _, _, text in k.spoken for c in text)
    assert k.released[0] == (1, NOW)  # the pickup's release came first


def test_a_return_interrupted_after_the_door_closed_is_recorded_at_restart(tmp_path):
    """Killed between the door closing and the record: the release row kept the tags, recovery records them."""
    from kioskd.effects import RecordReturn
    from kioskd.sim import Harness

    from conftest import SIM_CONFIG

    data = tmp_path / "data"
    with Harness(config=SIM_CONFIG, data_dir=data, start=NOW) as k:
        k.load([loan()])
        collect(k)
        k.present_tag(KEY_A)
        k.present_tag(KEY_B)
        k.press("continue")
        locker = k.kiosk.state.locker
        k.kiosk.runner._dispatch[RecordReturn] = lambda e: None  # the process "dies" before the return is written
        k.open_door(locker)
        k.close_door(locker)
        assert status(k) == "on_loan"
    with Harness(config=SIM_CONFIG, data_dir=data, start=NOW + 60) as k:
        assert status(k) == "returned"
        assert any("return in locker" in note for note in k.parts.recovered)
        assert [e["payload"]["tags"] for e in k.outbox() if e["type"] == "loan.returned"] == [[KEY_A, KEY_B]]
    with Harness(config=SIM_CONFIG, data_dir=data, start=NOW + 120) as k:  # and only once
        assert len([e for e in k.outbox() if e["type"] == "loan.returned"]) == 1


def test_a_return_by_the_qr_code_its_pickup_used(kiosk):
    k = kiosk
    k.load([loan()])
    token = k.token_for("L-1")
    k.press("pickup")
    k.press("method:qr")
    k.show_qr(token)
    k.show_qr(None)
    k.open_door(1)
    k.close_door(1)
    k.press("done")
    k.press("return")
    k.show_qr(token)  # spent at the pickup, still good to name the loan for its return
    assert k.screen == "return_tags"
    assert k.store.conn.execute("SELECT COUNT(*) FROM lockouts WHERE failures > 0").fetchone()[0] == 0


def test_a_locker_whose_door_is_open_is_never_chosen(kiosk):
    k = kiosk
    k.load([loan()])
    collect(k)
    k.open_door(2)  # forced, or left open: no release explains it
    k.open_door(3)
    k.present_tag(KEY_A)
    k.press("continue")
    assert k.kiosk.state.locker not in (2, 3)
