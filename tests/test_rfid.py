"""RFID readers: frame encoding, the byte-stream parsers (RDM6300 and line-based), fuzzed, and the reader
thread on real serial ports: debounce, unplugging and reconnecting, the Sim twin, the config."""

import os
import re
import threading
import time
from itertools import pairwise
from pathlib import Path

import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st

from kioskd.app import _tag_reader
from kioskd.config import ConfigError, parse_config
from kioskd.drivers.rfid import (
    FRAME_LENGTH,
    LAST_FRAMES,
    LINE_MAX_BYTES,
    PROTOCOLS,
    LineParser,
    Rdm6300Parser,
    SerialTagReader,
    SimTagReader,
    line_frame,
    make_parser,
    printable,
    rdm6300_frame,
)
from kioskd.events import DeviceStatus, TagRead

from conftest import Events, wait_until

HEX = "0123456789abcdefABCDEF"
FAST = settings(max_examples=200, deadline=None)



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


# ---- line-based readers: encoding and parsing ---------------------------------------------------


def test_line_encoding():
    assert line_frame("04a1B2c3") == b"04a1B2c3\r\n"  # as the reader sends it: the parser normalises
    assert line_frame("0012345678") == b"0012345678\r\n"
    for bad in ["", "123", "1" * 21, "12 34", "0x1234", "1234é", "\uff11234", "ABCD\n"]:
        with pytest.raises(ValueError, match="4 to 20 hex digits"):
            line_frame(bad)
    with pytest.raises(TypeError):
        line_frame(b"1234")


@pytest.mark.parametrize(("data", "tags", "ok", "bad", "error"), [
    (b"04A1B2C3\r\n", ["04A1B2C3"], 1, 0, None),
    (b"04a1b2c3\n", ["04A1B2C3"], 1, 0, None),
    (b"04a1b2c3\r", ["04A1B2C3"], 1, 0, None),
    (b"0012345678\r\n1234\r\n" + b"F" * 20 + b"\n", ["0012345678", "1234", "F" * 20], 3, 0, None),
    (b"\x0204A1B2C3\x03\r\n", ["04A1B2C3"], 1, 0, None),
    (b"  04A1B2C3 \t\r\n\x02 1234 \x03\n", ["04A1B2C3", "1234"], 2, 0, None),
    (b"\r\n\n\r \r\x02\x03\n", [], 0, 0, None),  # blank lines are skipped, not errors
    (b"123\r\n", [], 0, 1, "UID of 3 digits, expected 4 to 20"),
    (b"F" * 21 + b"\r\n", [], 0, 1, "UID of 21 digits, expected 4 to 20"),
    (b"12 34\r\n", [], 0, 1, "non-hex byte 0x20 at offset 2 of UID"),
    (b"12\xc3\xa934\r\n", [], 0, 1, "non-hex byte 0xC3 at offset 2 of UID"),
    (b"0x1234\n04A1B2C3\n", ["04A1B2C3"], 1, 1, "non-hex byte 0x78 at offset 1 of UID"),
    (b"\x00" * 200 + b"\n04A1B2C3\n", ["04A1B2C3"], 1, 1, f"line longer than {LINE_MAX_BYTES} bytes"),
    (b"X" * 70 + b"04A1B2C3\n", [], 0, 1, f"line longer than {LINE_MAX_BYTES} bytes"),  # no tail taken
    (b"04A1B2C3", [], 0, 0, None),  # waits for its line end
])
def test_line_parser_table(data, tags, ok, bad, error):
    parser = LineParser()
    assert parser.feed(data) == tags
    assert (parser.frames_ok, parser.frames_bad, parser.last_error) == (ok, bad, error)


def test_line_parser_bounds_its_buffer_and_logs_rejections(caplog):
    parser = LineParser()
    with caplog.at_level("DEBUG", logger="kioskd.drivers.rfid"):
        for _ in range(100):
            assert parser.feed(b"0123456789" * 1000) == []
            assert parser.buffered == 0
        assert parser.feed(b"\r\nnot a tag\n04A1B2C3\n") == ["04A1B2C3"]
    assert parser.frames_bad == 2 and parser.bytes_skipped == 1_000_000
    assert [r.getMessage() for r in caplog.records] == [
        f"rejected RFID line: line longer than {LINE_MAX_BYTES} bytes",
        "rejected RFID line: non-hex byte 0x6E at offset 0 of UID"]
    assert parser.feed(b"1234") == [] and parser.buffered == 4
    parser.reset()
    assert parser.feed(b"5678\n") == ["5678"]


