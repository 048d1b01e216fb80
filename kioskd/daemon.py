"""The main loop: one thread owns the screen, the flows and the writing database connection.

Drivers post events into one queue from their own threads. The loop takes one event at a time,
lets the shell journal what must be journaled (door sensors), hands the event to the flow, runs
the flow's effects and feeds their results back to the flow before the next outside event
(run to completion). It sleeps until an event arrives, a timer is due or input must be polled.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections import deque
from collections.abc import Callable

from kioskd import effects as fx
from kioskd import journal
from kioskd.clock import Clock
from kioskd.events import DeviceStatus, DoorClosed, DoorOpened, Key, Tamper, Tap, TimerFired
from kioskd.flows.alarms import Alarm, AlarmMonitor
from kioskd.flows.pickup import DOOR_PHASES, Phase, PickupFlow, PickupState
from kioskd.runner import EffectRunner, Timers
from kioskd.store import Store
from kioskd.ui.keypad import navigate

log = logging.getLogger(__name__)


class Quit(Exception):
    pass


class Kiosk:
    def __init__(self, *, clock: Clock, store: Store, flow: PickupFlow, screen, poll_seconds: float = 0.02,
                 alarms: AlarmMonitor | None = None) -> None:
        self.clock = clock
        self.store = store
        self.flow = flow
        self.screen = screen
        self.timers = Timers()
        self.poll_seconds = poll_seconds
        self.devices: dict[str, DeviceStatus] = {}
        self.alarms = alarms or AlarmMonitor()
        self.state: PickupState | None = None
        self.runner: EffectRunner | None = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self.events_handled = 0
        # the simulator's hardware panel sees input first (its clicks are not a citizen's taps)
        self.input_hook: Callable[[object], bool] | None = None
        self._outbox_hook: Callable[[], None] | None = None
        self._outbox_top = 0

    def watch_outbox(self, hook: Callable[[], None] | None) -> None:
        """``hook()`` runs (on this thread, so it must be quick and thread-safe) whenever handling an event
        committed new outbox rows: the composition root wakes the sync thread with it, so an event goes to
        the town hall at once instead of at the next push interval."""
        self._outbox_hook = hook
        self._outbox_top = self._outbox_seq()

    def _outbox_seq(self) -> int:
        return self.store.conn.execute("SELECT MAX(seq) FROM outbox").fetchone()[0] or 0

    def _check_outbox(self) -> None:
        """One indexed lookup per handled event (the outbox's AUTOINCREMENT key only grows)."""
        if self._outbox_hook is None:
            return
        try:
            top = self._outbox_seq()
        except sqlite3.Error:
            log.exception("could not read the outbox's last seq")
            return
        if top > self._outbox_top:
            self._outbox_top = top
            self._outbox_hook()

    def post(self, event: object) -> None:
        """Thread-safe: the only way a driver talks to the kiosk."""
        self._queue.put(event)

    def attach(self, runner: EffectRunner) -> None:
        self.runner = runner

    def start(self, qr_available: bool, eid_available: bool = False) -> None:
        self.state, effects = self.flow.start(qr_available, eid_available=eid_available)
        self._run_effects(effects)

    # ---- one event, to completion ----------------------------------------------------------------

    def dispatch(self, event: object) -> None:
        self._supervised(event, self._dispatch)

    def _dispatch(self, event: object) -> None:
        self.events_handled += 1
        self._journal(event)
        pending = deque([event])
        while pending:
            current = pending.popleft()
            self.state, effects = self.flow.step(self.state, current, self.clock.time())
            pending.extend(self._run_effects(effects))

    def _supervised(self, event: object, handle: Callable[[object], None]) -> None:
        try:
            handle(event)
        except Exception:  # noqa: BLE001 - the supervisor boundary: see below
            # A kiosk must not die on one bad event: every narrow handler below this line has missed
            # something. The event's type is logged (never its content: it may carry a code), the
            # session is abandoned and the kiosk starts over on the attract screen; the journal
            # rules still hold because a relay is only energised after its commit.
            log.exception("unexpected failure handling %s; starting over", type(event).__name__)
            self.timers.cancel_all()
            state = self.state
            self.state, effects = self.flow.start(state.qr_available if state else True,
                                                  out_of_service=state.out_of_service if state else False,
                                                  eid_available=state.eid_available if state else False)
            try:
                self._run_effects(effects)
            except Exception:  # noqa: BLE001 - a failing screen or voice must not stop the loop either
                log.exception("could not show the start screen after a failure")
        self._check_outbox()  # also after a failure: what committed before it is due at the town hall

    def _run_effects(self, effects: list) -> list:
        return self.runner.run(effects) if effects else []

    def _journal(self, event: object) -> None:
        now = self.clock.time()
        if isinstance(event, DoorOpened | DoorClosed):
            self._record_alarms(self.alarms.door_changed(event.locker, now, isinstance(event, DoorOpened)), now)
            try:
                record = journal.record_door_event(self.store, event.locker, isinstance(event, DoorOpened), now)
            except sqlite3.Error:
                log.exception("could not journal a door event on locker %s", event.locker)
                return
            if record.forced:
                log.warning("locker %s opened without a release: alarm", event.locker)
        elif isinstance(event, DeviceStatus):
            self.devices[event.device] = event
            log.log(logging.INFO if event.ok else logging.WARNING, "device %s %s %s", event.device,
                    "up" if event.ok else "down", event.detail)
            self._record_alarms(self.alarms.device(event.device, event.ok, event.detail), now)
        elif isinstance(event, Tamper):
            log.warning("tamper input %s", "active" if event.active else "quiet")
            self._record_alarms(self.alarms.tamper(event.active), now)

    def _watched_doors(self) -> set[int]:
        """The door the session is handling itself (it reminds its user before it raises the alarm)."""
        s = self.state
        return {s.locker} if s is not None and s.locker is not None and s.phase in DOOR_PHASES else set()

    def _record_alarms(self, alarms: list[Alarm], now: float) -> None:
        for alarm in alarms:
            try:
                if alarm.active and alarm.locker is not None and journal.alarm_active(self.store, alarm.kind,
                                                                                      alarm.locker):
                    continue  # already raised (by the session that ended on it): once is enough
                journal.raise_alarm(self.store, alarm.kind, alarm.locker, None, now, detail=alarm.detail,
                                    cleared=not alarm.active)
            except sqlite3.Error:
                log.exception("could not record alarm %s", alarm.kind)

    # ---- the loop --------------------------------------------------------------------------------

    def fire_due_timers(self) -> int:
        fired = 0
        while (name := self.timers.pop_due(self.clock.time())) is not None:
            self.dispatch(TimerFired(name))
            fired += 1
        return fired

    def process_pending(self) -> int:
        """Handle everything already waiting (input, driver events, due timers) without blocking."""
        handled = 0
        while True:
            progress = 0
            for event in self.screen.poll():
                self._handle_input(event)
                progress += 1
            while True:
                try:
                    event = self._queue.get_nowait()
                except queue.Empty:
                    break
                self.dispatch(event)
                progress += 1
            progress += self.fire_due_timers()
            ticked = self.alarms.tick(self.clock.time(), self._watched_doors())
            if ticked:
                self._record_alarms(ticked, self.clock.time())
                self._check_outbox()
            if not progress:
                break
            handled += progress
        self.screen.render_if_dirty()
        return handled

    def _handle_input(self, event: object) -> None:
        if type(event).__name__ == "Quit":
            raise Quit()
        if self.input_hook is not None and self.input_hook(event):
            return
        if isinstance(event, Key):
            self._supervised(event, self._handle_key)
            return
        if isinstance(event, Tap):
            self._supervised(event, self._handle_tap)
            return
        self.dispatch(event)

    def _handle_tap(self, tap: Tap) -> None:
        # any action interrupts the prompt being spoken; every press is heard as well as seen
        self._run_effects([fx.Hush(), fx.Tone("key")])
        self._dispatch(tap)

    def _handle_key(self, key: Key) -> None:
        """A keypad key: the navigator decides focus, speech and taps; the flow sees only the taps."""
        audio = self.state is not None and self.state.audio
        try:
            nav = navigate(key, self.screen.model, self.screen.focus, audio=audio)
        except (KeyError, ValueError):
            log.exception("keypad navigation failed on %s", self.screen.model.screen)
            return
        self.screen.set_focus(nav.focus)
        self._run_effects([fx.Hush(), fx.Tone("key"), *nav.effects])
        for event in nav.events:
            self._dispatch(event)

    def seconds_until_next_timer(self) -> float | None:
        deadline = self.timers.next_deadline()
        return None if deadline is None else max(0.0, deadline - self.clock.time())

    def run(self, stop: threading.Event, *, on_tick: Callable[[], None] | None = None) -> None:
        """Production loop: sleep on the queue until an event, a timer, or the next input poll."""
        while not stop.is_set():
            # waiting on the attract screen, input is polled five times less often: a first touch
            # may wait up to 0.1 s, and the idle kiosk costs a tenth of the CPU
            idle = (self.state is not None and self.state.phase is Phase.ATTRACT and self.state.overlay is None
                    and not self.screen.touch_in_progress)
            timeout = min(self.poll_seconds * 5, 0.1) if idle else self.poll_seconds
            until_timer = self.seconds_until_next_timer()
            if until_timer is not None:
                timeout = min(timeout, until_timer)
            try:
                event = self._queue.get(timeout=timeout)
            except queue.Empty:
                pass
            else:
                self.dispatch(event)
            try:
                self.process_pending()
            except Quit:
                stop.set()
            if on_tick is not None:
                on_tick()
