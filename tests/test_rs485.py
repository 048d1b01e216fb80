"""RS485 lock boards: the frame format, the parser, and the bank against a Sim board on a real pty."""

import time
from pathlib import Path

import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st

from kioskd.config import ConfigError, load_config
from kioskd.drivers.rs485 import (
    MAX_FRAME_LENGTH,
    REQUEST_LENGTHS,
    STATUS,
    UNLOCK,
    Cu16Frame,
    Cu16Parser,
    LockBoardError,
    Rs485LockBank,
    SimCu16Board,
    SimRs485LockBank,
    checksum,
    frame,
    status_reply,
)
from kioskd.events import DeviceStatus, DoorClosed, DoorOpened

from conftest import Events, wait_until

FAST = {"poll_seconds": 0.02, "reply_timeout": 0.05}
ADDRESSES = {1: (0, 0), 2: (0, 1), 3: (0, 9), 4: (1, 15)}


@pytest.fixture
def sim():
    with SimCu16Board((0, 1), spring_seconds=0.03) as board:
        yield board


@pytest.fixture
def bank(sim):
    """A started bank on the Sim board, after its first poll round (the doors' baseline)."""
    events = Events()
    bank = Rs485LockBank(sim.path, ADDRESSES, events, retries=2, **FAST)
    bank.events = events
    bank.start()
    assert bank.wait_for_polls(1, 2.0) and bank.ok
    yield bank
    bank.close()


def polls_later(bank, count=3):
    """Wait for ``count`` more whole poll rounds, enough for a debounced change to be posted."""
    assert bank.wait_for_polls(bank.polls + count, 2.0)


# ---- frames ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("board", "lock", "command", "data", "hex_bytes"), [
    (0, 0, UNLOCK, b"", "02 00 31 03 36"),
    (0, 1, UNLOCK, b"", "02 01 31 03 37"),
    (0, 0, STATUS, b"", "02 00 30 03 35"),
    (1, 0, STATUS, b"", "02 10 30 03 45"),
    (3, 7, UNLOCK, b"", "02 37 31 03 6d"),
    (15, 15, UNLOCK, b"", "02 ff 31 03 35"),  # the sum wraps: 0x135 -> 0x35
    (1, 0, STATUS, b"\x01\x02", "02 10 30 01 02 03 48"),
    (15, 0, STATUS, b"\xff\xff", "02 f0 30 ff ff 03 23"),
])
def test_frame_bytes(board, lock, command, data, hex_bytes):
    assert frame(board, lock, command, data) == bytes.fromhex(hex_bytes)


def test_checksum_is_the_low_byte_of_the_sum():
    assert checksum(b"\x02\x01\x31\x03") == 0x37
    assert checksum(b"\xff\xff\x02") == 0x00
    assert checksum(b"") == 0


def test_status_reply_sets_one_bit_per_open_door():
    assert status_reply(1, {0, 9}) == frame(1, 0, STATUS, b"\x01\x02")
    assert status_reply(2, []) == frame(2, 0, STATUS, b"\x00\x00")
    assert Cu16Parser().feed(status_reply(4, {0, 7, 8, 15}))[0].open_locks == {0, 7, 8, 15}


@pytest.mark.parametrize(("board", "lock"), [(16, 0), (0, 16), (-1, 0), (0, -1), (1.0, 0), (True, 0)])
def test_frame_refuses_addresses_off_the_bus(board, lock):
    with pytest.raises(ValueError, match="0..15"):
        frame(board, lock, UNLOCK)


# ---- parsing --------------------------------------------------------------------------------------

ACK = frame(0, 2, UNLOCK)  # address 0x02: an STX inside a frame
STAT = status_reply(1, {0, 9})