def test_parsers_report_each_frame_they_judge():
    seen = []
    parser = Rdm6300Parser(on_frame=lambda raw, problem: seen.append((raw, problem)))
    parser.feed(b"\x020A1B2" + A + b"\x020A1B2C3D4E00\x03")
    assert seen == [(b"\x020A1B2\x02", "non-hex byte 0x02 at offset 6 of frame"), (A, None),
                    (b"\x020A1B2C3D4E00\x03", "checksum mismatch: frame says 0x00, data gives 0x4E")]
    seen.clear()
    parser = LineParser(on_frame=lambda raw, problem: seen.append((raw, problem)))
    parser.feed(b"\x02 04a1 \x03\r\n\r\nzz\n" + b"7" * 100 + b"\n")
    assert seen == [(b"\x02 04a1 \x03", None), (b"zz", "non-hex byte 0x7A at offset 0 of UID"),
                    (b"7" * LINE_MAX_BYTES, f"line longer than {LINE_MAX_BYTES} bytes")]


def test_printable_names_control_bytes():
    assert printable(A) == "<STX>0A1B2C3D4E4E<ETX>"
    assert printable(b"12 \r\n\x00\xff~") == "12 <CR><LF><00><FF>~"


def test_make_parser_knows_every_protocol():
    assert PROTOCOLS == ("rdm6300", "line")
    assert isinstance(make_parser("rdm6300"), Rdm6300Parser) and isinstance(make_parser("line"), LineParser)
    with pytest.raises(ValueError, match="unknown RFID protocol 'wiegand', expected one of rdm6300, line"):
        make_parser("wiegand")


# ---- both parsers fuzzed ------------------------------------------------------------------------
# Each parser is checked against an independent statement of its protocol (a regular expression), on
# arbitrary bytes cut into arbitrary chunks, and on valid frames interleaved with noise built to
# look like frames (torn frames, stray STX/ETX, hex runs, corrupted frames).

_RDM_FRAME = re.compile(rb"\x02([0-9A-Fa-f]{10})([0-9A-Fa-f]{2})\x03")


def rdm_oracle(stream):
    """Every valid frame in ``stream``: a frame holds exactly one STX, so matches cannot hide one another."""
    tags = []
    for match in _RDM_FRAME.finditer(stream):
        checksum = 0
        for byte in bytes.fromhex(match[1].decode()):
            checksum ^= byte
        if checksum == int(match[2], 16):
            tags.append(match[1].decode().upper())
    return tags


def line_oracle(stream):
    """The UID of every CR/LF-ended line of at most LINE_MAX_BYTES bytes that is one, padding stripped."""
    *lines, _unfinished = re.split(rb"[\r\n]", stream)
    uids = [line.strip(b"\x02\x03 \t") for line in lines if len(line) <= LINE_MAX_BYTES]
    return [uid.decode().upper() for uid in uids if re.fullmatch(rb"[0-9A-Fa-f]{4,20}", uid)]


TAG10 = st.text(HEX, min_size=10, max_size=10)
UID = st.text(HEX, min_size=4, max_size=20)


def _changed(frame, position, byte):
    return frame[:position] + bytes([byte]) + frame[position + 1:]


RDM_NOISE = st.lists(st.one_of(
    st.binary(max_size=20),
    st.sampled_from([b"\x02", b"\x03", b"\x02\x02", b"0", b"A", b"f", b"\xff", b"\x00", b"\r\n", b"0A1B2C3D4E4E"]),
    st.builds(lambda tag, n: rdm6300_frame(tag)[:n], TAG10, st.integers(1, 13)),  # torn frame
    st.builds(lambda tag, i, b: _changed(rdm6300_frame(tag), i, b), TAG10, st.integers(0, 13), st.integers(0, 255)),
), max_size=6).map(b"".join)
LINE_NOISE = st.lists(st.one_of(
    st.binary(max_size=20),
    st.sampled_from([b"\r", b"\n", b"\r\n", b"\x02", b"\x03", b" ", b"12", b"AB", b"g", b"\xff", b"\x00",
                     b"\xc3\xa9", b"F" * 70, b"1" * 21, b"04A1B2C3"]),
    st.builds(lambda uid, n: line_frame(uid)[:n], UID, st.integers(0, 20)),  # line cut short
), max_size=6).map(b"".join)
LINE_END = st.sampled_from([b"\r", b"\n", b"\r\n"])
PADDED_LINE = st.tuples(st.sampled_from([b"", b"\x02", b" ", b"\x02 ", b"  \t"]), UID.map(str.encode),
                        st.sampled_from([b"", b"\x03", b" ", b" \x03"]), LINE_END)


