"""The eID card reader: a PC/SC reader watched in its own thread, and its simulator twin.

The kiosk needs three things from the reader: to know when a card goes in or out (``CardInserted`` /
``CardRemoved``, so a screen can react at once), to read and verify the card when a flow asks
(``read()`` -> ``CardRead`` later, never blocking the main loop: a PIN pad keeps the reader busy for up to
30 s), and to know when the reader or pcscd goes away and comes back (``DeviceStatus("cards", ...)``).

One thread owns the PC/SC context: it waits in ``SCardGetStatusChange`` (woken early by ``SCardCancel``
when a read is asked for or the driver stops) and performs the reads between waits, so PC/SC is never
used from two threads at once. After a PIN was verified the card is reset on disconnect, so no later
session inherits the verified PIN. Reading and verification are ``kioskd.drivers.eid_card.read_card``;
the Sim twin runs the same function over an emulated card (``kioskd.eid_testcard``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from cryptography import x509
from smartcard import scard
from smartcard.Exceptions import CardConnectionException, SmartcardException

from kioskd.drivers.cards import CardReaderStatus
from kioskd.drivers.eid_card import read_card
from kioskd.drivers.worker import DeviceWorker
from kioskd.events import CardInserted, CardRead, CardRemoved, Post

log = logging.getLogger(__name__)

WAIT_MILLISECONDS = 1000  # one status wait; reads and stop() cut it short with SCardCancel
_SERVICE_GONE = {scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED, scard.SCARD_E_INVALID_HANDLE}
_READER_GONE = {scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE}
_NO_CARD = {scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_REMOVED_CARD}


def _message(hresult: int) -> str:
    return str(scard.SCardGetErrorMessage(hresult)).strip().rstrip(".")


class _EidReaderBase(DeviceWorker):
    """What the real reader and the Sim share: the request queue, presence and the status report."""

    device = "cards"
    _log = log

    def __init__(self, post: Post, *, roots: Sequence[x509.Certificate], clock: Callable[[], float] = time.time,
                 pin_pad: bool = False) -> None:
        super().__init__(post)
        self._roots = list(roots)
        self._clock = clock
        self._pin_pad = pin_pad
        self._present = False
        self._reader = ""
        self._requests: queue.SimpleQueue[bool] = queue.SimpleQueue()  # verify_pin per requested read

    @property
    def card_present(self) -> bool:
        return self._present

    def card_reader_status(self) -> CardReaderStatus:
        """For service mode, in the same shape as ``kioskd.drivers.cards.pcsc_status``."""
        if not self._ok:
            return CardReaderStatus("down", (), False, self._status)
        return CardReaderStatus("ok", (self._reader,), self._present, "")

    def read(self, verify_pin: bool = False) -> None:
        """Read and verify the card in the reader; the answer comes later as a posted ``CardRead``."""
        if not self._running() or not self._ok:
            self._post(CardRead("unreadable", detail=f"card reader not available ({self._status})"))
            return
        self._requests.put(verify_pin)
        self._wake()

    def _wake(self) -> None:
        """Cut the thread's wait short so it sees a request or the stop."""

    def _set_present(self, present: bool) -> None:
        if present != self._present:
            self._present = present
            self._post(CardInserted() if present else CardRemoved())

    def _after_crash(self) -> None:
        """The thread's loop failed (``DeviceWorker._run`` restarts it): whoever waits for a read hears now."""
        self._drop_requests("card reader not available")

    def _drop_requests(self, detail: str) -> None:
        while True:
            try:
                self._requests.get_nowait()
            except queue.Empty:
                return
            self._post(CardRead("unreadable", detail=detail))


