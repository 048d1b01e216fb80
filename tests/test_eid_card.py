"""The eID's APDUs, signature checks and PIN pad against the emulated card, and the Sim reader driver."""

import logging
import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from smartcard.Exceptions import CardConnectionException

from kioskd.drivers.eid_card import read_card, read_identity_files
from kioskd.drivers.eid_reader import SimEidReader
from kioskd.eid import card_valid_on, parse_identity, tlv_content_length
from kioskd.eid_testcard import EmulatedEidCard, ForeignCard, TestPki, make_card
from kioskd.eid_verify import SHIPPED_ROOTS, CardForged, RootsError, load_roots, verify_identity
from kioskd.events import CardInserted, CardRead, CardRemoved

NUMBER = "85073003328"
NOW = time.time()


@pytest.fixture(scope="module", params=["ec", "rsa"])
def pki(request):
    return TestPki.generate(request.param)


@pytest.fixture(scope="module")
def ec_pki():
    return TestPki.generate("ec")


def good_card(pki, **options):
    return make_card(pki, NUMBER, "Peeters", "An Marie", **options)


def verifies(card):
    return [command for command in card.commands if command[1] == 0x20]


def test_a_genuine_card_reads_ok_with_its_identity(pki):
    card = good_card(pki)
    result = read_card(card.transmit, [pki.root], NOW)
    assert result.outcome == "ok"
    assert (result.identity.national_number, result.identity.surname, result.identity.first_names) == (
        NUMBER, "Peeters", "An Marie")
    assert card.commands[0][:5] == [0x00, 0xA4, 0x08, 0x0C, 0x04]  # select by path, no response data


@pytest.mark.parametrize("forge, reason", [
    ("tampered", "identity file's signature does not verify"),
    ("other_pki", "does not verify with the trusted root"),
    ("no_signature", "carries no signature"),
])
def test_forged_cards_are_refused_and_say_which_check_failed(pki, forge, reason):
    result = read_card(good_card(pki, forge=forge).transmit, [pki.root], NOW)
    assert (result.outcome, result.identity) == ("forged", None)
    assert reason in result.detail


def test_a_card_from_an_untrusted_root_is_forged(pki, ec_pki):
    impostor = TestPki.generate("ec")  # a root with the same name, another key
    assert "does not verify with the trusted root" in read_card(good_card(pki).transmit, [impostor.root], NOW).detail
    belgian = read_card(good_card(pki).transmit, load_roots(), NOW)
    assert belgian.outcome == "forged" and "not issued by a trusted root" in belgian.detail
    assert "no trusted eID root configured" in read_card(good_card(pki).transmit, [], NOW).detail


def test_an_expired_national_register_certificate_is_forged():
    now = datetime.now(UTC)
    old = TestPki.generate("ec", rrn_valid_from=now - timedelta(days=30), rrn_valid_until=now - timedelta(days=1))
    result = read_card(good_card(old).transmit, [old.root], now)
    assert result.outcome == "forged" and "national register certificate has expired" in result.detail


def test_verification_accepts_der_ec_signatures_and_raises_narrowly(ec_pki):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    content = good_card(ec_pki).files[(0xDF, 0x01, 0x40, 0x31)]
    signed = content[:tlv_content_length(content)]
    der = ec_pki.rrn_key.sign(signed, ec.ECDSA(hashes.SHA384()))
    verify_identity(content, der, ec_pki.rrn_der, [ec_pki.root], NOW)
    with pytest.raises(CardForged, match="not a valid X.509"):
        verify_identity(content, der, b"\x30\x03junk", [ec_pki.root], NOW)


def test_reads_cross_chunks_and_use_6c_and_get_response(pki):
    card = good_card(pki)
    identity, signature, certificate = read_identity_files(card.transmit)
    reads = [c for c in card.commands if c[1] == 0xB0]
    assert len(certificate) > 2 * 0xF8 and len(reads) > 5
    assert any(c[4] not in (0xF8,) for c in reads)  # a 6Cxx made a read with the exact remaining length
    card.answer_with_get_response = True
    assert read_identity_files(card.transmit) == (identity, signature, certificate)
    assert any(c[1] == 0xC0 for c in card.commands)