def feed_in_chunks(parser, stream, cuts):
    bounds = [0, *sorted(cut % (len(stream) + 1) for cut in cuts), len(stream)]
    return [tag for start, end in pairwise(bounds) for tag in parser.feed(stream[start:end])]


CUTS = st.lists(st.integers(0, 10_000), max_size=12)


@FAST
@given(chunks=st.lists(st.binary(max_size=100), max_size=20))
def test_line_parser_never_raises_and_stays_bounded(chunks):
    parser = LineParser()
    for chunk in chunks:
        tags = parser.feed(chunk)
        assert all(4 <= len(tag) <= 20 and tag == tag.upper() for tag in tags)
        assert parser.buffered <= LINE_MAX_BYTES


@FAST
@given(pieces=st.lists(RDM_NOISE | TAG10.map(rdm6300_frame), max_size=8), cuts=CUTS)
def test_rdm6300_parser_finds_exactly_the_valid_frames_however_chunked(pieces, cuts):
    stream = b"".join(pieces)
    whole, chunked = [], []
    tags = Rdm6300Parser(lambda *frame: whole.append(frame)).feed(stream)
    assert tags == rdm_oracle(stream)
    assert feed_in_chunks(Rdm6300Parser(lambda *frame: chunked.append(frame)), stream, cuts) == tags
    assert chunked == whole  # even the rejected frames shown to service mode do not depend on chunking


@FAST
@given(pieces=st.lists(LINE_NOISE | PADDED_LINE.map(b"".join), max_size=8), cuts=CUTS)
def test_line_parser_finds_exactly_the_valid_lines_however_chunked(pieces, cuts):
    stream = b"".join(pieces)
    whole, chunked = [], []
    tags = LineParser(lambda *frame: whole.append(frame)).feed(stream)
    assert tags == line_oracle(stream)
    assert feed_in_chunks(LineParser(lambda *frame: chunked.append(frame)), stream, cuts) == tags
    assert chunked == whole


@FAST
@given(frames=st.lists(TAG10, max_size=6), noise=st.lists(RDM_NOISE.filter(lambda g: not rdm_oracle(g)),
                                                          min_size=7, max_size=7), cuts=CUTS)
def test_every_rdm6300_frame_between_noise_is_recovered_in_order(frames, noise, cuts):
    """Noise (holding no valid frame itself) never swallows a frame, also when it ends with STX or a torn frame."""
    gaps = noise[1:len(frames) + 1]
    stream = noise[0] + b"".join(rdm6300_frame(tag) + gap for tag, gap in zip(frames, gaps, strict=True))
    assert feed_in_chunks(Rdm6300Parser(), stream, cuts) == [tag.upper() for tag in frames]


@FAST
@given(lines=st.lists(PADDED_LINE, max_size=6),
       noise=st.lists(st.tuples(LINE_NOISE, LINE_END).map(b"".join).filter(lambda g: not line_oracle(g)),
                      min_size=7, max_size=7), cuts=CUTS)
def test_every_line_between_noise_is_recovered_in_order(lines, noise, cuts):
    """Noise lines (each ended by CR or LF: a line reader cannot find a UID inside a garbled line)
    never cost the valid lines around them."""
    gaps = noise[1:len(lines) + 1]
    stream = noise[0] + b"".join(b"".join(line) + gap for line, gap in zip(lines, gaps, strict=True))
    assert feed_in_chunks(LineParser(), stream, cuts) == [uid.decode().upper() for _, uid, _, _ in lines]


# ---- protocols, reconnecting and service-mode state on real ports -------------------------------


