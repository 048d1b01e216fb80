"""Lock bank on RS485 lock-control boards (the CU16 class), for lockers wired to bus boards instead of GPIO.

Up to sixteen boards share one two-wire RS485 bus behind a serial port (a USB adapter, or the Pi's UART with a
transceiver); each board switches 16 locks and reads their 16 door contacts. The kiosk is the only master: it
sends a command and the addressed board answers, so every transaction first flushes whatever stale bytes are
waiting, then waits a bounded time for its own answer, ignoring anything else. Doors are seen by polling every
board's status in a thread of its own, since a board never speaks unasked.

The protocol, kept in this one place. Boards of this class agree on the frame and the commands but differ in their
replies; this is the variant implemented here — compare it with a board's manual before wiring one:

    every frame    STX 0x02, ADDR, CMD, DATA..., ETX 0x03, SUM
    ADDR           board << 4 | lock: board 0..15 as set on the board's DIP switches, lock 0..15 (channel 1..16)
    SUM            the sum of every byte before it, STX and ETX included, low 8 bits

    host → board   02 ADDR 31 03 SUM          unlock: pulse lock ADDR & 0x0F once
                   02 ADDR 30 03 SUM          status of every lock on board ADDR >> 4 (lock nibble 0)
    board → host   02 ADDR 31 03 SUM          unlock acknowledged: the request echoed back
                   02 ADDR 30 D0 D1 03 SUM    status: bit n of (D0 | D1 << 8) is the door of lock n, 1 = open;
                                              the reply's lock nibble is not used

For example, unlocking board 0 lock 1 is ``02 01 31 03 37``, and board 1 saying "doors of locks 0 and 9 open" is
``02 10 30 01 02 03 48``. A reply parser and a request parser differ only in their table of frame lengths.

How long a lock is energised is set on the board (jumper or firmware), not by the kiosk: the bank only asks for an
unlock and the board pulses the lock for its own bounded time, so nothing the kiosk does can hold a lock open and
``relays_off()`` is always true. Because the acknowledgement repeats the request, the adapter must not hear its
own transmission (receiver disabled while sending: /RE tied to DE, as on auto-direction USB adapters).
"""

from __future__ import annotations

import logging
import os
import select
import termios
import threading
import time
import tty
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import serial

from kioskd.drivers.framing import INCOMPLETE, StreamParser, Verdict
from kioskd.drivers.worker import DeviceWorker
from kioskd.events import DoorClosed, DoorOpened, Post

log = logging.getLogger(__name__)

STX = 0x02
ETX = 0x03
UNLOCK = 0x31
STATUS = 0x30
REPLY_LENGTHS = {UNLOCK: 5, STATUS: 7}  # board → host, whole frame by command byte
REQUEST_LENGTHS = {UNLOCK: 5, STATUS: 5}  # host → board
MAX_FRAME_LENGTH = max(*REPLY_LENGTHS.values(), *REQUEST_LENGTHS.values())
LOCKS_PER_BOARD = 16
READ_SLICE = 0.02  # seconds one port read may block: bounds how late a reply deadline or stop() is noticed
BUS_WAIT = 1.0  # seconds pulse() waits for the poller to finish its transaction before calling the bus busy


class LockBoardError(OSError):
    """A board did not acknowledge, or the bus is not usable. An OSError, so the effect runner reports a relay
    fault for the release as it does for a GPIO failure."""


@dataclass(frozen=True)
class Cu16Frame:
    board: int
    lock: int
    command: int
    data: bytes = b""

    @property
    def open_locks(self) -> frozenset[int]:
        """The locks whose door is open, from a status reply's door bits."""
        bits = int.from_bytes(self.data[:2], "little")
        return frozenset(lock for lock in range(LOCKS_PER_BOARD) if bits >> lock & 1)


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def frame(board: int, lock: int, command: int, data: bytes = b"") -> bytes:
    """The exact bytes of one frame; used by the bank for requests and by the Sim board for replies."""
    for name, value, top in (("board", board, 15), ("lock", lock, 15), ("command", command, 255)):
        if type(value) is not int or not 0 <= value <= top:
            raise ValueError(f"{name} must be an integer 0..{top}, got {value!r}")
    body = bytes([STX, board << 4 | lock, command, *data, ETX])
    return body + bytes([checksum(body)])


