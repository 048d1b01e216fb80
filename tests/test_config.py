"""Config loading: every problem reported at once, precisely located, and nothing but ConfigError escapes."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import math
import tomllib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kioskd.config import (
    SIM_TEST_PUBLIC_KEY_B64,
    CameraSection,
    ConfigError,
    LockerSpec,
    LockoutSection,
    LocksSection,
    PickupSection,
    RfidSection,
    UiSection,
    load_config,
    parse_config,
    pin_number,
)

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
OTHER_KEY = base64.b64encode(bytes(range(32))).decode()
TWO_LOCKERS = [
    'number = 1\nsize = "S"\nrow = 1\ncolumn = 1',
    'number = 2\nsize = "M"\nrow = 1\ncolumn = 2',
]


def build(kiosk: str = 'id = "test-1"', lockers: list[str] | None = None,
          identification: str = f'qr_public_key = "{OTHER_KEY}"', extra: str = "") -> str:
    """A small valid config, with the given pieces swapped in."""
    parts = [f"[kiosk]\n{kiosk}"]
    parts += [f"[[lockers]]\n{body}" for body in (TWO_LOCKERS if lockers is None else lockers)]
    parts += [f"[identification]\n{identification}", extra]
    return "\n\n".join(parts) + "\n"


def gpio_locker(number: int, relay: str, door: str, row: int = 1) -> str:
    return f'number = {number}\nsize = "S"\nrow = {row}\ncolumn = {number}\nrelay = "{relay}"\ndoor = "{door}"'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    """The problems load_config reports, with the FILE prefix checked on every line and then removed."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    prefix = f"{path}: "
    assert info.value.problems, "a ConfigError must carry at least one problem"
    assert all(line.startswith(prefix) for line in info.value.problems), info.value.problems
    assert str(info.value) == "\n".join(info.value.problems)
    return [line[len(prefix):] for line in info.value.problems]


# --- the shipped files ---------------------------------------------------------------------------------------

def test_sim_config_loads_with_nine_simulated_lockers() -> None:
    config = load_config(CONFIG_DIR / "sim.toml")
    assert config.kiosk.id == "sim-1"
    assert config.kiosk.contact
    assert config.kiosk.data_dir == CONFIG_DIR.parent / "var" / "sim"
    assert config.all_simulated
    assert [spec.number for spec in config.lockers] == list(range(1, 10))
    assert {(spec.row, spec.column) for spec in config.lockers} == {(r, c) for r in (1, 2, 3) for c in (1, 2, 3)}
    assert [spec.size for spec in config.lockers] == ["S"] * 3 + ["M"] * 3 + ["L"] * 3
    assert config.identification.qr_public_key == SIM_TEST_PUBLIC_KEY_B64


def test_sim_config_every_setting_line_is_commented() -> None:
    for line in (CONFIG_DIR / "sim.toml").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#") and "qr_public_key" not in line:
            assert "#" in line, f"undocumented line: {line!r}"


def test_sim_test_key_file_is_the_private_half_of_the_sim_public_key() -> None:
    pem = (CONFIG_DIR / "sim-test-backend.key").read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert pem.rstrip().endswith(b"-----END PRIVATE KEY-----")
    private = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(private, Ed25519PrivateKey)
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    config = load_config(CONFIG_DIR / "sim.toml")
    assert config.identification.public_key_bytes() == raw
    Ed25519PublicKey.from_public_bytes(raw).verify(private.sign(b"token"), b"token")  # raises if mismatched


