"""RFID reader: frame encoding, the byte-stream parser, and the reader thread on real serial ports."""

import os
import threading
import time

import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st

from kioskd.drivers.rfid import (
    FRAME_LENGTH,
    Rdm6300Parser,
    SerialTagReader,
    SimTagReader,
    rdm6300_frame,
)
from kioskd.events import DeviceStatus, TagRead

HEX = "0123456789abcdefABCDEF"
FAST = settings(max_examples=200, deadline=None)


def wait_until(predicate, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


class Events(list):
    """A thread-safe enough ``post``: list.append is atomic under the GIL."""

    def __call__(self, event):
        self.append(event)

    def of(self, kind):
        return [e for e in self if isinstance(e, kind)]


# ---- encoding -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("tag", "frame"), [
    ("62E3086CED", b"\x0262E3086CED08\x03"),  # the example of the RDM630 data sheet
    ("0A1B2C3D4E", b"\x020A1B2C3D4E4E\x03"),
    ("0a1b2c3d4e", b"\x020A1B2C3D4E4E\x03"),
    ("0000000000", b"\x02000000000000\x03"),
    ("FFFFFFFFFF", b"\x02FFFFFFFFFFFF\x03"),
    ("0100000000", b"\x02010000000001\x03"),
])
def test_frame_encoding(tag, frame):
    assert rdm6300_frame(tag) == frame
    assert len(frame) == FRAME_LENGTH


@pytest.mark.parametrize("tag", ["", "0A1B2C3D4", "0A1B2C3D4E5", "0A1B2C3D4G", " 0A1B2C3D4", "0x1B2C3D4E",
                                 "0A1B2C3D4é", "\uff10A1B2C3D4E", "0A1B2C3D\n4"])
def test_frame_encoding_rejects_bad_tags(tag):
    with pytest.raises(ValueError, match="10 hex digits"):
        rdm6300_frame(tag)


def test_frame_encoding_rejects_non_strings():
    with pytest.raises(TypeError):
        rdm6300_frame(b"0A1B2C3D4E")


# ---- parsing ------------------------------------------------------------------------------------

A, B = rdm6300_frame("0A1B2C3D4E"), rdm6300_frame("62E3086CED")


@pytest.mark.parametrize(("data", "tags", "ok", "bad", "error"), [
    (A, ["0A1B2C3D4E"], 1, 0, None),
    (A + B, ["0A1B2C3D4E", "62E3086CED"], 2, 0, None),
    (b"\x020a1b2c3d4e4e\x03", ["0A1B2C3D4E"], 1, 0, None),
    (b"\x020A1B2C3D4E00\x03", [], 0, 1, "checksum mismatch: frame says 0x00, data gives 0x4E"),
    (b"\x0262E3086CED09\x03", [], 0, 1, "checksum mismatch: frame says 0x09, data gives 0x08"),
    (b"\x020A1B2C3D4E4E\x04", [], 0, 1, "frame ends with 0x04, expected 0x03"),
    (b"\x020A1B2C3D4Z4E\x03", [], 0, 1, "non-hex byte 0x5A at offset 10 of frame"),
    (b"\x020A1B2C3D4E4\x03", [], 0, 1, "non-hex byte 0x03 at offset 12 of frame"),  # one digit short
    (b"\x020A1B 2C3D4E4E\x03", [], 0, 1, "non-hex byte 0x20 at offset 5 of frame"),  # fromhex would allow it
    (b"\xff\x00garbage" + A + b"\x03\x03noise" + B, ["0A1B2C3D4E", "62E3086CED"], 2, 0, None),
    (b"\x020A1B2" + A, ["0A1B2C3D4E"], 1, 1, "non-hex byte 0x02 at offset 6 of frame"),  # frame inside a torn one
    (A[:-1] + A, ["0A1B2C3D4E"], 1, 1, "frame ends with 0x02, expected 0x03"),
])
def test_parser_table(data, tags, ok, bad, error):
    parser = Rdm6300Parser()
    assert parser.feed(data) == tags
    assert (parser.frames_ok, parser.frames_bad, parser.last_error) == (ok, bad, error)


def test_parser_keeps_the_last_error_after_good_frames():
    parser = Rdm6300Parser()
    parser.feed(b"\x020A1B2C3D4E00\x03" + A)
    assert parser.frames_ok == 1
    assert parser.last_error == "checksum mismatch: frame says 0x00, data gives 0x4E"


@pytest.mark.parametrize("cut", range(len(A) + 1))
def test_frame_split_at_every_byte(cut):
    parser = Rdm6300Parser()
    first = parser.feed(A[:cut])
    second = parser.feed(A[cut:])
    assert first + second == ["0A1B2C3D4E"]
    assert (first == []) == (cut < len(A))
    assert parser.buffered == 0