def test_a_card_that_is_not_an_eid_is_unreadable(ec_pki):
    result = read_card(ForeignCard().transmit, [ec_pki.root], NOW)
    assert result.outcome == "unreadable" and "not a Belgian eID" in result.detail
    foreign = ForeignCard()
    result = read_card(foreign.transmit, [ec_pki.root], NOW, verify_pin=True, control=foreign.pin_pad_control)
    assert result.outcome == "unreadable" and not [c for c in foreign.commands if c[1] == 0x20]  # no PIN asked


def test_a_card_pulled_mid_read_is_unreadable(ec_pki):
    card = good_card(ec_pki)
    card.pull_after(5)
    result = read_card(card.transmit, [ec_pki.root], NOW)
    assert result.outcome == "unreadable" and "connection lost" in result.detail


def test_the_right_pin_on_the_pad_then_reads(ec_pki):
    card = good_card(ec_pki)
    card.pin_pad_entry = "1234"
    result = read_card(card.transmit, [ec_pki.root], NOW, verify_pin=True, control=card.pin_pad_control)
    assert result.outcome == "ok" and len(verifies(card)) == 1
    assert verifies(card)[0] == [0x00, 0x20, 0x00, 0x01, 0x08, 0x24, 0x12, 0x34, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]


def test_a_wrong_pin_is_sent_once_and_nothing_is_read(ec_pki):
    card = good_card(ec_pki)
    card.pin_pad_entry = "9999"
    result = read_card(card.transmit, [ec_pki.root], NOW, verify_pin=True, control=card.pin_pad_control)
    assert (result.outcome, result.tries_left, result.identity) == ("wrong_pin", 2, None)
    assert len(verifies(card)) == 1 and not [c for c in card.commands if c[1] == 0xB0]
    assert read_card(card.transmit, [ec_pki.root], NOW, verify_pin=True,
                     control=card.pin_pad_control).tries_left == 1
    third = read_card(card.transmit, [ec_pki.root], NOW, verify_pin=True, control=card.pin_pad_control)
    assert third.outcome == "pin_blocked" and len(verifies(card)) == 3
    card.pin_pad_entry = "1234"  # blocked stays blocked, even with the right PIN
    assert read_card(card.transmit, [ec_pki.root], NOW, verify_pin=True,
                     control=card.pin_pad_control).outcome == "pin_blocked"


@pytest.mark.parametrize("entry, detail", [("cancel", "cancelled"), ("timeout", "timed out"), ("12", "too short")])
def test_pin_pad_cancel_and_timeout(ec_pki, entry, detail):
    card = good_card(ec_pki)
    card.pin_pad_entry = entry
    result = read_card(card.transmit, [ec_pki.root], NOW, verify_pin=True, control=card.pin_pad_control)
    assert result.outcome == "pin_cancelled" and detail in result.detail and card.tries_left == 3


def test_a_reader_without_pin_pad_says_so(ec_pki):
    card = good_card(ec_pki)
    result = read_card(card.transmit, [ec_pki.root], NOW, verify_pin=True, control=None)
    assert (result.outcome, result.detail) == ("unreadable", "reader has no PIN pad")
    no_features = read_card(card.transmit, [ec_pki.root], NOW, verify_pin=True, control=lambda code, data: [])
    assert no_features.detail == "reader has no PIN pad" and not verifies(card)


class GarbledCard:
    """A genuine card whose answers a strategy replaces, one APDU at a time."""

    def __init__(self, card, draw):
        self.card, self.draw = card, draw

    def transmit(self, apdu):
        if self.draw(st.booleans()):
            return self.card.transmit(apdu)
        return (self.draw(st.lists(st.integers(0, 255), max_size=300)), self.draw(st.integers(0, 255)),
                self.draw(st.integers(0, 255)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_garbled_responses_never_escape_read_card(ec_pki, data):
    card = GarbledCard(good_card(ec_pki), data.draw)
    result = read_card(card.transmit, [ec_pki.root], NOW)
    assert result.outcome in ("ok", "forged", "unreadable")


@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=600))
def test_any_file_contents_are_refused_never_crash(data):
    pki = _SHARED_PKI
    card = EmulatedEidCard(data, data[:96], pki.rrn_der)
    assert read_card(card.transmit, [pki.root], NOW).outcome in ("forged", "unreadable")