def test_aalter_example_loads_with_real_drivers_and_distinct_safe_pins() -> None:
    config = load_config(CONFIG_DIR / "aalter.example.toml")
    assert config.kiosk.id == "aalter-gemeentehuis-1"
    assert config.kiosk.data_dir == Path("/var/lib/kioskd")
    assert config.kiosk.key_file == Path("/etc/kioskd/kiosk.key")
    assert (config.locks.driver, config.rfid.driver, config.camera.driver) == ("gpio", "serial", "opencv")
    assert (config.rfid.port, config.rfid.baudrate, config.camera.device) == ("/dev/serial0", 9600, 0)
    assert (config.ui.width, config.ui.height, config.ui.fullscreen) == (1080, 1920, True)
    assert not config.all_simulated
    assert len(config.lockers) == 9
    pins = [pin_number(name) for spec in config.lockers for name in (spec.relay, spec.door)]
    assert None not in pins and len(set(pins)) == 18
    assert not {14, 15} & set(pins), "the UART pins belong to the RFID reader"
    key = config.identification.public_key_bytes()
    assert len(key) == 32 and key != base64.b64decode(SIM_TEST_PUBLIC_KEY_B64)


# --- good files ----------------------------------------------------------------------------------------------

def test_omitted_sections_get_the_documented_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, build()))
    assert config.path == tmp_path / "kiosk.toml"
    assert config.kiosk.languages == ("nl", "fr", "en") and config.kiosk.default_language == "nl"
    assert config.kiosk.timezone == "Europe/Brussels" and config.kiosk.data_dir is None
    assert config.locks == LocksSection("sim", 0.5, True, "low", True, 0.05)
    assert config.rfid == RfidSection("sim", "loop://", 9600, "rdm6300", 1.0)
    assert config.camera == CameraSection("sim", 0, 640, 480, 10.0)
    assert config.pickup == PickupSection(60, 2, 20, 30, 120, 45, 15)
    assert config.lockout == LockoutSection(5, 30, 3600, 3600)
    assert config.ui == UiSection(1280, 800, False, 20)
    assert config.identification.pin_length == 8
    assert config.identification.public_key_bytes() == bytes(range(32))


def test_lockers_are_sorted_by_number_and_looked_up(tmp_path: Path) -> None:
    lockers = ['number = 7\nsize = "L"\nrow = 2\ncolumn = 1', 'number = 3\nsize = "S"\nrow = 1\ncolumn = 1']
    config = load_config(write(tmp_path, build(lockers=lockers)))
    assert [spec.number for spec in config.lockers] == [3, 7]
    assert config.locker(7) == LockerSpec(7, "L", 2, 1)
    assert config.locker(5) is None


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, build()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.pickup.max_reopens = 9  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.kiosk = config.kiosk  # type: ignore[misc]


def test_relative_paths_resolve_against_the_config_directory(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "etc").mkdir()
    path = tmp_path / "etc" / "kiosk.toml"
    path.write_text(build(kiosk='id = "k"\ndata_dir = "../var/data"\nkey_file = "keys/kiosk.key"'))
    monkeypatch.chdir(tmp_path / "etc")  # from inside the folder, a relative path to the file ...
    config = load_config("kiosk.toml")
    monkeypatch.chdir("/")  # ... must not leave the paths relative to a cwd that changes later
    assert config.kiosk.data_dir == tmp_path / "var" / "data"
    assert config.kiosk.key_file == tmp_path / "etc" / "keys" / "kiosk.key"


def test_absolute_paths_stay_as_written(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, build(kiosk='id = "k"\ndata_dir = "/srv/kiosk"')))
    assert config.kiosk.data_dir == Path("/srv/kiosk") and config.kiosk.key_file is None


def test_public_key_padding_is_optional(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, build(identification=f'qr_public_key = "{OTHER_KEY.rstrip("=")}"')))
    assert config.identification.public_key_bytes() == bytes(range(32))


@pytest.mark.parametrize(("rfid", "camera", "expected"), [
    ("none", "none", True), ("sim", "none", True), ("serial", "sim", False), ("sim", "opencv", False)])
def test_all_simulated_means_no_real_device(tmp_path: Path, rfid: str, camera: str, expected: bool) -> None:
    extra = f'[rfid]\ndriver = "{rfid}"\n[camera]\ndriver = "{camera}"\ndevice = "/dev/video2"'
    config = load_config(write(tmp_path, build(extra=extra)))
    assert config.camera.device == "/dev/video2"
    assert config.all_simulated is expected