def test_frames_fed_byte_by_byte():
    parser = Rdm6300Parser()
    stream = b"\x02\x02xx" + A + b"\x00" + B + A
    tags = [tag for i in range(len(stream)) for tag in parser.feed(stream[i:i + 1])]
    assert tags == ["0A1B2C3D4E", "62E3086CED", "0A1B2C3D4E"]


def test_garbage_without_start_byte_is_dropped():
    parser = Rdm6300Parser()
    for _ in range(100):
        assert parser.feed(b"\xff\x03A0" * 2500) == []
        assert parser.buffered == 0
    assert parser.bytes_skipped == 1_000_000
    assert parser.frames_bad == 0


def test_partial_frame_waits_for_the_rest():
    parser = Rdm6300Parser()
    assert parser.feed(A[:9]) == []
    assert parser.buffered == 9 and parser.frames_bad == 0


@FAST
@given(chunks=st.lists(st.binary(max_size=64), max_size=20))
def test_arbitrary_bytes_never_raise_and_buffer_stays_bounded(chunks):
    parser = Rdm6300Parser()
    for chunk in chunks:
        tags = parser.feed(chunk)
        assert all(len(tag) == 10 and tag == tag.upper() for tag in tags)
        assert parser.buffered < FRAME_LENGTH


@FAST
@given(garbage=st.binary(max_size=100), tag=st.text(HEX, min_size=10, max_size=10), cut=st.integers(0, 200))
def test_valid_frame_after_garbage_is_recognised(garbage, tag, cut):
    stream = garbage + rdm6300_frame(tag)
    parser = Rdm6300Parser()
    tags = parser.feed(stream[:cut]) + parser.feed(stream[cut:])
    assert tags and tags[-1] == tag.upper()
    assert parser.buffered == 0


@FAST
@given(tag=st.text(HEX, min_size=10, max_size=10))
def test_tags_round_trip(tag):
    parser = Rdm6300Parser()
    assert parser.feed(rdm6300_frame(tag)) == [tag.upper()]
    assert (parser.frames_ok, parser.frames_bad) == (1, 0)


@FAST
@given(tag=st.text(HEX, min_size=10, max_size=10), position=st.integers(1, 12),
       digit=st.sampled_from("0123456789ABCDEF"))
def test_any_changed_digit_is_rejected(tag, position, digit):
    frame = bytearray(rdm6300_frame(tag))
    if frame[position] == ord(digit):
        return
    frame[position] = ord(digit)
    parser = Rdm6300Parser()
    assert parser.feed(bytes(frame)) == []
    assert parser.frames_bad == 1 and parser.last_error.startswith("checksum mismatch")


# ---- the reader thread on real ports ------------------------------------------------------------


@pytest.fixture
def pty():
    master, slave = os.openpty()
    yield master, os.ttyname(slave)
    for fd in (master, slave):
        try:
            os.close(fd)
        except OSError:
            pass


def test_reads_frames_from_a_pty_and_reports_unplugging(pty):
    master, path = pty
    events = Events()
    reader = SerialTagReader(path, events, hold_seconds=5.0)
    reader.start()
    try:
        assert wait_until(lambda: reader.ok)
        assert reader.status.startswith(f"reading {path}")
        os.write(master, A + A + A + B[:5])
        os.write(master, B[5:] + b"\x02garbage\x03")
        assert reader.wait_for_bytes(4 * FRAME_LENGTH + 9, 2.0)
        assert events == [TagRead("0A1B2C3D4E"), TagRead("62E3086CED")]
        assert reader.parser.frames_ok == 4 and reader.parser.frames_bad == 1
        os.close(master)  # the reader's end goes away, like a USB adapter pulled out
        assert wait_until(lambda: events.of(DeviceStatus))
        assert events.of(DeviceStatus)[0].ok is False and not reader.ok
        assert reader.status.startswith("down: ")
    finally:
        started = time.monotonic()
        reader.stop()
    assert time.monotonic() - started < 1.5
    assert reader.status == "stopped"