@pytest.mark.parametrize(("data", "frames", "bad"), [
    (ACK, [Cu16Frame(0, 2, UNLOCK)], 0),
    (STAT + ACK, [Cu16Frame(1, 0, STATUS, b"\x01\x02"), Cu16Frame(0, 2, UNLOCK)], 0),
    (b"\x00\xffhello" + ACK + b"\x03\x03", [Cu16Frame(0, 2, UNLOCK)], 0),
    (ACK[:-1] + b"\x00" + STAT, [Cu16Frame(1, 0, STATUS, b"\x01\x02")], 2),  # wrong checksum; STX in ADDR
    (STAT[:5] + b"\x04" + STAT[6:] + ACK, [Cu16Frame(0, 2, UNLOCK)], 2),  # wrong ETX; STX in D1
    (b"\x02\x00\x39\x03\x3e" + ACK, [Cu16Frame(0, 2, UNLOCK)], 1),  # unknown command
    (ACK[:3] + ACK, [Cu16Frame(0, 2, UNLOCK)], 2),  # a cut-off frame, then a whole one
    (b"\x02" * 9 + ACK, [Cu16Frame(0, 2, UNLOCK)], 9),
])
def test_parser_skips_garbage_and_broken_frames(data, frames, bad):
    for chunk_size in (1, 2, 3, len(data)):
        parser = Cu16Parser()
        found = [f for i in range(0, len(data), chunk_size) for f in parser.feed(data[i:i + chunk_size])]
        assert found == frames
        assert parser.frames_bad == bad and parser.buffered == 0


def test_request_parser_reads_what_the_bank_sends():
    parser = Cu16Parser(REQUEST_LENGTHS)
    assert parser.feed(frame(3, 4, UNLOCK) + frame(3, 0, STATUS)) == [Cu16Frame(3, 4, UNLOCK), Cu16Frame(3, 0, STATUS)]
    assert parser.feed(STAT) == [] and parser.frames_bad == 2  # a 7-byte reply is no request


FRAMES = st.builds(frame, st.integers(0, 15), st.integers(0, 15), st.just(UNLOCK)) | st.builds(
    status_reply, st.integers(0, 15), st.sets(st.integers(0, 15)))
NOISE = st.binary(max_size=20).map(lambda b: b.replace(b"\x02", b""))  # no STX: cannot start a frame
SEPARATOR = st.binary(min_size=MAX_FRAME_LENGTH - 1, max_size=12).map(lambda b: b.replace(b"\x02", b"\x20"))


def chunked(data, cuts):
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.tuples(NOISE, FRAMES), max_size=8), tail=NOISE, cuts=st.lists(st.integers(0, 400)))
def test_every_frame_between_noise_is_recovered_exactly(pieces, tail, cuts):
    data = b"".join(noise + good for noise, good in pieces) + tail
    parser = Cu16Parser()
    found = [f for chunk in chunked(data, cuts) for f in parser.feed(chunk)]
    assert [frame(f.board, f.lock, f.command, f.data) for f in found] == [good for _, good in pieces]
    assert parser.frames_bad == 0


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.tuples(st.binary(max_size=16), SEPARATOR, FRAMES), max_size=8),
       cuts=st.lists(st.integers(0, 600)))
def test_any_bytes_never_raise_and_frames_after_them_are_recovered(pieces, cuts):
    """Arbitrary bytes (stray STX, cut-off and corrupted frames) may hide at most themselves: once a frame's
    worth of bytes without STX has passed, the parser is in step again and the next good frame is found."""
    data = b"".join(junk + gap + good for junk, gap, good in pieces)
    parser = Cu16Parser()
    found = []
    for chunk in chunked(data, cuts):
        found += [frame(f.board, f.lock, f.command, f.data) for f in parser.feed(chunk)]
        assert parser.buffered < MAX_FRAME_LENGTH
    wanted = iter(found)
    assert all(any(good == seen for seen in wanted) for _, _, good in pieces)  # in order, maybe among others


# ---- the bank on a pty ----------------------------------------------------------------------------


def test_unlock_round_trip_and_the_door_springs_open(sim, bank):
    bank.pulse(3)
    assert sim.unlocks == [(0, 9)]
    assert wait_until(lambda: DoorOpened(3) in bank.events)
    assert bank.door_is_open(3) and not bank.door_is_open(2)
    sim.close_door(0, 9)
    assert wait_until(lambda: DoorClosed(3) in bank.events)
    assert bank.events == [DoorOpened(3), DoorClosed(3)]
    assert bank.relays_off()


