"""RFID reader: an RDM6300-style EM4100 reader on a serial port.

The reader sends a 14-byte frame for every read and repeats it while a tag stays in the field:
STX (0x02), ten ASCII hex digits (one version byte and four card bytes), two ASCII hex digits of
checksum (the XOR of those five bytes), ETX (0x03). Parsing lives in a port-independent class fed
bytes, so the same code checks frames from a real UART, a pty and the Sim's ``loop://`` port, and a
garbled frame is counted and explained instead of reaching the flows. Ports are opened with
``serial_for_url`` so which one is used is only a config value.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

import serial

from kioskd.drivers.worker import BACKOFF_MAX as BACKOFF_MAX  # re-exported: defined here before
from kioskd.drivers.worker import BACKOFF_MIN as BACKOFF_MIN  # re-exported: defined here before
from kioskd.drivers.worker import DeviceLifecycle, DeviceWorker
from kioskd.events import Post, TagRead

log = logging.getLogger(__name__)

STX = 0x02
ETX = 0x03
FRAME_LENGTH = 14
TAG_HEX_DIGITS = 10
READ_TIMEOUT = 0.1  # seconds a read blocks: bounds how long stop() waits for the thread
SIM_WAIT_SECONDS = 2.0
_HEX_DIGITS = frozenset(b"0123456789ABCDEFabcdef")


class TagReader(DeviceLifecycle, Protocol):
    """What the composition root needs from any tag reader, real or simulated."""


def rdm6300_frame(tag: str) -> bytes:
    """The exact bytes a reader sends for ``tag``, so the Sim and tests exercise the real parser."""
    if not isinstance(tag, str):
        raise TypeError(f"tag must be a str, not {type(tag).__name__}")
    raw = tag.encode("ascii", errors="replace")
    if len(tag) != TAG_HEX_DIGITS or any(byte not in _HEX_DIGITS for byte in raw):
        raise ValueError(f"tag must be {TAG_HEX_DIGITS} hex digits, got {tag!r}")
    digits = raw.upper()
    checksum = _xor(bytes.fromhex(digits.decode("ascii")))
    return bytes([STX]) + digits + b"%02X" % checksum + bytes([ETX])


def _xor(data: bytes) -> int:
    result = 0
    for byte in data:
        result ^= byte
    return result


_INCOMPLETE = object()


def _frame_problem(candidate: bytes | bytearray) -> str | object | None:
    """Why ``candidate`` (starting with STX) is not a valid frame, ``_INCOMPLETE`` if more bytes may
    still make it one, or None when it is a complete valid frame.

    Bytes are checked as soon as they are present, so a stray STX in noise is rejected without
    waiting for thirteen more bytes that may belong to the next real frame.
    """
    for offset, byte in enumerate(candidate[1:FRAME_LENGTH - 1], start=1):
        if byte not in _HEX_DIGITS:
            return f"non-hex byte 0x{byte:02X} at offset {offset} of frame"
    if len(candidate) < FRAME_LENGTH:
        return _INCOMPLETE
    if candidate[FRAME_LENGTH - 1] != ETX:
        return f"frame ends with 0x{candidate[FRAME_LENGTH - 1]:02X}, expected 0x03"
    data = bytes.fromhex(candidate[1:1 + TAG_HEX_DIGITS].decode("ascii"))
    said = int(candidate[1 + TAG_HEX_DIGITS:FRAME_LENGTH - 1], 16)
    computed = _xor(data)
    if said != computed:
        return f"checksum mismatch: frame says 0x{said:02X}, data gives 0x{computed:02X}"
    return None


class Rdm6300Parser:
    """Turns a byte stream into tag ids, whatever arrives: split frames, noise, broken frames.

    The buffer only ever holds the start of one plausible frame (at most 13 bytes), so a line full
    of noise cannot grow memory. After a rejected frame, parsing resumes at the next STX after the
    rejected one's start, so a real frame that begins inside a broken one is still found.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.frames_ok = 0
        self.frames_bad = 0
        self.bytes_skipped = 0
        self.last_error: str | None = None

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buffer)

    def reset(self) -> None:
        """Forget a partial frame, e.g. after the port was reopened and its rest will never come."""
        self._buffer.clear()

    def feed(self, data: bytes) -> list[str]:
        """Upper-case tag ids of the valid frames completed by ``data``, in order of arrival."""
        self._buffer += data
        tags: list[str] = []
        while self._buffer:
            start = self._buffer.find(STX)
            if start < 0:
                self.bytes_skipped += len(self._buffer)
                self._buffer.clear()
                break
            if start:
                self.bytes_skipped += start
                del self._buffer[:start]
            problem = _frame_problem(self._buffer[:FRAME_LENGTH])
            if problem is _INCOMPLETE:
                break
            if problem is None:
                tags.append(self._buffer[1:1 + TAG_HEX_DIGITS].decode("ascii").upper())
                self.frames_ok += 1
                del self._buffer[:FRAME_LENGTH]
            else:
                self.frames_bad += 1
                self.last_error = str(problem)
                log.debug("rejected RFID frame: %s", problem)
                del self._buffer[:1]
        return tags