class PcscEidReader(_EidReaderBase):
    """A PC/SC reader (``reader_name``: the one whose name starts with it; empty: the first one)."""

    _name = "eID card reader"
    _thread_name = "eid-reader"

    def __init__(self, post: Post, *, roots: Sequence[x509.Certificate], clock: Callable[[], float] = time.time,
                 reader_name: str = "", pin_pad: bool = False) -> None:
        super().__init__(post, roots=roots, clock=clock, pin_pad=pin_pad)
        self._reader_name = reader_name
        self._context: int | None = None
        self._context_lock = threading.Lock()

    def stop(self) -> None:
        self._stop.set()
        self._wake()
        super().stop()

    # ---- start: a missing service or reader is a clear error the composition root shows -------------

    def _starting(self) -> None:
        context = self._establish()
        if context is None:
            raise RuntimeError(f"PC/SC service not available: {self._status}")
        self._context = context
        reader, problem = self._find_reader()
        if reader is None:
            self._release()
            raise RuntimeError(problem)
        self._reader = reader
        self._ok, self._status = True, f"watching {reader}"

    def _establish(self) -> int | None:
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != scard.SCARD_S_SUCCESS:
            self._status = _message(hresult)
            return None
        return context

    def _find_reader(self) -> tuple[str | None, str]:
        """The reader to use, or None and why not."""
        hresult, readers = scard.SCardListReaders(self._context, [])
        if hresult == scard.SCARD_E_NO_READERS_AVAILABLE or (hresult == scard.SCARD_S_SUCCESS and not readers):
            return None, "no card reader connected"
        if hresult != scard.SCARD_S_SUCCESS:
            return None, f"PC/SC service not available: {_message(hresult)}"
        for reader in readers:
            if reader.startswith(self._reader_name):
                return reader, ""
        return None, f"reader '{self._reader_name}' not found (connected: {', '.join(readers)})"

    def _release(self) -> None:
        with self._context_lock:
            context, self._context = self._context, None
        if context is not None:
            scard.SCardReleaseContext(context)

    def _wake(self) -> None:
        with self._context_lock:
            if self._context is not None:
                scard.SCardCancel(self._context)

    # ---- the thread ---------------------------------------------------------------------------------

    def _run_loop(self) -> None:
        while not self._stop.is_set():
            if self._context is None:
                context = self._establish()
                if context is None:
                    self._set_present(False)
                    self._went_down(f"PC/SC service not available: {self._status}")
                    self._drop_requests("card reader not available")
                    if self._back_off():
                        return
                    continue
                with self._context_lock:
                    self._context = context
            reader, problem = self._find_reader()
            if reader is None:
                if problem.startswith("PC/SC service"):
                    self._release()
                self._set_present(False)
                self._went_down(problem)
                self._drop_requests("card reader not available")
                if self._back_off():
                    return
                continue
            self._reader = reader
            self._came_up(f"watching {reader}", reader)
            self._reset_backoff()
            self._watch(reader)
            if not self._stop.is_set() and self._back_off():
                return

    def _watch(self, reader: str) -> None:
        """Follow ``reader``'s card until the reader or the service goes away or the driver stops."""
        known = scard.SCARD_STATE_UNAWARE
        while not self._stop.is_set():
            self._serve_requests(reader)
            hresult, states = scard.SCardGetStatusChange(self._context, WAIT_MILLISECONDS, [(reader, known)])
            if hresult in (scard.SCARD_E_TIMEOUT, scard.SCARD_E_CANCELLED):
                continue
            if hresult == scard.SCARD_S_SUCCESS:
                _, event, _atr = states[0]
                if event & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
                    hresult = scard.SCARD_E_READER_UNAVAILABLE
                else:
                    known = event & ~scard.SCARD_STATE_CHANGED
                    self._set_present(bool(event & scard.SCARD_STATE_PRESENT))
                    continue
            self._set_present(False)
            if hresult in _READER_GONE:
                self._went_down(f"reader '{reader}' disconnected")
            else:
                self._release()
                self._went_down(f"PC/SC service not available: {_message(hresult)}")
            self._drop_requests("card reader not available")
            return

    def _serve_requests(self, reader: str) -> None:
        while not self._stop.is_set():
            try:
                verify_pin = self._requests.get_nowait()
            except queue.Empty:
                return
            self._post(self._read_once(reader, verify_pin))

    def _read_once(self, reader: str, verify_pin: bool) -> CardRead:
        hresult, card, protocol = scard.SCardConnect(
            self._context, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
        if hresult in _NO_CARD:
            return CardRead("unreadable", detail="no card in the reader")
        if hresult != scard.SCARD_S_SUCCESS:
            return CardRead("unreadable", detail=f"cannot connect to the card: {_message(hresult)}")
        pci = scard.SCARD_PCI_T0 if protocol == scard.SCARD_PROTOCOL_T0 else scard.SCARD_PCI_T1

        def transmit(apdu: list[int]) -> tuple[list[int], int, int]:
            status, response = scard.SCardTransmit(card, pci, list(apdu))
            if status != scard.SCARD_S_SUCCESS:
                raise CardConnectionException(f"transmit failed: {_message(status)}")
            if len(response) < 2:
                raise CardConnectionException("response without a status word")
            return list(response[:-2]), response[-2], response[-1]

        def control(code: int, data: list[int]) -> list[int]:
            status, response = scard.SCardControl(card, code, list(data))
            if status != scard.SCARD_S_SUCCESS:
                raise SmartcardException(f"control failed: {_message(status)}")
            return list(response)

        try:
            return read_card(transmit, self._roots, self._clock(), verify_pin=verify_pin,
                             control=control if self._pin_pad else None)
        finally:  # after a PIN, reset: the next session must not inherit the verified PIN
            scard.SCardDisconnect(card, scard.SCARD_RESET_CARD if verify_pin else scard.SCARD_LEAVE_CARD)


class SimEidReader(_EidReaderBase):
    """The simulator's reader: ``insert`` an emulated card (``kioskd.eid_testcard``), ``remove`` it; reads run
    the real ``read_card`` over the card's APDUs on the driver's thread, as the PC/SC reader does."""

    _name = "simulated eID card reader"
    _thread_name = "sim-eid-reader"

    def __init__(self, post: Post, *, roots: Sequence[x509.Certificate], clock: Callable[[], float] = time.time,
                 pin_pad: bool = False) -> None:
        super().__init__(post, roots=roots, clock=clock, pin_pad=pin_pad)
        self._reader = "kioskd simulated eID reader"
        self._card: object | None = None
        self._work: queue.Queue[tuple[str, object]] = queue.Queue()

    def _starting(self) -> None:
        self._ok, self._status = True, f"watching {self._reader}"

    def insert(self, card: object) -> None:
        """Put a card (anything with ``transmit``, and ``pin_pad_control`` for PIN-pad reads) in the reader."""
        self._work.put(("insert", card))

    def remove(self) -> None:
        self._work.put(("remove", None))

    def read(self, verify_pin: bool = False) -> None:
        if not self._running():
            self._post(CardRead("unreadable", detail="card reader not available (not started)"))
            return
        self._work.put(("read", verify_pin))

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every insert, remove and read asked for so far has been handled (for tests)."""
        deadline = time.monotonic() + timeout
        with self._work.all_tasks_done:
            while self._work.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._work.all_tasks_done.wait(left)
        return True

    def _run_loop(self) -> None:
        self._came_up(f"watching {self._reader}", self._reader)  # after a failure: back (a clean start posts nothing)
        while not self._stop.is_set():
            try:
                action, argument = self._work.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._handle(action, argument)
            finally:
                self._work.task_done()

    def _handle(self, action: str, argument: object) -> None:
        if action == "insert":
            if self._card is not None:
                self._set_present(False)
            self._card = argument
            self._set_present(True)
        elif action == "remove":
            self._card = None
            self._set_present(False)
        elif self._card is None:
            self._post(CardRead("unreadable", detail="no card in the reader"))
        else:
            card = self._card
            control = getattr(card, "pin_pad_control", None) if self._pin_pad else None
            self._post(read_card(card.transmit, self._roots, self._clock(),  # type: ignore[attr-defined]
                                 verify_pin=bool(argument), control=control))
            reset = getattr(card, "reset", None)
            if argument and reset is not None:
                reset()

    def _release(self) -> None:
        self._card = None
