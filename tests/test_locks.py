"""The lock bank on gpiozero's MockFactory: fail secure, bounded pulses, debounced doors."""

import time

import pytest
from gpiozero.pins.mock import MockFactory

from kioskd.drivers.locks import GpioLockBank, LockElectrics, LockWiring, SimLockBank
from kioskd.events import DoorClosed, DoorOpened

WIRING = {1: LockWiring("GPIO17", "GPIO4"), 2: LockWiring("GPIO27", "GPIO5")}


def test_relays_created_off_and_pulse_is_bounded():
    events = []
    bank = SimLockBank(WIRING, events.append, electrics=LockElectrics(pulse_seconds=0.2))
    pin = bank.relay_pin(1)
    assert bank.relays_off() and [s.state for s in pin.states] == [False]
    bank.pulse(1)
    assert pin.state  # energised when pulse() returns
    time.sleep(0.4)
    assert bank.relays_off()
    on, off = pin.states[1], pin.states[2]
    assert on.state and not off.state and 0.15 <= off.timestamp <= 0.35  # held for ~pulse_seconds, no longer
    bank.close()


def test_second_pulse_is_a_new_edge_and_close_switches_off():
    bank = SimLockBank(WIRING, lambda e: None, electrics=LockElectrics(pulse_seconds=2))
    bank.pulse(2)
    bank.pulse(2)
    assert sum(s.state for s in bank.relay_pin(2).states) == 2
    pin = bank.relay_pin(2)
    bank.close()
    assert not pin.state


def test_active_low_relay_board():
    factory = MockFactory()
    bank = SimLockBank(WIRING, lambda e: None, pin_factory=factory,
                       electrics=LockElectrics(pulse_seconds=0.1, relay_active_high=False))
    assert factory.pin("GPIO17").state  # inactive = high on an active-low board: lock not energised
    bank.pulse(1)
    assert not factory.pin("GPIO17").state
    bank.close()


@pytest.mark.parametrize("closed_level", ["low", "high"])
def test_doors_report_open_and_close(closed_level):
    events = []
    bank = SimLockBank(WIRING, events.append, electrics=LockElectrics(door_closed_level=closed_level,
                                                                       door_pull_up=closed_level == "low"))
    assert events == [] and not bank.door_is_open(1)
    bank.open_door(2)
    assert bank.door_is_open(2)
    bank.close_door(2)
    assert events == [DoorOpened(2), DoorClosed(2)]
    level = bank.pin_factory.pin("GPIO5").state
    assert level == (closed_level == "high")
    bank.close()


def test_real_bank_class_on_any_factory_rejects_long_pulses():
    with pytest.raises(ValueError, match="pulse"):
        GpioLockBank(WIRING, lambda e: None, pin_factory=MockFactory(), electrics=LockElectrics(pulse_seconds=9))


def test_sim_assigns_pins_when_config_names_none():
    bank = SimLockBank({n: None for n in range(1, 10)}, lambda e: None)
    pins = [p for w in bank.wiring.values() for p in (w.relay, w.door)]
    assert len(set(pins)) == 18
    bank.close()