class SerialTagReader(DeviceWorker):
    """Reads a serial RFID reader in its own thread and posts one ``TagRead`` per presentation.

    The reader repeats frames while a card is held, so the same tag seen again within
    ``hold_seconds`` of its last sighting is not posted again (the window slides while frames keep
    coming); another tag is posted at once. A port that fails or vanishes (USB reader unplugged)
    is reported as ``DeviceStatus("rfid", False, ...)`` and reopened with capped exponential
    backoff, so the kiosk keeps serving PIN and QR pickups meanwhile.
    """

    device = "rfid"
    _name = "RFID reader"
    _thread_name = "rfid-reader"
    _log = log

    def __init__(self, url: str, post: Post, *, baudrate: int = 9600, hold_seconds: float = 1.0,
                 port: serial.SerialBase | None = None) -> None:
        if hold_seconds < 0:
            raise ValueError(f"hold_seconds must be >= 0, got {hold_seconds}")
        super().__init__(post)
        self._url = url
        self._baudrate = baudrate
        self._hold_seconds = hold_seconds
        self._port = port
        if port is not None:
            port.timeout = READ_TIMEOUT  # a blocking read would keep stop() from joining
        self._parser = Rdm6300Parser()
        self._bytes_fed = 0
        self._last_tag: str | None = None
        self._last_seen = 0.0

    @property
    def parser(self) -> Rdm6300Parser:
        return self._parser

    @property
    def bytes_fed(self) -> int:
        with self._progress:
            return self._bytes_fed

    def wait_for_bytes(self, total: int, timeout: float) -> bool:
        """Wait until the thread has parsed ``total`` bytes in all (and posted what they held).

        Lets a harness know a written frame has been handled instead of sleeping; returns False on
        timeout or when the reader is not running.
        """
        with self._progress:
            self._progress.wait_for(lambda: self._bytes_fed >= total or not self._running(), timeout)
            return self._bytes_fed >= total

    # ---- the reader thread ---------------------------------------------------------------------

    def _starting(self) -> None:
        self._status = f"starting on {self._url}"

    def _run_loop(self) -> None:
        if self._port is not None:  # handed in by the caller, already open
            self._ok = True
            self._status = f"reading {self._url}"
        while not self._stop.is_set():
            port = self._port
            if port is None:
                self._open()
            else:
                self._read_once(port)

    def _open(self) -> None:
        try:
            port = serial.serial_for_url(self._url, baudrate=self._baudrate, timeout=READ_TIMEOUT)
        except (serial.SerialException, OSError) as exc:
            self._went_down(str(exc) if self._url in str(exc) else f"cannot open {self._url}: {exc}")
            self._back_off()
            return
        except ValueError as exc:  # unknown URL scheme or setting: retrying cannot help
            self._went_down(f"bad port setting {self._url!r}: {exc} (not retrying)")
            self._stop.set()
            return
        self._port = port
        self._parser.reset()
        self._came_up(f"reading {self._url} at {self._baudrate} baud", where=self._url)

    def _read_once(self, port: serial.SerialBase) -> None:
        try:
            data = port.read(max(1, min(port.in_waiting, 4096)))
        except (serial.SerialException, OSError) as exc:
            self._release()
            self._went_down(f"read failed on {self._url}: {exc}")
            self._back_off()
            return
        self._reset_backoff()  # only now: a port that opens but cannot be read keeps backing off
        if data:
            self._handle(data)

    def _handle(self, data: bytes) -> None:
        now = time.monotonic()
        for tag in self._parser.feed(data):
            repeated = tag == self._last_tag and now - self._last_seen < self._hold_seconds
            self._last_tag, self._last_seen = tag, now
            if not repeated:
                self._post(TagRead(tag))
        with self._progress:  # after posting, so a waiter sees the events already queued
            self._bytes_fed += len(data)
            self._progress.notify_all()

    def _release(self) -> None:
        port, self._port = self._port, None
        if port is None:
            return
        try:
            port.close()
        except (serial.SerialException, OSError) as exc:
            log.debug("closing %s: %s", self._url, exc)


class SimTagReader(SerialTagReader):
    """The Sim twin: real frames through a ``loop://`` port into the real parser and debounce.

    ``present`` is a card held in front of the reader for one frame. The hold window applies as on
    the real reader: presenting the same tag again within ``hold_seconds`` (wall time) is one
    presentation and is not posted again; later than that it is posted again.
    """

    def __init__(self, post: Post, *, hold_seconds: float = 1.0, baudrate: int = 9600) -> None:
        port = serial.serial_for_url("loop://", baudrate=baudrate, timeout=READ_TIMEOUT)
        super().__init__("loop://", post, baudrate=baudrate, hold_seconds=hold_seconds, port=port)
        self._write_lock = threading.Lock()

    def present(self, tag: str) -> bool:
        """Send one frame for ``tag``; True once the reader has handled it (and posted any TagRead)."""
        return self.write_raw(rdm6300_frame(tag))

    def write_raw(self, data: bytes) -> bool:
        """Put arbitrary bytes on the line; True once the reader has consumed them (bounded wait).

        Writes are serialised and each waits for its bytes, so the byte count to wait for is exact
        (unless a previous write timed out, after which the count may be reached early).
        """
        data = bytes(data)
        with self._write_lock:
            port = self._port
            if not data:
                return True
            if port is None or not self._running():
                return False
            target = self.bytes_fed + len(data)
            try:
                port.write(data)
            except (serial.SerialException, OSError) as exc:
                log.warning("Sim RFID write failed: %s", exc)
                return False
            return self.wait_for_bytes(target, SIM_WAIT_SECONDS)