def test_parse_config_checks_text_under_the_given_name() -> None:
    assert parse_config(build(), path="inline.toml").kiosk.id == "test-1"
    with pytest.raises(ConfigError) as info:
        parse_config(build(extra="[ui]\nwidth = 1"), path="inline.toml")
    assert info.value.problems == ["inline.toml: ui.width: must be between 320 and 4096, got 1"]
    with pytest.raises(ConfigError) as info:
        parse_config(build(kiosk=""))
    assert info.value.problems == ["<config>: kiosk.id: required"]


# --- bad files -----------------------------------------------------------------------------------------------

def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = build(kiosk='id = "bad id!"\ntimezone = "Europe/Bruxelles"',
                 extra='[pickup]\ninactivity_seconds = "abc"\nmax_reopens = 11\n[ui]\nfullscreen = 1')
    assert problems(tmp_path, text) == [
        "kiosk.id: must be 1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-', got 'bad id!'",
        "kiosk.timezone: unknown time zone 'Europe/Bruxelles'; did you mean 'Europe/Brussels'?",
        "pickup.max_reopens: must be between 0 and 10, got 11",
        "pickup.inactivity_seconds: expected a number, got string 'abc'",
        "ui.fullscreen: expected true or false, got integer 1",
    ]


def test_unknown_key_suggests_the_close_name(tmp_path: Path) -> None:
    found = problems(tmp_path, build(extra="[pickup]\ninactivty_seconds = 10\nzzz = 1"))
    assert found == ["pickup.inactivty_seconds: unknown key; did you mean 'inactivity_seconds'?",
                     "pickup.zzz: unknown key"]


def test_key_in_the_wrong_section_names_its_section(tmp_path: Path) -> None:
    found = problems(tmp_path, build(kiosk='id = "k"\npulse_seconds = 0.5'))
    assert found == ["kiosk.pulse_seconds: unknown key (it belongs in [locks])"]


def test_unknown_key_in_a_locker_is_located_by_index(tmp_path: Path) -> None:
    lockers = [*TWO_LOCKERS, 'number = 3\nsize = "S"\nrow = 2\ncolumn = 1\nrealy = "GPIO17"']
    assert problems(tmp_path, build(lockers=lockers)) == ["lockers[3].realy: unknown key; did you mean 'relay'?"]


def test_unknown_sections_are_rejected(tmp_path: Path) -> None:
    found = problems(tmp_path, build(extra='[pickp]\nmax_reopens = 1\n[[locker]]\nnumber = 1\n[fancy]\nx = 1'))
    assert found == ["pickp: unknown section; did you mean 'pickup'?",
                     "locker: unknown section; did you mean 'lockers'?",
                     "fancy: unknown section"]


def test_top_level_key_outside_any_section(tmp_path: Path) -> None:
    found = problems(tmp_path, 'timezone = "UTC"\n' + build())
    assert found == ["timezone: unknown top-level key (it belongs in [kiosk])"]


@pytest.mark.parametrize(("section", "line", "message"), [
    ("pickup", 'inactivity_seconds = "abc"', "pickup.inactivity_seconds: expected a number, got string 'abc'"),
    ("pickup", 'max_reopens = "2"', "pickup.max_reopens: expected an integer, got string '2'"),
    ("pickup", "max_reopens = 2.0", "pickup.max_reopens: expected an integer, got float 2.0"),
    ("ui", 'fullscreen = "yes"', "ui.fullscreen: expected true or false, got string 'yes'"),
    ("rfid", "port = 3", "rfid.port: expected a string, got integer 3"),
    ("camera", "device = -1", "camera.device: expected a V4L2 index (integer >= 0) or a device path, got integer -1"),
    ("locks", "driver = [1]", "locks.driver: expected a string, got array [1]"),
    ("locks", "driver = {a = 1}", "locks.driver: expected a string, got table"),
    ("lockout", "base_seconds = 2024-01-01", "lockout.base_seconds: expected a number, got date 2024-01-01"),
])
def test_wrong_types(tmp_path: Path, section: str, line: str, message: str) -> None:
    assert problems(tmp_path, build(extra=f"[{section}]\n{line}")) == [message]


