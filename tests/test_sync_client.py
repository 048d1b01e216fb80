"""The sync client's own parts: its config section, backoff and rate cap, the checks every answer passes,
the token file, the change cursor kept with the changes, and the kiosk serving on without a token."""

import json
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_sync_support import kiosk_config

from kioskd.changes import CURSOR_KEY, ChangeError, apply_changes
from kioskd.config import ConfigError, load_config, parse_config
from kioskd.sync import (
    Backoff,
    BadResponse,
    RateLimit,
    TokenError,
    change_summary,
    parse_acks,
    parse_page,
    read_token,
    write_token,
)

from conftest import NOW, SIM_CONFIG, reservation

KEY = b"k" * 32
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)


# ---- config --------------------------------------------------------------------------------------------


def test_sync_section_is_optional_and_read_with_defaults(tmp_path):
    assert load_config(SIM_CONFIG).sync is None
    config = load_config(kiosk_config(tmp_path, "https://townhall.example.be/", token_file="secret/t"))
    assert config.sync.server == "https://townhall.example.be"
    assert config.sync.token_file == tmp_path / "secret" / "t"
    assert config.sync.batch_size == 200 and config.sync.page_size == 200


def test_sync_section_problems_are_all_reported():
    text = SIM_CONFIG.read_text() + ('\n[sync]\nserver = "ftp://x"\nbatch_size = 501\nbackoff_min_seconds = 10\n'
                                     'backoff_max_seconds = 1\nservr = 1\n')
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "k.toml")
    problems = "\n".join(caught.value.problems)
    assert "k.toml: sync.server: expected the town hall's URL" in problems
    assert "k.toml: sync.batch_size: must be between 1 and 500, got 501" in problems
    assert "k.toml: sync.backoff_max_seconds: must be at least sync.backoff_min_seconds" in problems
    assert "k.toml: sync.servr: unknown key; did you mean 'server'?" in problems
    with pytest.raises(ConfigError, match="sync.server: required"):
        parse_config(SIM_CONFIG.read_text() + "\n[sync]\n", "k.toml")


# ---- policies ------------------------------------------------------------------------------------------


