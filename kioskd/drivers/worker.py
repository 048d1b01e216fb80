"""The device-thread lifecycle shared by the readers that watch a device in their own thread.

The RFID reader and the camera scanner each own one device handle (a serial port, a frame source)
that only their thread touches, and both must behave the same towards the rest of the kiosk: start
once, stop promptly even when the device hangs, tell the UI and the flows when the device goes
away and comes back (once per change, not once per failed retry), and retry with a capped
exponential backoff so an unplugged device neither spins the CPU nor floods the log. That logic
lives here once; a driver supplies what its thread does and how its device is released.

A thread must never die silently while ``ok`` still says True: if a driver's loop raises, the worker logs the
exception's type and where it happened (not its message, which may carry device data), reports the device
down (``DeviceStatus(device, False, reason)``), waits and runs the loop again. A loop that works again reports
itself up as after any outage (``_came_up``). A loop that keeps failing is not restarted for ever: after
``CRASHES_TO_GIVE_UP`` failures, each within ``CRASH_MEMORY_SECONDS`` of the one before, the worker stays down
with its reason ("failed repeatedly") until the daemon restarts, so a bug costs a few alarms, not one a second.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from typing import Protocol

from kioskd.events import DeviceStatus, Post

BACKOFF_MIN = 0.5  # seconds before the first retry: a replugged USB device is usually back by then
BACKOFF_MAX = 10.0  # the longest wait between retries, so a device plugged in later is found soon
JOIN_SECONDS = 1.0  # how long stop() waits for the thread before leaving a stuck one behind
CRASH_BACKOFF_MIN = 2.0  # the wait after a loop failure, doubled for each further one in a row
CRASH_MEMORY_SECONDS = 600.0  # a failure this long after the previous one starts the count afresh
CRASHES_TO_GIVE_UP = 3  # failures in a row (each within CRASH_MEMORY_SECONDS) after which the worker stays down

log = logging.getLogger(__name__)


class DeviceLifecycle(Protocol):
    """What the composition root needs from any device driver, real or simulated: each driver
    module names its own flavour of this (``TagReader``, ``CodeScanner``)."""

    @property
    def ok(self) -> bool: ...
    @property
    def status(self) -> str: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...


class DeviceWorker:
    """A device read in a daemon thread: ``ok``/``status``, ``start``/``stop`` and down/up reports.

    A subclass sets the class attributes below and implements ``_run_loop`` (the thread's work
    until the stop event is set) and ``_release`` (close the device handle). Its thread reports
    trouble with ``_went_down``, recovery with ``_came_up``, and waits between retries with
    ``_back_off``. ``_progress`` is notified whenever the thread has handled something and when it
    ends, so ``wait_for_...`` helpers built on it return as soon as there is nothing more to wait for.
    """

    device: str  # the name in DeviceStatus events
    _name: str  # what log lines and errors call the worker, e.g. "RFID reader"
    _thread_name: str
    _log: logging.Logger = log  # a driver logs under its own module's name

    def __init__(self, post: Post) -> None:
        self._post = post
        self._progress = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ok = False
        self._status = "not started"
        self._down_reported = False  # a DeviceStatus(ok=False) is the last one posted
        self._backoff = BACKOFF_MIN
        self._crashes = 0  # loop failures in a row, each within CRASH_MEMORY_SECONDS of the previous one
        self._last_crash: float | None = None

    @property
    def ok(self) -> bool:
        return self._ok

    @property
    def status(self) -> str:
        return self._status

    def start(self) -> None:
        """Start the thread; a worker runs once (a stopped one is not restarted, a new one is made)."""
        if self._thread is not None:
            raise RuntimeError(f"{self._name} already started")
        self._starting()
        self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and release the device; returns within about a second even if the
        device blocks, so shutdown never hangs on a reader (the daemon thread is then abandoned)."""
        self._stop.set()
        thread = self._thread
        if thread is None:  # never started: nothing else will release the device
            self._release()
        elif thread is not threading.current_thread():
            thread.join(timeout=JOIN_SECONDS)
            if thread.is_alive():
                self._log.warning("%s thread did not stop within 1 s (device read blocking)", self._name)
        with self._progress:  # waiters give up now rather than at their timeout
            self._progress.notify_all()
        self._ok = False
        self._status = "stopped"

    def _running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    # ---- hooks for the driver ------------------------------------------------------------------

    def _starting(self) -> None:
        """Called by ``start`` before the thread exists, e.g. to set the first status."""

    def _run_loop(self) -> None:
        """The thread's work; must return soon after ``self._stop`` is set."""
        raise NotImplementedError

    def _release(self) -> None:
        """Close the device handle if one is open; must not raise."""
        raise NotImplementedError

    # ---- for the driver's thread ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self._run_loop()
                    return
                except Exception as exc:  # a bug must not end the thread while ``ok`` still says True
                    if self._crashed(exc):
                        return
                    delay = CRASH_BACKOFF_MIN * 2 ** (self._crashes - 1)  # not reset by a working device
                    self._status += f"; restarting in {delay:.0f} s"
                    if self._stop.wait(delay):
                        return
        finally:
            self._release()
            with self._progress:
                self._progress.notify_all()

    def _crashed(self, exc: Exception) -> bool:
        """The loop raised: log where (the type, not the message), report the device down, let the driver
        tidy up (``_after_crash``) before the loop runs again. True when it failed too often to try again."""
        now = time.monotonic()
        if self._last_crash is None or now - self._last_crash > CRASH_MEMORY_SECONDS:
            self._crashes = 0
        self._crashes += 1
        self._last_crash = now
        giving_up = self._crashes >= CRASHES_TO_GIVE_UP
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
        self._log.error("%s thread failed: %s%s; %s", self._name, type(exc).__name__, where,
                        "failed repeatedly, staying down until kioskd restarts" if giving_up else "restarting it")
        if giving_up:
            # reported even after an "up" in between: the last word must be that the device is down for good
            self._down_reported = False
            self._went_down(f"internal error ({type(exc).__name__}), failed repeatedly: restart kioskd")
        else:
            self._went_down(f"internal error ({type(exc).__name__}), restarting")
        try:
            self._after_crash()
        except Exception as again:  # the tidy-up of a broken driver must not end the thread either
            self._log.error("%s: tidying up after the failure failed too: %s", self._name, type(again).__name__)
        return giving_up

    def _after_crash(self) -> None:
        """Called after the loop raised, before it runs again: e.g. answer requests it will never answer.
        The device handle is kept; a loop that needs a fresh one reopens it as after any outage."""

    def _went_down(self, reason: str) -> None:
        """The device is unusable for ``reason``. Called again while down it only updates the
        status, so one outage is one DeviceStatus event however often the retries fail."""
        self._ok = False
        self._status = f"down: {reason}"
        if not self._down_reported:
            self._down_reported = True
            self._log.warning("%s down: %s", self._name, reason)
            self._post(DeviceStatus(self.device, False, reason))

    def _came_up(self, status: str, where: str = "") -> None:
        """The device works (again) and the worker is ``status``; posts ``DeviceStatus(ok=True)``
        only after a reported outage, so a clean start sends no event. ``where`` names the device
        in the log line."""
        self._ok = True
        self._status = status
        if self._down_reported:
            self._down_reported = False
            self._log.info("%s back%s", self._name, f" on {where}" if where else "")
            self._post(DeviceStatus(self.device, True))

    def _back_off(self) -> bool:
        """Wait before the next retry, twice as long each time up to ``BACKOFF_MAX``; True when the
        wait was cut short by ``stop``. The wait is on the stop event so stopping is not delayed."""
        delay = self._backoff
        self._status += f"; retrying in {delay:.1f} s"
        stopped = self._stop.wait(delay)
        self._backoff = min(delay * 2, BACKOFF_MAX)
        return stopped

    def _reset_backoff(self) -> None:
        """The next retry waits ``BACKOFF_MIN`` again (the device worked since the last failure)."""
        self._backoff = BACKOFF_MIN