@pytest.mark.parametrize(("section", "line", "message"), [
    ("pickup", "max_reopens = true", "pickup.max_reopens: expected an integer, got boolean true"),
    ("pickup", "inactivity_seconds = false", "pickup.inactivity_seconds: expected a number, got boolean false"),
    ("ui", "width = true", "ui.width: expected an integer, got boolean true"),
    ("locks", "relay_active_high = 1", "locks.relay_active_high: expected true or false, got integer 1"),
])
def test_bool_is_not_a_number_and_a_number_is_not_a_bool(tmp_path: Path, section: str, line: str,
                                                          message: str) -> None:
    assert problems(tmp_path, build(extra=f"[{section}]\n{line}")) == [message]


@pytest.mark.parametrize(("section", "line", "message"), [
    ("locks", "pulse_seconds = 0.05", "must be between 0.1 and 5.0, got 0.05"),
    ("locks", "pulse_seconds = 6", "must be between 0.1 and 5.0, got 6"),
    ("locks", "door_bounce_seconds = 1.5", "must be between 0 and 1, got 1.5"),
    ("pickup", "inactivity_seconds = 0", "must be between 20 and 3600, got 0"),
    ("pickup", "reopen_grace_seconds = 3600.5", "must be greater than 0 and at most 3600, got 3600.5"),
    ("pickup", "door_open_timeout_seconds = nan", "expected a finite number, got nan"),
    ("pickup", "timeout_warning_seconds = inf", "expected a finite number, got inf"),
    ("pickup", "max_reopens = -1", "must be between 0 and 10, got -1"),
    ("lockout", "free_attempts = 0", "must be between 1 and 100, got 0"),
    ("lockout", "reset_after_seconds = -5", "must be greater than 0, got -5"),
    ("identification_pin", "pin_length = 5", "must be between 6 and 12, got 5"),
    ("identification_pin", "pin_length = 13", "must be between 6 and 12, got 13"),
    ("rfid", "baudrate = 9601", "must be one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, got 9601"),
    ("rfid", "hold_seconds = 10.5", "must be between 0 and 10, got 10.5"),
    ("camera", "width = 100", "must be between 160 and 3840, got 100"),
    ("camera", "fps = 61", "must be between 1 and 60, got 61"),
    ("ui", "height = 5000", "must be between 320 and 4096, got 5000"),
    ("ui", "input_poll_ms = 4", "must be between 5 and 200, got 4"),
])
def test_out_of_range_values_name_the_allowed_range(tmp_path: Path, section: str, line: str,
                                                     message: str) -> None:
    if section == "identification_pin":
        text = build(identification=f'qr_public_key = "{OTHER_KEY}"\n{line}')
        section = "identification"
    else:
        text = build(extra=f"[{section}]\n{line}")
    key = line.split(" = ")[0]
    assert problems(tmp_path, text) == [f"{section}.{key}: {message}"]


@pytest.mark.parametrize("pin_length", [6, 12])
def test_range_bounds_are_inclusive(tmp_path: Path, pin_length: int) -> None:
    text = build(identification=f'qr_public_key = "{OTHER_KEY}"\npin_length = {pin_length}',
                 extra="[pickup]\ninactivity_seconds = 3600\nmax_reopens = 0\n[locks]\npulse_seconds = 0.1")
    config = load_config(write(tmp_path, text))
    assert config.identification.pin_length == pin_length
    assert (config.pickup.inactivity_seconds, config.pickup.max_reopens, config.locks.pulse_seconds) == (3600, 0, 0.1)


@pytest.mark.parametrize(("line", "message"), [
    ('driver = "gipo"', "locks.driver: must be one of 'sim', 'gpio', 'rs485', got 'gipo'; did you mean 'gpio'?"),
    ('door_closed_level = "LOW"', "locks.door_closed_level: must be one of 'low', 'high', got 'LOW'"),
])
def test_choices_are_listed(tmp_path: Path, line: str, message: str) -> None:
    assert problems(tmp_path, build(extra=f"[locks]\n{line}")) == [message]