_SHARED_PKI = TestPki.generate("ec")


@pytest.mark.parametrize("field, day, valid", [
    (b"01.02.2034", date(2034, 2, 1), True),
    (b"01.02.2034", date(2034, 2, 2), False),
    (b"31.12.2020", date(2025, 1, 1), False),
    (b"2034-02-01", date(2025, 1, 1), False),
    (b"\xff\xfe", date(2025, 1, 1), False),
    (None, date(2025, 1, 1), False),
])
def test_card_validity_end_date(field, day, valid):
    from kioskd.eid import encode_tlv

    fields = {0x06: NUMBER.encode(), 0x07: b"Peeters"}
    if field is not None:
        fields[0x04] = field
    assert card_valid_on(parse_identity(encode_tlv(fields)), day) is valid


def test_the_shipped_belgian_roots_load_and_are_self_signed():
    roots = load_roots()
    names = [root.subject.rfc4514_string() for root in roots]
    for n in ("CA2", "CA3", "CA4", "CA6"):
        assert any(f"CN=Belgium Root {n}" in name for name in names)
    assert all(root.issuer == root.subject for root in roots)
    assert load_roots(SHIPPED_ROOTS) == roots


def test_a_roots_directory_with_a_non_certificate_names_the_file(tmp_path):
    (tmp_path / "broken.pem").write_text("not a certificate")
    with pytest.raises(RootsError, match="broken.pem"):
        load_roots(tmp_path)
    with pytest.raises(RootsError, match="does not exist"):
        load_roots(tmp_path / "missing")
    (tmp_path / "broken.pem").unlink()
    assert load_roots(tmp_path) == []


def test_no_national_number_in_reprs_or_logs(ec_pki, caplog):
    caplog.set_level(logging.DEBUG)
    for card in (good_card(ec_pki), good_card(ec_pki, forge="tampered")):
        result = read_card(card.transmit, [ec_pki.root], NOW)
        assert NUMBER not in repr(result) and "Peeters" not in repr(result)
    assert caplog.records and all(NUMBER not in r.getMessage() and "Peeters" not in r.getMessage()
                                  for r in caplog.records)


# ---- the Sim reader driver ----------------------------------------------------------------------------


class Events:
    def __init__(self):
        self.events, self._lock = [], threading.Lock()

    def __call__(self, event):
        with self._lock:
            self.events.append(event)


def test_the_sim_reader_posts_insertion_reads_and_removal(ec_pki):
    events = Events()
    reader = SimEidReader(events, roots=[ec_pki.root], pin_pad=True)
    reader.start()
    try:
        card = good_card(ec_pki)
        card.pin_pad_entry = "1234"
        reader.insert(card)
        reader.read(verify_pin=True)
        reader.remove()
        reader.read()
        assert reader.wait_idle()
    finally:
        reader.stop()
    kinds = [type(e).__name__ for e in events.events]
    assert kinds == ["CardInserted", "CardRead", "CardRemoved", "CardRead"]
    assert isinstance(events.events[0], CardInserted) and isinstance(events.events[2], CardRemoved)
    first, second = events.events[1], events.events[3]
    assert isinstance(first, CardRead) and first.outcome == "ok" and first.identity.national_number == NUMBER
    assert (second.outcome, second.detail) == ("unreadable", "no card in the reader")


def test_the_sim_reader_without_pin_pad(ec_pki):
    events = Events()
    reader = SimEidReader(events, roots=[ec_pki.root])
    reader.start()
    try:
        reader.insert(good_card(ec_pki))
        reader.read(verify_pin=True)
        assert reader.wait_idle()
        assert reader.card_present and reader.card_reader_status().card_present
    finally:
        reader.stop()
    assert events.events[-1] == CardRead("unreadable", detail="reader has no PIN pad")


def test_card_pulled_raises_pyscards_exception():
    card = good_card(_SHARED_PKI)
    card.pull_after(0)
    with pytest.raises(CardConnectionException):
        card.transmit([0x00, 0xA4, 0x08, 0x0C, 0x04, 0xDF, 0x01, 0x40, 0x31])