def test_port_that_appears_later_is_opened_and_reported_back(tmp_path):
    link = tmp_path / "ttyRFID"  # like a udev /dev/serial/by-id link
    events = Events()
    reader = SerialTagReader(str(link), events, hold_seconds=0.0)
    reader.start()
    master, slave = os.openpty()
    try:
        assert wait_until(lambda: events.of(DeviceStatus), 2.0)
        down = events.of(DeviceStatus)[0]
        assert (down.device, down.ok) == ("rfid", False) and str(link) in down.detail
        link.symlink_to(os.ttyname(slave))
        assert wait_until(lambda: reader.ok, 3.0)
        assert events.of(DeviceStatus) == [down, DeviceStatus("rfid", True)]
        os.write(master, A)
        assert reader.wait_for_bytes(FRAME_LENGTH, 2.0)
        assert events.of(TagRead) == [TagRead("0A1B2C3D4E")]
    finally:
        reader.stop()
        os.close(master)
        os.close(slave)


def test_missing_port_is_reported_once_and_stop_works():
    events = Events()
    reader = SerialTagReader("/dev/ttyUSB-kioskd-test-missing", events)
    reader.start()
    assert wait_until(lambda: events, 2.0)
    time.sleep(0.7)  # past the first retry
    assert len(events) == 1
    assert events[0].device == "rfid" and events[0].ok is False
    assert "ttyUSB-kioskd-test-missing" in events[0].detail
    assert not reader.ok and "retrying in" in reader.status
    assert not reader.wait_for_bytes(1, 0.1)
    started = time.monotonic()
    reader.stop()
    assert time.monotonic() - started < 1.0
    assert not [t for t in threading.enumerate() if t.name == "rfid-reader" and t.is_alive()]


def test_bad_port_url_is_reported_without_retrying():
    events = Events()
    reader = SerialTagReader("nosuchscheme://reader", events)
    reader.start()
    assert wait_until(lambda: events, 2.0)
    assert events[0].ok is False and "not retrying" in events[0].detail
    reader.stop()


def test_already_open_port_is_used_and_debounced():
    events = Events()
    port = serial.serial_for_url("loop://", timeout=None)
    reader = SerialTagReader("loop://", events, hold_seconds=0.3, port=port)
    reader.start()
    try:
        port.write(A * 4)
        assert reader.wait_for_bytes(4 * FRAME_LENGTH, 2.0)
        assert events == [TagRead("0A1B2C3D4E")]
    finally:
        reader.stop()
    assert not port.is_open  # the reader owns the port it was given


# ---- the Sim twin over loop:// ------------------------------------------------------------------


@pytest.fixture
def sim():
    events = Events()
    reader = SimTagReader(events, hold_seconds=0.3)
    reader.start()
    yield reader, events
    reader.stop()


def test_sim_present_posts_before_returning(sim):
    reader, events = sim
    assert reader.present("0a1b2c3d4e")
    assert events == [TagRead("0A1B2C3D4E")]
    assert reader.ok and reader.parser.frames_ok == 1


def test_sim_debounce(sim):
    reader, events = sim
    assert reader.write_raw(A * 3)  # a card held in the field: repeated frames
    assert reader.present("0A1B2C3D4E")  # still within the hold window
    assert events == [TagRead("0A1B2C3D4E")]
    assert reader.present("62E3086CED")  # another card is posted at once
    assert reader.present("0A1B2C3D4E")
    assert events == [TagRead("0A1B2C3D4E"), TagRead("62E3086CED"), TagRead("0A1B2C3D4E")]
    time.sleep(0.35)
    assert reader.present("0A1B2C3D4E")  # same card again after the hold: a new presentation
    assert len(events) == 4


def test_sim_hold_window_slides_while_the_card_stays(sim):
    reader, events = sim
    for _ in range(8):  # 0.4 s of frames 0.05 s apart: longer than the hold, no gap as long as it
        assert reader.present("0A1B2C3D4E")
        time.sleep(0.05)
    assert events == [TagRead("0A1B2C3D4E")]


def test_sim_garbage_then_frames(sim):
    reader, events = sim
    assert reader.write_raw(b"\x02ZZZZZZZZZZZZ\x03\xff\x00" + A[:5])
    assert reader.write_raw(A[5:] + B)
    assert events == [TagRead("0A1B2C3D4E"), TagRead("62E3086CED")]
    assert reader.parser.frames_bad >= 1
    assert reader.parser.last_error == "non-hex byte 0x5A at offset 1 of frame"
    assert reader.bytes_fed == 16 + 5 + 9 + 14


def test_sim_rejects_bad_tags_and_works_only_while_running():
    events = Events()
    reader = SimTagReader(events)
    with pytest.raises(ValueError):
        reader.present("not-a-tag")
    started = time.monotonic()
    assert not reader.present("0A1B2C3D4E")  # not started: nothing reads the port
    assert time.monotonic() - started < 0.5
    reader.start()
    assert reader.present("0A1B2C3D4E")
    reader.stop()
    assert not reader.present("62E3086CED")
    assert events == [TagRead("0A1B2C3D4E")]
