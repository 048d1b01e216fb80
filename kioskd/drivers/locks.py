"""Lock bank: one relay and one door sensor per locker, through gpiozero.

The real bank and its Sim twin are the same class; the Sim runs on gpiozero's MockFactory, so a
test sees exactly what the relay pins did and when, and opens doors by driving the sensor pins.
Fail secure: every relay is created off, a release is a bounded pulse (never held), and closing
the bank switches every relay off.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from gpiozero import DigitalInputDevice, DigitalOutputDevice
from gpiozero.exc import GPIOZeroError
from gpiozero.pins.mock import MockFactory

from kioskd.events import DoorClosed, DoorOpened, Post, Tamper

log = logging.getLogger(__name__)

MAX_PULSE_SECONDS = 5.0
# BCM pins a Sim bank uses when the config names none (skips 0/1 ID EEPROM and 14/15 UART)
SIM_PIN_POOL = [f"GPIO{n}" for n in (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17, 18, 19, 20, 21, 22,
                                     23, 24, 25, 26, 27)]


class LockBank(Protocol):
    def pulse(self, locker: int) -> None: ...
    def door_is_open(self, locker: int) -> bool: ...
    def relays_off(self) -> bool: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class LockWiring:
    relay: str
    door: str


@dataclass(frozen=True)
class LockElectrics:
    pulse_seconds: float = 0.5
    relay_active_high: bool = True
    door_closed_level: str = "low"
    door_pull_up: bool = True
    door_bounce_seconds: float | None = 0.05


class GpioLockBank:
    def __init__(self, wiring: Mapping[int, LockWiring], post: Post, *, pin_factory,
                 electrics: LockElectrics = LockElectrics(), tamper: str | None = None,
                 tamper_level: str = "high") -> None:
        if not 0 < electrics.pulse_seconds <= MAX_PULSE_SECONDS:
            raise ValueError(f"relay pulse must be within (0, {MAX_PULSE_SECONDS}] seconds")
        self._post = post
        self._electrics = electrics
        self.pin_factory = pin_factory
        self.relays: dict[int, DigitalOutputDevice] = {}
        self._pulse_timers: dict[int, threading.Timer] = {}
        self.doors: dict[int, DigitalInputDevice] = {}
        try:
            for number, pins in sorted(wiring.items()):
                self.relays[number] = DigitalOutputDevice(
                    pins.relay, active_high=electrics.relay_active_high, initial_value=False,
                    pin_factory=pin_factory)
            for number, pins in sorted(wiring.items()):
                self.doors[number] = self._door_input(pins.door)
        except GPIOZeroError:
            self.close()
            raise
        for number, door in self.doors.items():
            door.when_activated = self._reporter(DoorClosed, number)
            door.when_deactivated = self._reporter(DoorOpened, number)
        self.tamper: DigitalInputDevice | None = None
        if tamper is not None:
            self.tamper = self._tamper_input(tamper, tamper_level)
            self._listen_to_tamper()

    def _tamper_input(self, pin: str, level: str) -> DigitalInputDevice:
        # pulled towards the tampered level, so a cut wire reads as tampered too; "active" is
        # therefore the quiet state (the switch holding the line at the other level)
        return DigitalInputDevice(pin, pull_up=level == "high", bounce_time=self._electrics.door_bounce_seconds,
                                  pin_factory=self.pin_factory)

    def _listen_to_tamper(self) -> None:
        self.tamper.when_activated = lambda: self._post(Tamper(False))
        self.tamper.when_deactivated = lambda: self._post(Tamper(True))
        if not self.tamper.is_active:  # tampered already when the kiosk starts
            self._post(Tamper(True))

    def _door_input(self, pin: str) -> DigitalInputDevice:
        e = self._electrics
        closed_high = e.door_closed_level == "high"
        if e.door_pull_up and not closed_high:
            return DigitalInputDevice(pin, pull_up=True, bounce_time=e.door_bounce_seconds,
                                      pin_factory=self.pin_factory)
        if not e.door_pull_up and closed_high:
            return DigitalInputDevice(pin, pull_up=False, bounce_time=e.door_bounce_seconds,
                                      pin_factory=self.pin_factory)
        return DigitalInputDevice(pin, pull_up=None, active_state=closed_high, bounce_time=e.door_bounce_seconds,
                                  pin_factory=self.pin_factory)

    def _reporter(self, event_type: type, number: int):
        def report() -> None:
            self._post(event_type(number))
        return report

    def pulse(self, locker: int) -> None:
        """Energise the lock for the configured time, in the background; it always switches off."""
        relay = self.relays[locker]
        previous = self._pulse_timers.pop(locker, None)
        if previous is not None:
            previous.cancel()
        if relay.value:
            relay.off()  # a new release is a new, whole pulse, not an extension of the last one
        relay.on()  # synchronous, so the relay is energised when pulse() returns
        timer = threading.Timer(self._electrics.pulse_seconds, relay.off)
        timer.daemon = True
        self._pulse_timers[locker] = timer
        timer.start()

    def door_is_open(self, locker: int) -> bool:
        return not self.doors[locker].is_active

    def relays_off(self) -> bool:
        return all(not relay.value for relay in self.relays.values())

    def close(self) -> None:
        for timer in self._pulse_timers.values():
            timer.cancel()
        for relay in self.relays.values():
            try:
                relay.off()
            except GPIOZeroError as exc:  # already closed or faulty: closing still releases the pin
                log.warning("switching a relay off at close failed: %s", exc)
            finally:
                relay.close()
        for door in self.doors.values():
            door.close()
        if self.tamper is not None:
            self.tamper.close()


class SimLockBank(GpioLockBank):
    """The Sim twin: MockFactory pins; ``open_door``/``close_door`` drive the sensor like a hand would."""

    def __init__(self, lockers: Mapping[int, LockWiring | None], post: Post, *,
                 electrics: LockElectrics = LockElectrics(), pin_factory: MockFactory | None = None,
                 tamper: str | None = None) -> None:
        pool = iter(pin for pin in SIM_PIN_POOL if pin != tamper and all(
            pin not in (w.relay, w.door) for w in lockers.values() if w is not None))
        wiring = {}
        for number, pins in sorted(lockers.items()):
            if pins is None:
                try:
                    pins = LockWiring(next(pool), next(pool))
                except StopIteration:
                    raise ValueError("too many simulated lockers for the Sim pin pool") from None
            wiring[number] = pins
        self.wiring = wiring
        factory = pin_factory or MockFactory()
        self._closed_high = electrics.door_closed_level == "high"
        # a Sim door starts closed: drive the sensor before anyone listens, so no event is posted
        for pins in wiring.values():
            pin = factory.pin(pins.door)
            pin.function = "input"
        # MockPin ignores bounce; a Sim door is as clean as a test wants it to be
        sim_electrics = LockElectrics(electrics.pulse_seconds, electrics.relay_active_high,
                                      electrics.door_closed_level, electrics.door_pull_up, None)
        super().__init__(wiring, post, pin_factory=factory, electrics=sim_electrics)
        # the Sim cabinet always has a tamper switch, quiet at start, so tests can open the service door
        self.tamper_pin = tamper or next(pool)
        self.tamper = self._tamper_input(self.tamper_pin, "high")
        factory.pin(self.tamper_pin).drive_low()
        self._listen_to_tamper()
        listeners = {n: (d.when_activated, d.when_deactivated) for n, d in self.doors.items()}
        for number, door in self.doors.items():
            door.when_activated = door.when_deactivated = None
            self._drive(number, open_=False)
            door.when_activated, door.when_deactivated = listeners[number]

    def _drive(self, locker: int, *, open_: bool) -> None:
        pin = self.pin_factory.pin(self.wiring[locker].door)
        level_high = self._closed_high != open_
        if level_high:
            pin.drive_high()
        else:
            pin.drive_low()

    def open_door(self, locker: int) -> None:
        self._drive(locker, open_=True)

    def close_door(self, locker: int) -> None:
        self._drive(locker, open_=False)

    def set_tamper(self, active: bool) -> None:
        """Open (True) or close the cabinet's service door."""
        pin = self.pin_factory.pin(self.tamper_pin)
        pin.drive_high() if active else pin.drive_low()

    def relay_pin(self, locker: int):
        return self.pin_factory.pin(self.wiring[locker].relay)


def real_pin_factory():
    """The first gpiozero pin library this machine has, chosen here rather than through a global."""
    from importlib import import_module

    for module, name in (("gpiozero.pins.lgpio", "LGPIOFactory"), ("gpiozero.pins.rpigpio", "RPiGPIOFactory"),
                         ("gpiozero.pins.native", "NativeFactory")):
        try:
            return getattr(import_module(module), name)()
        except (ImportError, GPIOZeroError, OSError, RuntimeError) as exc:
            log.info("pin library %s unavailable: %s", name, exc)
    raise GPIOZeroError("no GPIO pin library works on this machine")
