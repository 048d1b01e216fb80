"""The hardware alarm policy: flapping sensors, devices down and back, the tamper input."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kioskd.flows.alarms import Alarm, AlarmMonitor, AlarmSettings


def test_a_normal_pickup_is_not_flapping():
    m = AlarmMonitor()
    assert m.door_changed(3, 0.0) == [] and m.door_changed(3, 8.0) == []  # opened, closed 8 s later
    assert m.door_changed(3, 20.0) == [] and m.door_changed(3, 25.0) == []  # reopened within the grace


def test_a_flapping_sensor_is_reported_once_per_burst_and_cleared_when_quiet():
    m = AlarmMonitor(AlarmSettings(flap_changes=6, flap_window_seconds=10, flap_quiet_seconds=60))
    raised = [a for i in range(40) for a in m.door_changed(5, i * 0.5)]
    assert raised == [Alarm("sensor_flapping", True, 5, {"changes": 6, "seconds": 10})]
    assert m.flapping(5)
    assert m.tick(19.5 + 59) == []  # not quiet for a minute yet
    assert m.tick(19.5 + 60) == [Alarm("sensor_flapping", False, 5)]
    assert not m.flapping(5)
    assert m.door_changed(5, 100.0) == []  # a fresh start: one change is not a burst


def test_flapping_is_per_locker():
    m = AlarmMonitor(AlarmSettings(flap_changes=3, flap_window_seconds=10))
    for t in (0.0, 1.0):
        m.door_changed(1, t)
        m.door_changed(2, t)
    assert m.door_changed(1, 2.0)[0].locker == 1
    assert m.door_changed(2, 30.0) == []  # locker 2's earlier changes are outside the window


def test_a_device_going_down_is_one_alarm_and_coming_back_clears_it():
    m = AlarmMonitor()
    assert m.device("rfid", False, "port gone") == [Alarm("device_down", True, None,
                                                          {"device": "rfid", "detail": "port gone"})]
    assert m.device("rfid", False, "still gone") == []
    assert m.devices_down == {"rfid": "port gone"}
    assert m.device("rfid", True) == [Alarm("device_down", False, None, {"device": "rfid"})]
    assert m.device("rfid", True) == []


def test_tamper_raises_while_active():
    m = AlarmMonitor()
    assert m.tamper(False) == []
    assert m.tamper(True) == [Alarm("tamper", True)]
    assert m.tamper(True) == []
    assert m.tamper(False) == [Alarm("tamper", False)]


@given(st.lists(st.tuples(st.integers(1, 3), st.floats(0, 5, allow_nan=False)), max_size=200))
def test_every_raised_flapping_alarm_is_cleared_at_most_once(changes):
    m = AlarmMonitor(AlarmSettings(flap_changes=4, flap_window_seconds=3, flap_quiet_seconds=5))
    now, raised, cleared = 0.0, [], []
    for locker, step in changes:
        now += step
        raised += [a.locker for a in m.door_changed(locker, now) if a.active]
        cleared += [a.locker for a in m.tick(now)]
    cleared += [a.locker for a in m.tick(now + 1000)]
    assert sorted(raised) == sorted(cleared)


# ---- through the daemon: alarms become outbox events ------------------------------------------------------


def test_a_flapping_door_sensor_is_one_alarm_in_the_outbox(kiosk):
    for _ in range(4):
        kiosk.open_door(6)
        kiosk.close_door(6)
    kinds = [e["type"] for e in kiosk.outbox()]
    assert kinds.count("alarm.sensor_flapping") == 1
    flap = next(e for e in kiosk.outbox() if e["type"] == "alarm.sensor_flapping")
    assert flap["payload"]["locker"] == 6 and flap["payload"]["changes"] == 6
    kiosk.advance(61)
    assert [e["type"] for e in kiosk.outbox()].count("alarm.sensor_flapping.cleared") == 1


def test_a_reader_going_down_and_back_is_reported_once_each(kiosk):
    from kioskd.events import DeviceStatus, Tamper

    for _ in range(3):
        kiosk.kiosk.post(DeviceStatus("rfid", False, "port vanished"))
        kiosk.settle()
    kiosk.kiosk.post(DeviceStatus("rfid", True))
    kiosk.kiosk.post(Tamper(True))
    kiosk.settle()
    events = [(e["type"], e["payload"].get("device")) for e in kiosk.outbox()]
    assert events == [("alarm.device_down", "rfid"), ("alarm.device_down.cleared", "rfid"), ("alarm.tamper", None)]
    assert kiosk.screen == "attract"  # the kiosk serves on


def test_opening_the_cabinet_raises_the_tamper_alarm_and_closing_clears_it(kiosk):
    kiosk.tamper(True)
    kiosk.tamper(True)
    kiosk.tamper(False)
    assert [e["type"] for e in kiosk.outbox()] == ["alarm.tamper", "alarm.tamper.cleared"]


def test_a_cut_tamper_wire_reads_as_tampered():
    from gpiozero.pins.mock import MockFactory

    from kioskd.drivers.locks import GpioLockBank, LockWiring

    posted = []
    factory = MockFactory()
    factory.pin("GPIO21").function = "input"  # nothing drives it: only the internal pull-up holds it
    bank = GpioLockBank({1: LockWiring("GPIO17", "GPIO4")}, posted.append, pin_factory=factory, tamper="GPIO21")
    try:
        from kioskd.events import Tamper

        assert Tamper(True) in posted
    finally:
        bank.close()


def test_alarms_show_what_is_active_and_clear_when_resolved(kiosk):
    from kioskd.events import DeviceStatus

    kiosk.open_door(2)  # forced: no release
    kiosk.kiosk.post(DeviceStatus("camera", False, "unplugged"))
    kiosk.settle()
    assert [(a["kind"], a["locker"], a["device"]) for a in kiosk.alarms()] == [
        ("door_forced", 2, None), ("device_down", None, "camera")]
    kiosk.close_door(2)
    kiosk.kiosk.post(DeviceStatus("camera", True))
    kiosk.settle()
    assert kiosk.alarms() == []
    assert [a["cleared_at"] is not None for a in kiosk.alarms(active=False)] == [True, True]


def test_a_door_that_never_opens_makes_its_locker_suspect(kiosk):
    from conftest import reservation

    kiosk.load([reservation(locker=5)])
    kiosk.press("pickup")
    kiosk.press("method:pin")
    kiosk.type_code("40213377")
    kiosk.advance(20)  # no door: one retry
    kiosk.advance(20)  # still none: the citizen is told where to get help
    assert kiosk.screen == "help"
    assert ("door_not_opened", 5) in [(a["kind"], a["locker"]) for a in kiosk.alarms()]
    assert kiosk.store.conn.execute("SELECT suspect FROM lockers WHERE number = 5").fetchone()[0] == 1
    assert "locker.suspect" in [e["type"] for e in kiosk.outbox()]


def test_a_door_nobody_watches_left_open_is_reported_once_and_forgotten_when_closed():
    m = AlarmMonitor(AlarmSettings(left_open_seconds=120))
    assert m.door_changed(4, 0.0, opened=True) == []
    assert m.tick(119.0) == []
    assert m.tick(121.0, watched={4}) == []  # the session at that door reminds its user first
    assert m.tick(121.0) == [Alarm("door_left_open", True, 4, {"open_seconds": 121})]
    assert m.tick(500.0) == []  # once
    m.door_changed(4, 510.0, opened=False)
    m.door_changed(4, 600.0, opened=True)
    assert m.tick(700.0) == []
    assert m.tick(721.0) == [Alarm("door_left_open", True, 4, {"open_seconds": 121})]