def test_required_keys_and_sections(tmp_path: Path) -> None:
    text = '[kiosk]\nname = "x"\n\n[[lockers]]\nnumber = 1\nrow = 1\ncolumn = 1\n'
    assert problems(tmp_path, text) == [
        "kiosk.id: required",
        "lockers[1].size: required",
        "identification: required: add an [identification] section",
    ]
    assert problems(tmp_path, build(identification="pin_length = 8")) == ["identification.qr_public_key: required"]


def test_lockers_must_be_an_array_of_at_least_one_table(tmp_path: Path) -> None:
    no_lockers = build(lockers=[])
    assert problems(tmp_path, "lockers = []\n" + no_lockers) == ["lockers: at least one [[lockers]] table is required"]
    assert problems(tmp_path, no_lockers) == ["lockers: required: add at least one [[lockers]] table"]
    single = no_lockers + '[lockers]\nnumber = 1\nsize = "S"\nrow = 1\ncolumn = 1\n'
    assert problems(tmp_path, single) == [
        "lockers: expected an array of tables ([[lockers]] blocks), got a single table ([lockers])"]


def test_section_that_is_not_a_table(tmp_path: Path) -> None:
    assert problems(tmp_path, "pickup = 5\n" + build()) == ["pickup: expected a table ([pickup]), got integer 5"]


def test_duplicate_locker_numbers_and_positions(tmp_path: Path) -> None:
    lockers = [*TWO_LOCKERS, 'number = 2\nsize = "L"\nrow = 2\ncolumn = 1',
               'number = 4\nsize = "L"\nrow = 1\ncolumn = 1']
    assert problems(tmp_path, build(lockers=lockers)) == [
        "lockers[3].number: duplicate locker number 2 (also lockers[2])",
        "lockers[4]: row 1, column 1 is already taken by lockers[1]",
    ]


def test_locker_values_are_checked(tmp_path: Path) -> None:
    lockers = ['number = 0\nsize = "XL"\nrow = 0\ncolumn = 1\nrelay = "gpio17"\ndoor = "17"']
    assert problems(tmp_path, build(lockers=lockers)) == [
        "lockers[1].number: must be greater than 0, got 0",
        "lockers[1].size: must be one of 'S', 'M', 'L', got 'XL'; did you mean 'L'?",
        "lockers[1].row: must be greater than 0, got 0",
        "lockers[1].relay: 'gpio17' is not a GPIO pin name such as 'GPIO17', 'BCM17' or 'BOARD11'; "
        "did you mean 'GPIO17'?",
        "lockers[1].door: '17' is not a GPIO pin name such as 'GPIO17', 'BCM17' or 'BOARD11'; "
        "did you mean 'GPIO17'?",
    ]


def test_gpio_driver_needs_a_relay_and_a_door_pin_for_every_locker(tmp_path: Path) -> None:
    lockers = [gpio_locker(1, "GPIO17", "GPIO4"), 'number = 2\nsize = "S"\nrow = 1\ncolumn = 2\nrelay = "GPIO27"']
    assert problems(tmp_path, build(lockers=lockers, extra='[locks]\ndriver = "gpio"')) == [
        'lockers[2].door: required when locks.driver = "gpio"']
    assert len(problems(tmp_path, build(extra='[locks]\ndriver = "gpio"'))) == 4  # two lockers, two pins each


def test_pin_clashes_name_both_lockers(tmp_path: Path) -> None:
    lockers = [gpio_locker(1, "GPIO17", "GPIO4"), gpio_locker(2, "GPIO17", "GPIO5"),
               gpio_locker(3, "GPIO22", "BOARD7")]
    assert problems(tmp_path, build(lockers=lockers, extra='[locks]\ndriver = "gpio"')) == [
        "lockers[2].relay: pin 'GPIO17' (GPIO17) clashes with the relay of locker 1 (lockers[1])",
        "lockers[3].door: pin 'BOARD7' (GPIO4) clashes with the door of locker 1 (lockers[1])",
    ]