def test_line_reader_on_a_pty_debounces_and_keeps_the_last_frames(pty):
    master, path = pty
    events = Events()
    reader = SerialTagReader(path, events, protocol="line", hold_seconds=5.0)
    reader.start()
    try:
        assert wait_until(lambda: reader.ok)
        assert reader.status == f"reading {path} at 9600 baud (line)"
        data = b"04a1b2c3\r\n04A1B2C3\r\n\x02 1234567890 \x03\nnoise!\r\n"
        os.write(master, data)
        assert reader.wait_for_bytes(len(data), 2.0)
        assert events == [TagRead("04A1B2C3"), TagRead("1234567890")]
        frames = reader.last_frames
        assert [(f.text, f.problem) for f in frames] == [
            ("04a1b2c3", None), ("04A1B2C3", None), ("<STX> 1234567890 <ETX>", None),
            ("noise!", "non-hex byte 0x6E at offset 0 of UID")]
        assert all(a.at <= b.at <= time.monotonic() for a, b in pairwise(frames))
    finally:
        reader.stop()


def test_unplugged_reader_is_reported_once_and_comes_back(tmp_path):
    link = tmp_path / "ttyRFID"  # a udev /dev/serial/by-id link: gone while unplugged, back on replug
    first_master, first_slave = os.openpty()
    link.symlink_to(os.ttyname(first_slave))
    events = Events()
    reader = SerialTagReader(str(link), events, hold_seconds=0.0, retry_min=0.02, retry_max=0.1)
    reader.start()
    second = None
    try:
        assert wait_until(lambda: reader.ok)
        os.write(first_master, A + B[:6])  # unplugged in the middle of a frame
        assert reader.wait_for_bytes(FRAME_LENGTH + 6, 2.0)
        os.close(first_master)
        os.close(first_slave)
        link.unlink()
        assert wait_until(lambda: events.of(DeviceStatus))
        time.sleep(0.3)  # several failed reopens: still one report
        down = events.of(DeviceStatus)
        assert len(down) == 1 and down[0].ok is False and down[0].device == "rfid"
        assert not reader.ok and reader.status.startswith("down: ") and "retrying in" in reader.status
        assert [t for t in threading.enumerate() if t.name == "rfid-reader" and t.is_alive()]
        second = os.openpty()
        link.symlink_to(os.ttyname(second[1]))
        assert wait_until(lambda: reader.ok)
        assert events.of(DeviceStatus) == [down[0], DeviceStatus("rfid", True)]
        assert reader.status.startswith(f"reading {link}")
        os.write(second[0], B)
        assert reader.wait_for_bytes(2 * FRAME_LENGTH + 6, 2.0)
        assert events.of(TagRead) == [TagRead("0A1B2C3D4E"), TagRead("62E3086CED")]
        assert reader.parser.frames_bad == 0  # the torn frame was forgotten, not glued to the next one
    finally:
        reader.stop()
        for fd in second or ():
            os.close(fd)


def test_reopen_waits_double_each_time_up_to_the_cap(monkeypatch):
    attempts = []
    open_port = serial.serial_for_url

    def unplugged_six_times(url, **settings):  # the port boundary: what pyserial raises for a missing device
        attempts.append(time.monotonic())
        if len(attempts) <= 6:
            error = serial.SerialException if len(attempts) % 2 else OSError
            raise error(2, f"could not open port {url}: No such file or directory")
        return open_port("loop://", **settings)

    monkeypatch.setattr(serial, "serial_for_url", unplugged_six_times)
    events = Events()
    reader = SerialTagReader("/dev/ttyUSB7", events, retry_min=0.02, retry_max=0.08)
    reader.start()
    try:
        assert wait_until(lambda: reader.ok)
    finally:
        reader.stop()
    gaps = [b - a for a, b in pairwise(attempts)]
    assert len(gaps) == 6
    waits = [0.02, 0.04, 0.08, 0.08, 0.08, 0.08]
    assert all(gap >= wait - 0.005 for gap, wait in zip(gaps, waits, strict=True))
    assert max(gaps[3:]) < 0.3  # capped: uncapped, the last waits would be 0.32 and 0.64 s
    assert [(e.ok, "/dev/ttyUSB7" in e.detail) for e in events] == [(False, True), (True, False)]


