"""RFID readers on a serial port: RDM6300-style EM4100 frames or one ASCII UID per line.

An RDM6300 sends a 14-byte frame for every read and repeats it while a tag stays in the field:
STX (0x02), ten ASCII hex digits (one version byte and four card bytes), two ASCII hex digits of
checksum (the XOR of those five bytes), ETX (0x03). Line-based readers (many USB-serial 13.56 MHz and
125 kHz readers) send the UID as ASCII hex or decimal digits ended by CR, LF or CRLF, some wrapped in
STX/ETX or spaces. Which one is attached is ``rfid.protocol`` in the config.

Parsing lives in port-independent classes fed bytes, so the same code checks frames from a real UART,
a pty and the Sim's ``loop://`` port, and a garbled frame is counted and explained instead of reaching
the flows. Ports are opened with ``serial_for_url`` so which one is used is only a config value.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import NamedTuple, Protocol

import serial

from kioskd.drivers.framing import INCOMPLETE, FrameObserver, StreamParser, Verdict
from kioskd.drivers.worker import BACKOFF_MAX as BACKOFF_MAX  # re-exported: defined here before
from kioskd.drivers.worker import BACKOFF_MIN as BACKOFF_MIN  # re-exported: defined here before
from kioskd.drivers.worker import DeviceLifecycle, DeviceWorker
from kioskd.events import Post, TagRead

log = logging.getLogger(__name__)

STX = 0x02
ETX = 0x03
FRAME_LENGTH = 14
TAG_HEX_DIGITS = 10
LINE_MAX_BYTES = 64  # a line reader's UID with any padding fits easily; longer input is noise
UID_MIN_DIGITS = 4
UID_MAX_DIGITS = 20
LAST_FRAMES = 20  # raw frames/lines kept for service mode
RETRY_MIN = 0.5  # seconds before the first reopen of a vanished port: a replugged USB reader is back by then
RETRY_MAX = 5.0  # the longest wait between reopens, so a reader plugged back in is found within seconds
READ_TIMEOUT = 0.1  # seconds a read blocks: bounds how long stop() waits for the thread
SIM_WAIT_SECONDS = 2.0
_HEX_DIGITS = frozenset(b"0123456789ABCDEFabcdef")
_LINE_END = re.compile(rb"[\r\n]")
_LINE_PADDING = bytes([STX, ETX]) + b" \t"
_UID = re.compile(rb"[0-9A-Fa-f]{%d,%d}" % (UID_MIN_DIGITS, UID_MAX_DIGITS))

class TagReader(DeviceLifecycle, Protocol):
    """What the composition root needs from any tag reader, real or simulated."""


class TagParser(Protocol):
    """A byte-stream parser for one reader protocol; never raises, whatever it is fed."""

    frames_ok: int
    frames_bad: int
    bytes_skipped: int
    last_error: str | None

    @property
    def buffered(self) -> int: ...
    def reset(self) -> None: ...
    def feed(self, data: bytes) -> list[str]: ...


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


def line_frame(tag: str) -> bytes:
    """The line a line-based reader sends for ``tag`` (as given, CRLF-terminated)."""
    if not isinstance(tag, str):
        raise TypeError(f"tag must be a str, not {type(tag).__name__}")
    raw = tag.encode("ascii", errors="replace")
    if not _UID.fullmatch(raw):
        raise ValueError(f"tag must be {UID_MIN_DIGITS} to {UID_MAX_DIGITS} hex digits, got {tag!r}")
    return raw + b"\r\n"


def _xor(data: bytes) -> int:
    result = 0
    for byte in data:
        result ^= byte
    return result


def _judge_frame(candidate: bytes | bytearray) -> Verdict:
    """Why ``candidate`` (starting with STX) is not a valid frame, with how many of its bytes show it;
    ``INCOMPLETE`` if more bytes may still make it one; its length when it is a complete valid frame.

    Bytes are checked as soon as they are present, so a stray STX in noise is rejected without
    waiting for thirteen more bytes that may belong to the next real frame.
    """
    for offset, byte in enumerate(candidate[1:FRAME_LENGTH - 1], start=1):
        if byte not in _HEX_DIGITS:
            return f"non-hex byte 0x{byte:02X} at offset {offset} of frame", offset + 1
    if len(candidate) < FRAME_LENGTH:
        return INCOMPLETE
    if candidate[FRAME_LENGTH - 1] != ETX:
        return f"frame ends with 0x{candidate[FRAME_LENGTH - 1]:02X}, expected 0x03", FRAME_LENGTH
    data = bytes.fromhex(candidate[1:1 + TAG_HEX_DIGITS].decode("ascii"))
    said = int(candidate[1 + TAG_HEX_DIGITS:FRAME_LENGTH - 1], 16)
    computed = _xor(data)
    if said != computed:
        return f"checksum mismatch: frame says 0x{said:02X}, data gives 0x{computed:02X}", FRAME_LENGTH
    return FRAME_LENGTH


class Rdm6300Parser(StreamParser):
    """Turns a byte stream into tag ids, whatever arrives: split frames, noise, broken frames.

    The buffer only ever holds the start of one plausible frame (at most 13 bytes), so a line full
    of noise cannot grow memory. After a rejected frame, parsing resumes at the next STX after the
    rejected one's start, so a real frame that begins inside a broken one is still found: a valid
    frame holds exactly one STX, so any candidate that overlaps its STX fails (a non-hex byte or a
    missing ETX) and every valid frame in the stream is recovered, whatever noise surrounds it.
    """

    kind = "RFID frame"

    def feed(self, data: bytes) -> list[str]:
        """Upper-case tag ids of the valid frames completed by ``data``, in order of arrival."""
        self._buffer += data
        frames = self._scan(STX, FRAME_LENGTH, _judge_frame)
        return [frame[1:1 + TAG_HEX_DIGITS].decode("ascii").upper() for frame in frames]


class LineParser(StreamParser):
    """Turns the byte stream of a line-based reader into tag ids: one UID per CR-, LF- or CRLF-ended line.

    A UID is 4 to 20 hex (or decimal) digits, upper-cased; STX, ETX, spaces and tabs around it are
    padding some readers add. Blank lines (the LF of a CRLF) are skipped; any other line is a UID or
    is rejected, counted and logged at debug level. A line longer than ``LINE_MAX_BYTES`` is dropped
    as soon as it gets that long and its rest is skipped up to the next CR or LF, so the buffer never
    holds more than one short line and a tail of noise is never mistaken for a UID. The result does
    not depend on how the stream is cut into chunks.
    """

    kind = "RFID line"

    def __init__(self, on_frame: FrameObserver | None = None) -> None:
        super().__init__(on_frame)
        self._overlong = False  # inside a line already rejected as too long: skip to its end

    def reset(self) -> None:
        """Forget an unfinished line, e.g. after the port was reopened and its rest will never come."""
        super().reset()
        self._overlong = False

    def feed(self, data: bytes) -> list[str]:
        """Upper-case UIDs of the valid lines completed by ``data``, in order of arrival."""
        tags: list[str] = []
        position = 0
        while (end := _LINE_END.search(data, position)) is not None:
            self._collect(data[position:end.start()])
            tag = self._finish_line()
            if tag is not None:
                tags.append(tag)
            position = end.end()
        self._collect(data[position:])
        return tags

    def _collect(self, piece: bytes) -> None:
        if self._overlong:
            self.bytes_skipped += len(piece)
        elif len(self._buffer) + len(piece) > LINE_MAX_BYTES:
            self._overlong = True
            raw = bytes(self._buffer) + bytes(piece[:LINE_MAX_BYTES - len(self._buffer)])
            self.bytes_skipped += len(self._buffer) + len(piece)
            self._buffer.clear()
            self._reject(raw, f"line longer than {LINE_MAX_BYTES} bytes")
        else:
            self._buffer += piece

    def _finish_line(self) -> str | None:
        if self._overlong:
            self._overlong = False
            return None
        raw = bytes(self._buffer)
        self._buffer.clear()
        uid = raw.strip(_LINE_PADDING)
        if not uid:
            self.bytes_skipped += len(raw)
            return None
        if not _UID.fullmatch(uid):
            self._reject(raw, _uid_problem(uid))
            return None
        self._accept(raw)
        return uid.decode("ascii").upper()


def _uid_problem(uid: bytes) -> str:
    for offset, byte in enumerate(uid):
        if byte not in _HEX_DIGITS:
            return f"non-hex byte 0x{byte:02X} at offset {offset} of UID"
    return f"UID of {len(uid)} digits, expected {UID_MIN_DIGITS} to {UID_MAX_DIGITS}"


PARSERS: dict[str, Callable[[FrameObserver | None], TagParser]] = {"rdm6300": Rdm6300Parser, "line": LineParser}
FRAMERS: dict[str, Callable[[str], bytes]] = {"rdm6300": rdm6300_frame, "line": line_frame}
PROTOCOLS = tuple(PARSERS)
"""The values ``rfid.protocol`` accepts."""


def make_parser(protocol: str, on_frame: FrameObserver | None = None) -> TagParser:
    """The parser for a configured protocol name."""
    try:
        return PARSERS[protocol](on_frame)
    except KeyError:
        raise ValueError(f"unknown RFID protocol {protocol!r}, expected one of {', '.join(PROTOCOLS)}") from None


_CONTROL_NAMES = {STX: "<STX>", ETX: "<ETX>", 0x0D: "<CR>", 0x0A: "<LF>"}


def printable(raw: bytes) -> str:
    """Raw reader bytes as one line of text for service mode: ASCII as is, others as <STX> or <FF>."""
    return "".join(_CONTROL_NAMES.get(byte) or (chr(byte) if 0x20 <= byte < 0x7F else f"<{byte:02X}>")
                   for byte in raw)


class ReceivedFrame(NamedTuple):
    """One frame or line the reader received, for service mode."""

    at: float  # time.monotonic() when it was parsed
    text: str  # its raw bytes, printable
    problem: str | None  # why it was rejected; None for a valid frame


class SerialTagReader(DeviceWorker):
    """Reads a serial RFID reader in its own thread and posts one ``TagRead`` per presentation.

    The reader repeats frames while a card is held, so the same tag seen again within
    ``hold_seconds`` of its last sighting is not posted again (the window slides while frames keep
    coming); another tag is posted at once. This holds for every protocol.

    A port that fails or vanishes (USB reader unplugged, pty closed) is reported once as
    ``DeviceStatus("rfid", False, reason)``; the port is then reopened after ``retry_min`` seconds,
    twice as long after each failure up to ``retry_max``, and ``DeviceStatus("rfid", True)`` is
    posted when it opens again. The thread survives every failure, so the kiosk keeps serving PIN and
    QR pickups meanwhile; ``status`` says ``down: <reason>; retrying in N s`` for service mode.
    """

    device = "rfid"
    _name = "RFID reader"
    _thread_name = "rfid-reader"
    _log = log

    def __init__(self, url: str, post: Post, *, baudrate: int = 9600, protocol: str = "rdm6300",
                 hold_seconds: float = 1.0, port: serial.SerialBase | None = None,
                 retry_min: float = RETRY_MIN, retry_max: float = RETRY_MAX) -> None:
        if hold_seconds < 0:
            raise ValueError(f"hold_seconds must be >= 0, got {hold_seconds}")
        if not 0 < retry_min <= retry_max <= BACKOFF_MAX:  # DeviceWorker never waits longer than BACKOFF_MAX
            raise ValueError(f"need 0 < retry_min <= retry_max <= {BACKOFF_MAX}, got {retry_min}, {retry_max}")
        super().__init__(post)
        self._url = url
        self._baudrate = baudrate
        self._protocol = protocol
        self._hold_seconds = hold_seconds
        self._retry_min, self._retry_max = retry_min, retry_max
        self._backoff = retry_min
        self._port = port
        if port is not None:
            port.timeout = READ_TIMEOUT  # a blocking read would keep stop() from joining
        self._frames: deque[ReceivedFrame] = deque(maxlen=LAST_FRAMES)
        self._frames_lock = threading.Lock()
        self._parser = make_parser(protocol, self._record_frame)
        self._bytes_fed = 0
        self._last_tag: str | None = None
        self._last_seen = 0.0

    @property
    def protocol(self) -> str:
        return self._protocol

    @property
    def parser(self) -> TagParser:
        return self._parser

    @property
    def last_frames(self) -> list[ReceivedFrame]:
        """The last ``LAST_FRAMES`` frames or lines received, valid or not, oldest first (a copy:
        the reader thread keeps appending)."""
        with self._frames_lock:
            return list(self._frames)

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
            self._status = self._reading()
        while not self._stop.is_set():
            port = self._port
            try:
                if port is None:
                    self._open()
                else:
                    self._read_once(port)
            except Exception as exc:  # a bug must not silently end the thread: show it as down, retry
                log.exception("RFID reader failed")
                self._release()
                self._went_down(f"reader failed: {type(exc).__name__}: {exc}")
                self._back_off()

    def _reading(self) -> str:
        return f"reading {self._url} at {self._baudrate} baud ({self._protocol})"

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
        self._parser.reset()  # the rest of a frame torn by the outage never comes
        self._came_up(self._reading(), where=self._url)

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

    def _back_off(self) -> bool:
        stopped = super()._back_off()
        self._backoff = min(self._backoff, self._retry_max)
        return stopped

    def _reset_backoff(self) -> None:
        self._backoff = self._retry_min

    def _record_frame(self, raw: bytes, problem: str | None) -> None:
        with self._frames_lock:
            self._frames.append(ReceivedFrame(time.monotonic(), printable(raw), problem))

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

    ``present`` is a card held in front of the reader for one frame (or line) in the configured
    protocol. The hold window applies as on the real reader: presenting the same tag again within
    ``hold_seconds`` (wall time) is one presentation and is not posted again; later than that it is
    posted again.
    """

    def __init__(self, post: Post, *, protocol: str = "rdm6300", hold_seconds: float = 1.0,
                 baudrate: int = 9600) -> None:
        port = serial.serial_for_url("loop://", baudrate=baudrate, timeout=READ_TIMEOUT)
        super().__init__("loop://", post, baudrate=baudrate, protocol=protocol, hold_seconds=hold_seconds,
                         port=port)
        self._write_lock = threading.Lock()

    def take_away(self) -> None:
        """The tag leaves the reader's field: the next presentation of it is a new one, however soon."""
        self._last_tag = None

    def present(self, tag: str) -> bool:
        """Send one frame for ``tag``; True once the reader has handled it (and posted any TagRead)."""
        return self.write_raw(FRAMERS[self.protocol](tag))

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