def test_a_lockers_relay_and_door_cannot_share_a_pin_even_when_simulated(tmp_path: Path) -> None:
    lockers = [gpio_locker(1, "BCM17", "J8:11")]
    assert problems(tmp_path, build(lockers=lockers)) == [
        "lockers[1].door: pin 'J8:11' (GPIO17) clashes with the relay of locker 1 (lockers[1])"]


@pytest.mark.parametrize("key", [SIM_TEST_PUBLIC_KEY_B64, SIM_TEST_PUBLIC_KEY_B64.rstrip("=")])
def test_sim_public_key_is_refused_with_real_locks(tmp_path: Path, key: str) -> None:
    lockers = [gpio_locker(1, "GPIO17", "GPIO4")]
    text = build(lockers=lockers, identification=f'qr_public_key = "{key}"', extra='[locks]\ndriver = "gpio"')
    assert problems(tmp_path, text) == [
        "identification.qr_public_key: this is the simulator's public test key; a kiosk with real hardware "
        '(locks.driver = "gpio") must use its town hall\'s key']
    allowed = load_config(write(tmp_path, text.replace('driver = "gpio"', 'driver = "sim"')))
    assert allowed.identification.qr_public_key == key


@pytest.mark.parametrize(("key", "message"), [
    (base64.urlsafe_b64encode(bytes([251] * 32)).decode(),
     "uses the URL-safe alphabet; expected standard base64 (A-Z a-z 0-9 + /) of a 32-byte Ed25519 key"),
    (base64.b64encode(bytes(31)).decode(), "decodes to 31 bytes; an Ed25519 public key is exactly 32 bytes"),
    ("not base64!", "is not base64; expected standard base64 (A-Z a-z 0-9 + /) of a 32-byte Ed25519 key"),
    ("", "decodes to 0 bytes; an Ed25519 public key is exactly 32 bytes"),
])
def test_qr_public_key_must_be_32_bytes_of_standard_base64(tmp_path: Path, key: str, message: str) -> None:
    text = build(identification=f'qr_public_key = "{key}"')
    assert problems(tmp_path, text) == [f"identification.qr_public_key: {message}"]


@pytest.mark.parametrize(("kiosk", "message"), [
    ('default_language = "de"', "kiosk.default_language: must be one of 'nl', 'fr', 'en', got 'de'"),
    ('languages = ["fr", "en"]', "kiosk.default_language: 'nl' is not in kiosk.languages ['fr', 'en']"),
    ('languages = ["nl", "nl"]', "kiosk.languages: lists a language twice: ['nl', 'nl']"),
    ('languages = ["nl", "de"]', "kiosk.languages: unsupported language 'de'; choose from 'nl', 'fr', 'en'"),
    ("languages = []", "kiosk.languages: must list at least one of 'nl', 'fr', 'en'"),
    ('languages = "nl"', "kiosk.languages: expected an array of language codes, got string 'nl'"),
    ('data_dir = ""', "kiosk.data_dir: expected a file system path, got an empty or NUL-containing string"),
    ('timezone = "Mars/Olympus"', "kiosk.timezone: unknown time zone 'Mars/Olympus'"),
    ('id = "' + "x" * 65 + '"',
     "kiosk.id: must be 1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-', got '" + "x" * 36 + "..."),
])
def test_kiosk_section_checks(tmp_path: Path, kiosk: str, message: str) -> None:
    if not kiosk.startswith("id "):
        kiosk = f'id = "k"\n{kiosk}'
    assert problems(tmp_path, build(kiosk=kiosk)) == [message]


def test_lockout_max_must_not_be_below_base(tmp_path: Path) -> None:
    text = build(extra="[lockout]\nbase_seconds = 120\nmax_seconds = 60")
    assert problems(tmp_path, text) == ["lockout.max_seconds: must be at least lockout.base_seconds (120), got 60"]


