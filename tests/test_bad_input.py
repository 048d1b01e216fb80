"""Bad input at the daemon's edges never crashes it, never opens a door, and changes nothing."""

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kioskd.drivers.rfid import rdm6300_frame

from conftest import reservation

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
    assert k.screen in ("attract",)
    assert _snapshot(k) == before and k.released == []
    ok_before = k.parts.tag_reader.parser.frames_ok
    k.present_tag("0A1B2C3D4E")  # the reader still works after the garbage
    assert k.parts.tag_reader.parser.frames_ok >= ok_before + 1


@SETTINGS
@given(text=st.text(alphabet=string.printable, min_size=1, max_size=120))
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