def test_retry_after_a_dropped_or_garbled_ack(sim, bank):
    sim.drop(1)
    bank.pulse(1)
    assert sim.unlocks == [(0, 0), (0, 0)]  # the board heard both: the first answer was lost on the way
    sim.garble(2)
    bank.pulse(4)
    assert sim.unlocks[2:] == [(1, 15)] * 3
    sim.drop(1, STATUS)
    sim.garble(1, STATUS)  # board 0's status: lost, garbled, then answered at the third and last attempt
    polls_later(bank)
    assert bank.ok and bank.events.of(DeviceStatus) == []


def test_noise_before_every_reply_is_skipped(sim, bank):
    sim.noise = b"\x00\x02\x02\x31\xff"
    bank.pulse(2)
    polls_later(bank)
    assert bank.ok and sim.unlocks == [(0, 1)]


def test_no_ack_after_all_retries_raises_a_lock_board_error(sim, bank):
    sim.drop(3)  # retries = 2: three attempts, three lost answers
    with pytest.raises(LockBoardError, match="did not acknowledge unlocking lock 0 .locker 1. in 3 attempts"):
        bank.pulse(1)
    assert sim.unlocks == [(0, 0)] * 3
    assert isinstance(LockBoardError("x"), OSError)  # the effect runner turns it into a relay_fault alarm
    with pytest.raises(KeyError):
        bank.pulse(99)


def test_jammed_lock_is_acknowledged_but_the_door_stays_shut(sim, bank):
    sim.jam(0, 1)
    bank.pulse(2)
    polls_later(bank, 5)
    assert sim.unlocks == [(0, 1)] and not bank.door_is_open(2)
    assert bank.events == []


def test_doors_seen_by_polling_on_two_boards(sim, bank):
    sim.open_door(1, 15)
    sim.open_door(0, 0)
    sim.open_door(0, 5)  # no locker on lock 5: nothing to report
    assert wait_until(lambda: len(bank.events) == 2)
    assert set(bank.events) == {DoorOpened(4), DoorOpened(1)}
    sim.close_door(1, 15)
    assert wait_until(lambda: DoorClosed(4) in bank.events)
    assert bank.door_is_open(1) and not bank.door_is_open(4)


def test_one_poll_glitch_posts_nothing(sim, bank):
    for _ in range(3):
        sim.glitch(0, 1)
        polls_later(bank, 2)
    assert bank.events == [] and not bank.door_is_open(2)


def test_doors_open_at_start_are_the_baseline_not_events(sim):
    sim.open_door(0, 0)
    events = Events()
    with_bank = Rs485LockBank(sim.path, {1: (0, 0)}, events, **FAST)
    with_bank.start()
    try:
        assert with_bank.wait_for_polls(4, 2.0)
        assert with_bank.door_is_open(1) and events == []
    finally:
        with_bank.close()


def test_silent_bus_is_reported_down_then_up_and_nothing_is_ever_unlocked_unasked(sim, bank):
    sim.silent = True
    assert wait_until(lambda: bank.events.of(DeviceStatus))
    down = bank.events.of(DeviceStatus)[0]
    assert (down.device, down.ok) == ("locks", False) and down.detail == f"boards 0, 1 not answering on {sim.path}"
    assert not bank.ok
    with pytest.raises(LockBoardError):
        bank.pulse(1)
    polls_later(bank, 2)
    assert len(bank.events.of(DeviceStatus)) == 1  # one outage, one event
    sim.silent = False
    assert wait_until(lambda: len(bank.events.of(DeviceStatus)) == 2)
    assert bank.events.of(DeviceStatus)[1] == DeviceStatus("locks", True) and bank.ok
    assert sim.unlocks == [] and bank.polls > 3


def test_one_missing_board_takes_the_bank_down(sim):
    events = Events()
    bank = Rs485LockBank(sim.path, {1: (0, 0), 2: (7, 0)}, events, retries=0, **FAST)
    bank.start()
    try:
        assert wait_until(lambda: events.of(DeviceStatus))
        assert events.of(DeviceStatus)[0].detail == f"board 7 not answering on {sim.path}"
    finally:
        bank.close()