def test_backoff_is_exponential_with_full_jitter_and_capped():
    top = Backoff(1.0, 60.0, rand=lambda: 0.999999)
    assert [round(top.failed()) for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    low = Backoff(1.0, 60.0, rand=lambda: 0.0)
    assert low.failed() == pytest.approx(0.1)  # a floor: never a tight loop
    top.succeeded()
    assert round(top.failed()) == 1


def test_rate_limit_caps_requests_per_sliding_minute():
    now = [0.0]
    limit = RateLimit(3, lambda: now[0])
    for _ in range(3):
        assert limit.wait() == 0
        limit.note()
        now[0] += 1
    assert limit.wait() == pytest.approx(57.0)
    now[0] = 60.5
    assert limit.wait() == 0


# ---- every answer is checked before use ---------------------------------------------------------------


def test_page_checks():
    page = parse_page({"changes": [{"type": "x", "kiosk_id": "sim-1"}], "cursor": "5", "more": True},
                      after="4", limit=10, kiosk_id="sim-1")
    assert page.changes == [{"type": "x"}] and page.cursor == "5" and page.more
    bad = [({"changes": [], "cursor": "3"}, "4", "went backwards"),
           ({"changes": [{"type": "x"}], "cursor": "4"}, "4", "stayed"),
           ({"changes": [{"type": "x", "kiosk": "other"}], "cursor": "5"}, "4", "kiosk 'other'"),
           ({"changes": [], "cursor": "5", "kiosk_id": "other"}, "4", "kiosk 'other'"),
           ({"changes": [{}] * 11, "cursor": "5"}, "4", "11 changes"),
           ({"changes": [], "cursor": 5}, "4", "cursor"),
           ({"changes": [], "cursor": "x" * 300}, "4", "cursor"),
           ({"changes": {}, "cursor": "5"}, None, "not a list"),
           ({"changes": [], "cursor": "5", "more": "yes"}, None, "more"),
           ([], None, "expected an object")]
    for body, after, message in bad:
        with pytest.raises(BadResponse, match=message):
            parse_page(body, after=after, limit=10, kiosk_id="sim-1")


def test_acks_only_count_for_ids_sent():
    assert parse_acks({"acked": ["a", "b", "zz"]}, {"a", "b", "c"}) == ({"a", "b"}, 1)
    for body in ({"acked": "a"}, {"acked": [1]}, ["a"], {}):
        with pytest.raises(BadResponse):
            parse_acks(body, {"a"})


@settings(max_examples=300, deadline=None)
@given(JSON, st.one_of(st.none(), st.text(max_size=5)))
def test_any_json_is_a_page_or_bad_response(body, after):
    try:
        page = parse_page(body, after=after, limit=500, kiosk_id="sim-1")
    except BadResponse:
        return
    assert isinstance(page.changes, list) and isinstance(page.cursor, str) and isinstance(page.more, bool)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_any_json_is_acks_or_bad_response(body):
    try:
        acked, _stray = parse_acks(body, {"a", "b"})
    except BadResponse:
        return
    assert acked <= {"a", "b"}


def test_refused_change_summary_carries_no_secret():
    assert change_summary({"type": "badge", "uid": "0A1B2C3D4E", "pin": "480613"}) == {"type": "badge"}
    assert change_summary(reservation()) == {"type": "reservation", "id": "R-1001"}
    assert change_summary(7) == {"type": None}


# ---- the token -----------------------------------------------------------------------------------------


def test_token_file_is_private_and_checked(tmp_path):
    path = tmp_path / "d" / "sync.token"
    with pytest.raises(TokenError, match="kioskctl enrol"):
        read_token(path)
    write_token(path, "t" * 43)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_token(path) == "t" * 43
    path.write_text("short\n")
    with pytest.raises(TokenError, match="does not hold a token"):
        read_token(path)
    assert [p.name for p in path.parent.iterdir()] == ["sync.token"]  # no temporary file left


def test_without_token_sync_is_off_with_a_clear_status_and_pickups_go_on(tmp_path):
    from kioskd.sim import Harness

    config = kiosk_config(tmp_path / "cfg", "http://127.0.0.1:9")
    with Harness(config=config, data_dir=tmp_path / "data", start=NOW) as k:
        assert k.parts.sync is None
        assert k.kiosk.devices["sync"].ok is False and k.kiosk.devices["sync"].detail == "not enrolled"
        k.load([reservation(pin="40213377")])
        k.press("pickup")
        k.press("method:pin")
        k.type_code("40213377")
        assert k.released and k.released[-1][0] == 3


# ---- the cursor is kept with the changes ---------------------------------------------------------------


def test_cursor_is_stored_with_the_changes_or_not_at_all(store):
    apply_changes(store, [reservation()], key=KEY, pin_length=8, now=NOW, source="sync", cursor="7")
    assert store.meta(CURSOR_KEY) == "7"
    with pytest.raises(ChangeError):
        apply_changes(store, [reservation("R-2", locker=4, pin="11112222"), {"type": "nope"}], key=KEY,
                      pin_length=8, now=NOW, source="sync", cursor="9")
    assert store.meta(CURSOR_KEY) == "7"
    assert store.conn.execute("SELECT COUNT(*) FROM reservations WHERE id = 'R-2'").fetchone()[0] == 0
    audits = store.conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
    apply_changes(store, [], key=KEY, pin_length=8, now=NOW, source="sync", cursor="12")
    assert store.meta(CURSOR_KEY) == "12"
    assert store.conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == audits  # no audit noise
    apply_changes(store, [], key=KEY, pin_length=8, now=NOW)  # a file: as before, audited, no cursor
    assert store.conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == audits + 1
    assert json.loads(store.conn.execute("SELECT detail FROM audit ORDER BY id DESC").fetchone()[0]) == {"counts": {}}