def status_reply(board: int, open_locks: Iterable[int]) -> bytes:
    bits = sum(1 << lock for lock in set(open_locks))
    return frame(board, 0, STATUS, bits.to_bytes(2, "little"))


def _judge_frame(candidate: bytes | bytearray, lengths: Mapping[int, int]) -> Verdict:
    """Why ``candidate`` (starting with STX) is no valid frame, ``INCOMPLETE`` if more bytes may still make it
    one, or its length when it is a complete valid frame. Each byte is judged as soon as it is present."""
    if len(candidate) < 3:
        return INCOMPLETE
    length = lengths.get(candidate[2])
    if length is None:
        return f"unknown command 0x{candidate[2]:02X}", 3
    if len(candidate) > length - 2 and candidate[length - 2] != ETX:
        return f"byte {length - 2} is 0x{candidate[length - 2]:02X}, expected ETX 0x03", length - 1
    if len(candidate) < length:
        return INCOMPLETE
    said, computed = candidate[length - 1], checksum(candidate[:length - 1])
    if said != computed:
        return f"checksum mismatch: frame says 0x{said:02X}, bytes give 0x{computed:02X}", length
    return length


class Cu16Parser(StreamParser):
    """Turns a byte stream into frames, whatever arrives: split frames, noise, broken frames.

    The buffer holds at most the start of one plausible frame. After a rejected frame, parsing resumes at the
    next STX after the rejected one's start, so a frame beginning inside a broken one is still found. (A broken
    frame directly followed by a good one can, rarely, borrow its bytes and pass the checksum: the protocol has no
    escaping. The bank asks again when its answer does not come.)
    """

    kind = "lock-board frame"

    def __init__(self, lengths: Mapping[int, int] = REPLY_LENGTHS) -> None:
        super().__init__()
        self._lengths = dict(lengths)
        self._longest = max(self._lengths.values())

    def feed(self, data: bytes) -> list[Cu16Frame]:
        """The valid frames completed by ``data``, in order of arrival."""
        self._buffer += data
        frames = self._scan(STX, self._longest, lambda candidate: _judge_frame(candidate, self._lengths))
        return [Cu16Frame(raw[1] >> 4, raw[1] & 0x0F, raw[2], raw[3:-2]) for raw in frames]