def test_unplugged_adapter_is_reopened_with_backoff(tmp_path):
    link = tmp_path / "ttyLOCKS"  # like a udev /dev/serial/by-id link
    first = SimCu16Board((0,))
    link.symlink_to(first.path)
    events = Events()
    bank = Rs485LockBank(str(link), {1: (0, 3)}, events, **FAST)
    bank.start()
    second = None
    try:
        assert bank.wait_for_polls(1, 2.0) and bank.ok
        first.close()  # the adapter is pulled out
        assert wait_until(lambda: events.of(DeviceStatus))
        assert events.of(DeviceStatus)[0].ok is False and bank.status.startswith("down: ")
        with pytest.raises(LockBoardError):
            bank.pulse(1)
        second = SimCu16Board((0,))
        link.unlink()
        link.symlink_to(second.path)
        assert wait_until(lambda: bank.ok, 4.0)
        assert events.of(DeviceStatus)[-1] == DeviceStatus("locks", True)
        bank.pulse(1)
        assert second.unlocks == [(0, 3)] and first.unlocks == []
    finally:
        bank.close()
        if second is not None:
            second.close()
    assert bank.status == "stopped"


def test_missing_port_is_down_and_close_is_prompt():
    events = Events()
    bank = Rs485LockBank("/dev/ttyUSB-kioskd-test-missing", {1: (0, 0)}, events, **FAST)
    bank.start()
    assert wait_until(lambda: events.of(DeviceStatus))
    assert "ttyUSB-kioskd-test-missing" in events.of(DeviceStatus)[0].detail
    started = time.monotonic()
    bank.close()
    assert time.monotonic() - started < 1.5


def test_a_port_handed_in_is_used_as_is(sim):
    port = serial.Serial(sim.path, timeout=1.0)
    bank = Rs485LockBank(sim.path, {1: (0, 0)}, Events(), retries=0, **FAST, port=port)
    bank.pulse(1)  # without start(): no poller, the caller's port
    assert sim.unlocks == [(0, 0)] and port.timeout < 1.0
    bank.close()
    assert not port.is_open


@pytest.mark.parametrize(("addresses", "options"), [
    ({}, {}), ({1: (16, 0)}, {}), ({1: (0, 0), 2: (0, 0)}, {}), ({1: (0, 0)}, {"retries": -1}),
    ({1: (0, 0)}, {"poll_seconds": 0}),
])
def test_bad_bank_settings_are_refused(addresses, options):
    with pytest.raises(ValueError):
        Rs485LockBank("loop://", addresses, Events(), **options)


def test_sim_bank_drives_doors_by_locker():
    events = Events()
    bank = SimRs485LockBank({1: (2, 0), 2: (2, 1)}, events, spring_seconds=0.01, **FAST)
    bank.start()
    try:
        assert bank.wait_for_polls(1, 2.0)
        bank.open_door(2)
        assert wait_until(lambda: events == [DoorOpened(2)])
        bank.jam(1)
        bank.pulse(1)
        polls_later(bank)
        assert not bank.door_is_open(1) and bank.board.unlocks == [(2, 0)]
    finally:
        bank.close()
    assert bank.status == "stopped"


# ---- config ---------------------------------------------------------------------------------------

KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="


def rs485_config(tmp_path: Path, lockers: list[str], locks: str = 'driver = "rs485"\nport = "/dev/ttyUSB0"',
                 key: str = KEY) -> Path:
    body = "".join(f'[[lockers]]\nnumber = {n}\nsize = "S"\nrow = 1\ncolumn = {n}\n{extra}\n\n'
                   for n, extra in enumerate(lockers, start=1))
    path = tmp_path / "kiosk.toml"
    path.write_text(f'[kiosk]\nid = "t-1"\n\n{body}[identification]\nqr_public_key = "{key}"\n\n[locks]\n{locks}\n')
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [line.removeprefix(f"{path}: ") for line in info.value.problems]