def test_invalid_toml_is_one_precise_problem(tmp_path: Path) -> None:
    text = build() + "[pickup\nmax_reopens = 1\n"
    found = problems(tmp_path, text)
    assert len(found) == 1 and found[0].startswith("invalid TOML: ")
    assert f"line {text.count(chr(10)) - 1}" in found[0]  # the line of "[pickup"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [f"{path}: cannot read: No such file or directory"]


def test_directory_and_non_utf8_files_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert info.value.problems == [f"{tmp_path}: cannot read: Is a directory"]
    path = tmp_path / "latin1.toml"
    path.write_bytes(build(kiosk='id = "k"\nname = "Gemeentehuis"').encode().replace(b"huis", b"h\xfcis"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert len(info.value.problems) == 1 and info.value.problems[0].startswith(f"{path}: cannot read: not UTF-8")


# --- nothing but ConfigError escapes -------------------------------------------------------------------------

def toml_string(text: str) -> str:
    escaped = "".join(f"\\u{ord(ch):04x}" if ord(ch) < 0x20 or ord(ch) == 0x7F or ch in '"\\' else ch
                      for ch in text)
    return f'"{escaped}"'


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


SCALARS = st.one_of(
    st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1), st.floats(), st.text(max_size=12),
    st.dates(), st.datetimes(), st.sampled_from([0, 1, 3600, 3601, 0.1, 5.0, "sim", "gpio", "nl", "GPIO17"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)
SECTIONS = {"pickup": PickupSection, "locks": LocksSection, "rfid": RfidSection, "camera": CameraSection,
            "lockout": LockoutSection, "ui": UiSection}


@pytest.mark.parametrize("section", sorted(SECTIONS))
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_table_in_a_section_gives_a_config_or_a_config_error(section: str, data: st.DataObject) -> None:
    names = [f.name for f in dataclasses.fields(SECTIONS[section])]
    table = data.draw(st.dictionaries(st.sampled_from(names) | st.text(max_size=10), VALUES, max_size=6))
    body = "\n".join(f"{toml_string(key)} = {toml_value(value)}" for key, value in table.items())
    text = build(extra=f"[{section}]\n{body}")
    assert section in tomllib.loads(text), "the generator must write valid TOML"
    try:
        config = parse_config(text, "prop.toml")
    except ConfigError as err:
        located = [line for line in err.problems if any(line.startswith(f"prop.toml: {section}.{key}: ")
                                                        for key in table)]
        others = set(err.problems) - set(located)
        if section == "locks":  # driver = "gpio" makes the pin-less base lockers wrong too
            others = {line for line in others if not line.startswith("prop.toml: lockers[")}
        if section == "lockout":  # max < base is reported on max_seconds even when only base was written
            others = {line for line in others if not line.startswith("prop.toml: lockout.max_seconds: must be at")}
        assert err.problems and not others, err.problems
    else:
        assert set(table) <= set(names)
        section_values = getattr(config, section)
        for key, value in table.items():
            assert getattr(section_values, key) == value
        if section == "pickup":
            pickup = config.pickup
            assert 0 <= pickup.max_reopens <= 10
            assert all(0 < getattr(pickup, name) <= 3600 for name in names if name.endswith("_seconds"))


FRAGMENTS = st.sampled_from(["=", " = ", "\n", "[", "]", "[[", "]]", "{", "}", ",", '"', "'", "'''", '"""', "#",
                             ".", "inactivity_seconds", "max_reopens", "pickup", "true", "nan", "-inf", "1e9",
                             "0x1F", "1979-05-27T07:32:00Z", "\\u0000", "3600", "-1", " "])


@settings(deadline=None)
@given(st.lists(FRAGMENTS | st.text(max_size=4), max_size=30).map("".join))
def test_any_text_in_the_pickup_section_gives_a_config_or_a_config_error(junk: str) -> None:
    try:
        config = parse_config(build(extra=f"[pickup]\n{junk}"), "prop.toml")
    except ConfigError as err:
        assert err.problems and all(line.startswith("prop.toml: ") for line in err.problems)
    else:
        assert 0 < config.pickup.inactivity_seconds <= 3600


# --- accessibility settings: speech, screen size, opening hours, time limits ---------------------------------

@pytest.mark.parametrize(("extra", "message"), [
    ('[speech]\ndriver = "mixr"', "speech.driver: must be one of 'mixer', 'sim', 'none', got 'mixr'; "
                                  "did you mean 'mixer'?"),
    ("[speech]\nvolume = 1.5", "speech.volume: must be between 0 and 1, got 1.5"),
    ('[speech]\nnight_hours = "22-07"', "speech.night_hours: expected a time range such as '22:00-07:00', "
                                        "got '22-07'"),
    ('[speech]\nnight_hours = "07:00-07:00"', "speech.night_hours: expected a time range such as '22:00-07:00', "
                                              "got '07:00-07:00'"),
    ("[speech]\nrate = 20", "speech.rate: must be between 80 and 300, got 20"),
    ("[ui]\nscreen_width_mm = 10", "ui.screen_width_mm: must be between 50 and 3000, got 10"),
    ("[ui]\nkey_hold_seconds = 0.1", "ui.key_hold_seconds: must be between 0.5 and 10, got 0.1"),
    ("[pickup]\nmax_extensions = 3", "pickup.max_extensions: must be between 10 and 1000, got 3"),
    ("[pickup]\ninactivity_seconds = 30\ntimeout_warning_seconds = 30",
     "pickup.timeout_warning_seconds: must be shorter than pickup.inactivity_seconds (30), got 30"),
])
def test_accessibility_settings_are_checked(tmp_path: Path, extra: str, message: str) -> None:
    assert problems(tmp_path, build(extra=extra)) == [message]


@pytest.mark.parametrize(("hours", "message"), [
    ('{ mon = "9-12" }', "mon: expected a time range such as '22:00-07:00', got '9-12'"),
    ('{ mo = "09:00-12:00" }', "unknown day 'mo'; did you mean 'mon'?"),
    ('{ fri = "16:00-09:00" }', "fri: '16:00-09:00' ends before it starts"),
    ('"mon-fri 9-12"', "expected a table of weekdays such as { mon = \"09:00-12:00\" }, got string 'mon-fri 9-12'"),
])
def test_broken_opening_hours_are_reported(tmp_path: Path, hours: str, message: str) -> None:
    text = build(kiosk=f'id = "test-1"\nopening_hours = {hours}')
    assert problems(tmp_path, text) == [f"kiosk.opening_hours: {message}"]


def test_opening_hours_are_read_in_week_order(tmp_path: Path) -> None:
    text = build(kiosk='id = "test-1"\nopening_hours = { sat = "09:00-11:30", mon = "09:00-12:00, 13:30-16:00" }')
    config = load_config(write(tmp_path, text))
    assert config.kiosk.opening_hours == (("mon", ("09:00-12:00", "13:30-16:00")), ("sat", ("09:00-11:30",)))


def test_speech_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, build(extra='[speech]\nrecordings_dir = "voice"')))
    assert config.speech.recordings_dir == tmp_path / "voice"
    assert config.speech.cache_dir is None


def test_eid_and_itsme_sections_are_checked_together(tmp_path: Path) -> None:
    broken = '[eid]\ndriver = "pcsc-lite"\npinpad = true\n\n[itsme]\ndriver = "townhall"'
    found = problems(tmp_path, build(extra=broken))
    assert any(p.startswith("eid.driver: ") and "did you mean 'pcsc'" in p for p in found), found
    assert any(p.startswith("eid.pinpad: ") and "pin_pad" in p for p in found), found
    assert any(p.startswith("itsme.driver: ") and "[sync]" in p for p in found), found
    config = load_config(write(tmp_path, build(extra='[eid]\ndriver = "sim"\nroots_dir = "roots"')))
    assert config.eid.roots_dir == tmp_path / "roots" and config.itsme.driver == "none"
    assert config.all_simulated
    assert not load_config(write(tmp_path, build(extra='[eid]\ndriver = "pcsc"'))).all_simulated