class Rs485LockBank(DeviceWorker):
    """The LockBank on CU16-class boards: ``addresses`` maps locker number → (board, lock).

    ``pulse`` sends one unlock and waits ``reply_timeout`` for the acknowledgement, asking ``retries`` more
    times before raising ``LockBoardError`` (a retry after a lost acknowledgement may pulse the lock a second
    time; each pulse is still bounded by the board). A thread polls every board's status each ``poll_seconds``
    and posts ``DoorOpened``/``DoorClosed`` once a door has read differently in ``debounce_polls`` polls in a
    row; the first answer of a board sets its doors without events, like a GPIO bank at start. While a board
    does not answer (after the same retries) or the port fails, the bank is down — ``DeviceStatus("locks",
    False, why)``, the kiosk shows out of service — and a failed port is reopened with capped backoff; the
    first poll every board answers posts ``DeviceStatus("locks", True)``. Fail secure: nothing but ``pulse``
    ever sends an unlock. ``start()`` starts the poller; ``close()`` stops it and releases the port.
    """

    device = "locks"
    _name = "RS485 lock bus"
    _thread_name = "rs485-locks"
    _log = log

    def __init__(self, url: str, addresses: Mapping[int, tuple[int, int]], post: Post, *, baudrate: int = 19200,
                 retries: int = 2, poll_seconds: float = 0.2, reply_timeout: float = 0.2, debounce_polls: int = 2,
                 port: serial.SerialBase | None = None) -> None:
        if not addresses:
            raise ValueError("an RS485 lock bank needs at least one locker")
        if len(set(addresses.values())) != len(addresses):
            raise ValueError("two lockers share a board and lock")
        for board, lock in addresses.values():
            frame(board, lock, UNLOCK)  # raises ValueError for an address off the bus
        if retries < 0 or poll_seconds <= 0 or reply_timeout <= 0 or debounce_polls < 1:
            raise ValueError("retries >= 0, poll_seconds > 0, reply_timeout > 0 and debounce_polls >= 1 needed")
        super().__init__(post)
        self.url = url
        self.addresses = dict(addresses)
        self._baudrate = baudrate
        self._retries = retries
        self._poll_seconds = poll_seconds
        self._reply_timeout = reply_timeout
        self._debounce_polls = debounce_polls
        self._on_board: dict[int, list[tuple[int, int]]] = {}  # board → [(lock, locker)]
        for locker, (board, lock) in sorted(self.addresses.items()):
            self._on_board.setdefault(board, []).append((lock, locker))
        self._bus = threading.Lock()  # one transaction at a time: the poller's and pulse()'s
        self._port = port
        if port is not None:
            port.timeout = READ_SLICE
        self._parser = Cu16Parser(REPLY_LENGTHS)
        self._doors = {locker: False for locker in self.addresses}  # debounced, as last posted
        self._differing: dict[int, int] = {}  # locker → polls in a row that read unlike self._doors
        self._boards_seen: set[int] = set()
        self._polls = 0

    # ---- the LockBank ----------------------------------------------------------------------------

    def pulse(self, locker: int) -> None:
        """Unlock ``locker`` once; returns when its board acknowledged, raises LockBoardError when none did."""
        board, lock = self.addresses[locker]
        request = frame(board, lock, UNLOCK)
        attempts = 1 + self._retries
        for attempt in range(1, attempts + 1):
            if self._transact(request, lambda f: (f.command, f.board, f.lock) == (UNLOCK, board, lock)):
                if attempt > 1:
                    log.info("board %d acknowledged unlocking lock %d at attempt %d", board, lock, attempt)
                return
            log.warning("no acknowledgement from board %d for lock %d (locker %d), attempt %d of %d",
                        board, lock, locker, attempt, attempts)
        raise LockBoardError(f"board {board} did not acknowledge unlocking lock {lock} (locker {locker}) "
                             f"in {attempts} attempts on {self.url}")

    def door_is_open(self, locker: int) -> bool:
        """The debounced state; closed until the locker's board first answered."""
        return self._doors[locker]

    def relays_off(self) -> bool:
        return True  # the board times every pulse itself; the kiosk never holds a lock

    def close(self) -> None:
        self.stop()

    # ---- for tests and diagnostics ---------------------------------------------------------------

    @property
    def polls(self) -> int:
        """Completed poll rounds (every board asked once, answering or not)."""
        with self._progress:
            return self._polls

    def wait_for_polls(self, total: int, timeout: float) -> bool:
        with self._progress:
            self._progress.wait_for(lambda: self._polls >= total or not self._running(), timeout)
            return self._polls >= total

    # ---- the bus ---------------------------------------------------------------------------------

    def _transact(self, request: bytes, wanted: Callable[[Cu16Frame], bool]) -> Cu16Frame | None:
        """Flush, send ``request`` and return the first reply ``wanted`` accepts, or None after the timeout."""
        if not self._bus.acquire(timeout=BUS_WAIT):
            raise LockBoardError(f"lock bus {self.url} busy for {BUS_WAIT} s")
        try:
            port = self._port
            if port is None:
                raise LockBoardError(f"lock bus {self.url} is not open ({self.status})")
            try:
                port.reset_input_buffer()  # a late answer to an earlier request must not pass for this one's
                self._parser.reset()
                port.write(request)
                deadline = time.monotonic() + self._reply_timeout
                while time.monotonic() < deadline:
                    for reply in self._parser.feed(port.read(max(1, port.in_waiting))):
                        if wanted(reply):
                            return reply
                return None
            except (serial.SerialException, OSError, termios.error) as exc:  # tcflush raises termios.error
                self._close_port()
                raise LockBoardError(f"lock bus {self.url} failed: {exc}") from exc
        finally:
            self._bus.release()

    def _ask_status(self, board: int) -> Cu16Frame | None:
        for _ in range(1 + self._retries):
            if self._stop.is_set():
                return None
            reply = self._transact(frame(board, 0, STATUS), lambda f: (f.command, f.board) == (STATUS, board))
            if reply is not None:
                return reply
        return None

    def _close_port(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError) as exc:
                log.debug("closing %s: %s", self.url, exc)

    def _release(self) -> None:
        with self._bus:
            self._close_port()

    # ---- the poller thread -----------------------------------------------------------------------

    def _starting(self) -> None:
        self._status = f"starting on {self.url}"

    def _run_loop(self) -> None:
        while not self._stop.is_set():
            if self._port is None and not self._open():
                continue
            self._poll_round()
            self._stop.wait(self._poll_seconds)

    def _open(self) -> bool:
        try:
            port = serial.serial_for_url(self.url, baudrate=self._baudrate, timeout=READ_SLICE, exclusive=True)
        except (serial.SerialException, OSError) as exc:
            self._went_down(str(exc) if self.url in str(exc) else f"cannot open {self.url}: {exc}")
            self._back_off()
            return False
        except ValueError as exc:  # unknown URL scheme or setting: retrying cannot help
            self._went_down(f"bad port setting {self.url!r}: {exc} (not retrying)")
            self._stop.set()
            return False
        with self._bus:
            self._port = port
        log.info("lock bus open on %s at %d baud", self.url, self._baudrate)
        return True

    def _poll_round(self) -> None:
        silent = []
        for board in sorted(self._on_board):
            try:
                reply = self._ask_status(board)
            except LockBoardError as exc:
                self._went_down(str(exc))
                self._back_off()
                return
            if self._stop.is_set():
                return
            if reply is None:
                silent.append(board)
            else:
                self._update_doors(board, reply.open_locks)
        if silent:
            boards = ", ".join(str(board) for board in silent)
            self._went_down(f"board{'s' if len(silent) > 1 else ''} {boards} not answering on {self.url}")
        else:
            self._reset_backoff()
            self._came_up(f"polling {len(self._on_board)} board(s) on {self.url} at {self._baudrate} baud",
                          where=self.url)
        with self._progress:  # after posting, so a waiter sees the events already queued
            self._polls += 1
            self._progress.notify_all()

    def _update_doors(self, board: int, open_locks: frozenset[int]) -> None:
        first = board not in self._boards_seen
        self._boards_seen.add(board)
        for lock, locker in self._on_board[board]:
            now_open = lock in open_locks
            if first:
                self._doors[locker] = now_open
                if now_open:
                    log.info("door of locker %d is open at start", locker)
            elif now_open == self._doors[locker]:
                self._differing.pop(locker, None)
            elif self._differing.get(locker, 0) + 1 < self._debounce_polls:
                self._differing[locker] = self._differing.get(locker, 0) + 1
            else:
                self._differing.pop(locker, None)
                self._doors[locker] = now_open
                self._post(DoorOpened(locker) if now_open else DoorClosed(locker))