def test_rs485_example_config_loads_and_every_setting_is_commented():
    path = Path(__file__).resolve().parent.parent / "config" / "rs485.example.toml"
    config = load_config(path)
    assert (config.locks.driver, config.locks.port, config.locks.baudrate) == ("rs485", "/dev/ttyUSB0", 19200)
    assert [(s.number, s.board, s.lock) for s in config.lockers] == [(n, 0, n - 1) for n in range(1, 10)]
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            assert "#" in line, f"undocumented line: {line!r}"


def test_rs485_config_loads_with_defaults(tmp_path):
    config = load_config(rs485_config(tmp_path, ["board = 0\nlock = 0", "board = 1\nlock = 15"]))
    c = config.locks
    assert (c.driver, c.port, c.baudrate, c.retries, c.poll_seconds) == ("rs485", "/dev/ttyUSB0", 19200, 2, 0.2)
    assert [(s.board, s.lock) for s in config.lockers] == [(0, 0), (1, 15)]
    assert not config.all_simulated


def test_rs485_config_settings(tmp_path):
    locks = 'driver = "rs485"\nport = "/dev/ttyAMA0"\nbaudrate = 9600\nretries = 0\npoll_seconds = 0.05'
    c = load_config(rs485_config(tmp_path, ["board = 0\nlock = 0"], locks)).locks
    assert (c.port, c.baudrate, c.retries, c.poll_seconds) == ("/dev/ttyAMA0", 9600, 0, 0.05)


def test_rs485_config_every_locker_needs_a_free_address(tmp_path):
    lockers = ["board = 0\nlock = 3", "board = 0", "lock = 4", "board = 0\nlock = 3", "", "board = 16\nlock = 0"]
    assert problems(rs485_config(tmp_path, lockers)) == [
        "lockers[6].board: must be between 0 and 15, got 16",
        'lockers[2].lock: required when locks.driver = "rs485"',
        'lockers[3].board: required when locks.driver = "rs485"',
        "lockers[4]: board 0, lock 3 is already used by locker 1 (lockers[1])",
        'lockers[5].board: required when locks.driver = "rs485"',
        'lockers[5].lock: required when locks.driver = "rs485"',
    ]


def test_rs485_config_needs_a_port_and_sane_settings(tmp_path):
    locks = 'driver = "rs485"\nbaudrate = 12345\nretries = 11\npoll_seconds = 0.01'
    assert problems(rs485_config(tmp_path, ["board = 0\nlock = 0"], locks)) == [
        "locks.baudrate: must be one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, got 12345",
        "locks.retries: must be between 0 and 10, got 11",
        "locks.poll_seconds: must be between 0.05 and 5, got 0.01",
        'locks.port: required when locks.driver = "rs485" (e.g. "/dev/ttyUSB0")',
    ]


def test_board_addresses_are_not_needed_by_other_drivers(tmp_path):
    config = load_config(rs485_config(tmp_path, ["", "board = 0\nlock = 0"], 'driver = "sim"'))
    assert config.locker(1).board is None


def test_rs485_kiosk_refuses_the_simulators_qr_key(tmp_path):
    from kioskd.config import SIM_TEST_PUBLIC_KEY_B64

    path = rs485_config(tmp_path, ["board = 0\nlock = 0"], key=SIM_TEST_PUBLIC_KEY_B64)
    assert problems(path) == [
        "identification.qr_public_key: this is the simulator's public test key; a kiosk with real hardware "
        '(locks.driver = "rs485") must use its town hall\'s key']


def test_composition_root_builds_a_polling_rs485_bank(tmp_path, sim):
    from kioskd.app import _lock_bank

    path = rs485_config(tmp_path, ["board = 0\nlock = 0", "board = 1\nlock = 2"],
                        f'driver = "rs485"\nport = "{sim.path}"\npoll_seconds = 0.05')
    events = Events()
    bank = _lock_bank(load_config(path), events)
    try:
        assert isinstance(bank, Rs485LockBank) and bank.wait_for_polls(1, 2.0) and bank.ok
        bank.pulse(2)
        assert sim.unlocks == [(1, 2)]
    finally:
        bank.close()