def test_read_failure_reopens_the_port(monkeypatch):
    events = Events()
    reader = SimTagReader(events, protocol="line", hold_seconds=0.0)
    reader.start()
    try:
        assert reader.present("04A1B2C3")

        def failing_read(size=1):
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(reader._port, "read", failing_read)  # the open port starts failing
        assert wait_until(lambda: events.of(DeviceStatus))
        assert events.of(DeviceStatus)[0] == DeviceStatus("rfid", False,
                                                          "read failed on loop://: [Errno 5] Input/output error")
        assert wait_until(lambda: reader.ok)  # a fresh loop:// port
        assert reader.present("04A1B2C3")
        assert events == [TagRead("04A1B2C3"), events.of(DeviceStatus)[0], DeviceStatus("rfid", True),
                          TagRead("04A1B2C3")]
    finally:
        reader.stop()


def test_an_unexpected_error_does_not_end_the_reader_thread(caplog):
    posted = []

    def post(event):
        posted.append(event)
        if len(posted) == 1:
            raise RuntimeError("queue closed")

    port = serial.serial_for_url("loop://")
    reader = SerialTagReader("loop://", post, hold_seconds=0.0, port=port, retry_min=0.02, retry_max=0.05)
    reader.start()
    try:
        port.write(A)
        assert wait_until(lambda: DeviceStatus("rfid", True) in posted)
        assert posted[1] == DeviceStatus("rfid", False, "reader failed: RuntimeError: queue closed")
        assert reader.ok and "RFID reader failed" in caplog.text
    finally:
        reader.stop()


def test_sim_line_protocol_and_last_frames():
    events = Events()
    reader = SimTagReader(events, protocol="line", hold_seconds=0.3)
    reader.start()
    try:
        assert isinstance(reader.parser, LineParser)
        assert reader.present("04a1b2c3") and reader.present("04A1B2C3")  # one presentation
        assert reader.present("0012345678")
        assert reader.write_raw(b"\x02garbage\x03\r\n")
        assert events == [TagRead("04A1B2C3"), TagRead("0012345678")]
        with pytest.raises(ValueError):
            reader.present("12")
        for _ in range(LAST_FRAMES):
            assert reader.present("CAFE")
        frames = reader.last_frames
        assert len(frames) == LAST_FRAMES and {(f.text, f.problem) for f in frames} == {("CAFE", None)}
    finally:
        reader.stop()


def test_sim_rdm6300_last_frames_show_rejected_frames(sim):
    reader, _ = sim
    assert reader.write_raw(b"\x020A1B2C3D4E00\x03" + A)
    assert [(f.text, f.problem) for f in reader.last_frames] == [
        ("<STX>0A1B2C3D4E00<ETX>", "checksum mismatch: frame says 0x00, data gives 0x4E"),
        ("<STX>0A1B2C3D4E4E<ETX>", None)]


def test_reader_arguments_are_checked():
    with pytest.raises(ValueError, match="unknown RFID protocol"):
        SerialTagReader("loop://", Events(), protocol="wiegand")
    with pytest.raises(ValueError, match="retry_min"):
        SerialTagReader("loop://", Events(), retry_min=1.0, retry_max=0.5)


# ---- chosen by config ---------------------------------------------------------------------------

SIM_TOML = Path(__file__).resolve().parent.parent / "config" / "sim.toml"


def _config_with(**rfid):
    """config/sim.toml with its [rfid] section replaced by these settings."""
    text = SIM_TOML.read_text()
    start = text.index("[rfid]\n")
    end = text.index("\n[", start)
    section = "".join(f'{key} = "{value}"\n' for key, value in rfid.items())
    return parse_config(f"{text[:start]}[rfid]\n{section}{text[end:]}", SIM_TOML)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_config_chooses_the_parser(protocol):
    config = _config_with(protocol=protocol)
    assert config.rfid.protocol == protocol
    sim = _tag_reader(config, Events())
    assert isinstance(sim, SimTagReader) and sim.protocol == protocol
    assert isinstance(sim.parser, {"rdm6300": Rdm6300Parser, "line": LineParser}[protocol])
    sim.stop()
    real = _tag_reader(_config_with(protocol=protocol, driver="serial", port="/dev/ttyUSB0"), Events())
    assert type(real) is SerialTagReader and real.protocol == protocol  # built, not started


def test_config_refuses_an_unknown_protocol():
    with pytest.raises(ConfigError) as info:
        _config_with(protocol="lines")
    assert info.value.problems == [f"{SIM_TOML}: rfid.protocol: must be one of 'rdm6300', 'line', got 'lines';"
                                   " did you mean 'line'?"]
