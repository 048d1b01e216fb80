"""Bad input at the daemon's edges never crashes it, never opens a door, and changes nothing."""

import base64
import json
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kioskd import tokens
from kioskd.drivers.rfid import rdm6300_frame

from conftest import SIM_CONFIG, reservation

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


def _snapshot(k):
    conn = k.store.conn
    return (conn.execute("SELECT id, status FROM reservations ORDER BY id").fetchall(),
            conn.execute("SELECT COUNT(*) FROM releases").fetchone()[0])


@SETTINGS
@given(data=st.binary(max_size=200))
def test_random_serial_bytes(kiosk, data):
    k = kiosk
    if not k.store.conn.execute("SELECT 1 FROM reservations").fetchone():
        k.load([reservation()])
    before = _snapshot(k)
    k.write_serial(data)
    # garbage is dropped; by chance it may hold a well-formed frame, which is an unknown tag at most
    assert k.screen == "attract" or k.parts.screen.current[1].get("reason") == "unknown_tag"
    assert _snapshot(k) == before and k.released == []
    ok_before = k.parts.tag_reader.parser.frames_ok
    k.advance(2)  # past the reader's hold time
    k.present_tag("0A1B2C3D4E")  # the reader still works after the garbage
    assert k.parts.tag_reader.parser.frames_ok >= ok_before + 1
    if k.screen != "attract":
        k.press("restart")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(payload: bytes) -> str:
    """Validly signed by the simulator's key, but with a payload that is not what a token holds."""
    key = tokens.load_private_key(str(SIM_CONFIG.parent / "sim-test-backend.key"))
    body = f"KD1.{_b64(payload)}"
    return f"{body}.{_b64(key.sign(body.encode()))}"


QR_TEXTS = st.one_of(
    st.text(alphabet=string.printable, min_size=1, max_size=120),
    st.builds(lambda a, b: f"KD1.{_b64(a)}.{_b64(b)}", st.binary(max_size=80), st.binary(min_size=64, max_size=64)),
    st.builds(_signed, st.one_of(st.binary(max_size=60), st.builds(
        lambda d: json.dumps(d).encode(), st.dictionaries(st.sampled_from("rkejx"),
                                                          st.one_of(st.integers(), st.text(max_size=8), st.none()),
                                                          max_size=5)))),
)


@SETTINGS
@given(text=QR_TEXTS)
def test_random_qr_payloads(kiosk, text):
    k = kiosk
    if not k.store.conn.execute("SELECT 1 FROM reservations").fetchone():
        k.load([reservation()])
    before = _snapshot(k)
    k.show_qr(text)
    assert k.screen in ("error", "attract")
    assert _snapshot(k) == before and k.released == []
    k.show_qr(None)
    if k.screen == "error":
        k.press("done") if any(b.action == "done" for b in k.parts.screen.model.buttons()) else k.advance(100)
    k.advance(100)


def test_garbage_then_valid_frame_still_read(kiosk):
    kiosk.write_serial(b"\x02ZZZZZZZZZZZZ\x03\xff\x00" + rdm6300_frame("0A1B2C3D4E")[:5])
    kiosk.write_serial(rdm6300_frame("0A1B2C3D4E")[5:] + rdm6300_frame("1122334455"))
    parser = kiosk.parts.tag_reader.parser
    assert parser.frames_ok >= 1 and parser.frames_bad >= 1