# ---- the Sim twin -------------------------------------------------------------------------------------------


class SimCu16Board:
    """CU16-class boards on a pty: the master end is the bus, ``path`` (the slave) is the port a bank opens.

    Answers requests for its ``boards`` in its own thread with real frames, so the real bank and real pyserial
    are what a test exercises. An acknowledged unlock springs the door open ``spring_seconds`` later unless the
    lock is jammed. Test knobs: ``silent`` (no board hears or answers), ``drop`` / ``garble`` (the next N replies
    to a command are lost / sent with a wrong checksum), ``noise`` (bytes sent before every reply), ``glitch``
    (one status reply shows one door flipped). ``unlocks`` records every unlock a board heard.
    """

    def __init__(self, boards: Iterable[int] = (0,), *, spring_seconds: float = 0.05) -> None:
        self._open: dict[int, set[int]] = {board: set() for board in boards}
        self.spring_seconds = spring_seconds
        self.silent = False
        self.noise = b""
        self._drops = {UNLOCK: 0, STATUS: 0}
        self._garbles = {UNLOCK: 0, STATUS: 0}
        self.unlocks: list[tuple[int, int]] = []
        self._jammed: set[tuple[int, int]] = set()
        self._glitches: dict[int, int] = {}
        self._springs: list[tuple[float, int, int]] = []
        self._state = threading.Lock()
        self._parser = Cu16Parser(REQUEST_LENGTHS)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, before any bank opens it: a reply echoed back would read as a request
        self.path = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="sim-cu16", daemon=True)
        self._thread.start()

    def __enter__(self) -> SimCu16Board:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def open_door(self, board: int, lock: int) -> None:
        with self._state:
            self._open[board].add(lock)

    def close_door(self, board: int, lock: int) -> None:
        with self._state:
            self._open[board].discard(lock)

    def jam(self, board: int, lock: int, jammed: bool = True) -> None:
        with self._state:
            (self._jammed.add if jammed else self._jammed.discard)((board, lock))

    def drop(self, replies: int, command: int = UNLOCK) -> None:
        """Lose the next ``replies`` answers to ``command`` (the board still does what it was told)."""
        with self._state:
            self._drops[command] = replies

    def garble(self, replies: int, command: int = UNLOCK) -> None:
        with self._state:
            self._garbles[command] = replies

    def glitch(self, board: int, lock: int) -> None:
        with self._state:
            self._glitches[board] = self._glitches.get(board, 0) ^ 1 << lock

    def close(self) -> None:
        """Stop answering and remove the port: a bank on it sees its adapter unplugged."""
        self._stop.set()
        self._thread.join(timeout=1.0)
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.01)
            self._spring(time.monotonic())
            if not ready:
                continue
            try:
                for request in self._parser.feed(os.read(self._master, 256)):
                    os.write(self._master, self._answer(request))
            except OSError:  # closed under it
                return

    def _spring(self, now: float) -> None:
        with self._state:
            for due, board, lock in [s for s in self._springs if s[0] <= now]:
                self._springs.remove((due, board, lock))
                self._open[board].add(lock)

    def _answer(self, request: Cu16Frame) -> bytes:
        with self._state:
            if self.silent or request.board not in self._open:
                return b""
            if request.command == UNLOCK:
                self.unlocks.append((request.board, request.lock))
                if (request.board, request.lock) not in self._jammed:
                    self._springs.append((time.monotonic() + self.spring_seconds, request.board, request.lock))
                reply = frame(request.board, request.lock, UNLOCK)
            else:
                bits = sum(1 << lock for lock in self._open[request.board]) ^ self._glitches.pop(request.board, 0)
                reply = status_reply(request.board, (n for n in range(LOCKS_PER_BOARD) if bits >> n & 1))
            if self._drops[request.command]:
                self._drops[request.command] -= 1
                return b""
            if self._garbles[request.command]:
                self._garbles[request.command] -= 1
                reply = reply[:-1] + bytes([reply[-1] ^ 0x5A])
            return self.noise + reply


class SimRs485LockBank(Rs485LockBank):
    """An Rs485LockBank on its own SimCu16Board, with ``open_door``/``close_door``/``jam`` by locker number."""

    def __init__(self, addresses: Mapping[int, tuple[int, int]], post: Post, *, spring_seconds: float = 0.05,
                 **options) -> None:
        self.board = SimCu16Board(sorted({board for board, _ in addresses.values()}), spring_seconds=spring_seconds)
        try:
            super().__init__(self.board.path, addresses, post, **options)
        except ValueError:
            self.board.close()
            raise

    def open_door(self, locker: int) -> None:
        self.board.open_door(*self.addresses[locker])

    def close_door(self, locker: int) -> None:
        self.board.close_door(*self.addresses[locker])

    def jam(self, locker: int, jammed: bool = True) -> None:
        self.board.jam(*self.addresses[locker], jammed)

    def close(self) -> None:
        super().close()
        self.board.close()
