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


# ---- chip authentication (PIN pad) ----------------------------------------------------------------------

AUTH_FILE, CA_FILE = (0xDF, 0x00, 0x50, 0x38), (0xDF, 0x00, 0x50, 0x3A)


def pin_pad_read(card, roots):
    card.pin_pad_entry = "1234"
    return read_card(card.transmit, roots, NOW, verify_pin=True, control=card.pin_pad_control)


def test_with_a_pin_pad_the_chip_signs_a_fresh_challenge_with_its_authentication_key(pki):
    card = good_card(pki)
    assert pin_pad_read(card, [pki.root]).outcome == "ok"
    mse = [c for c in card.commands if c[1] == 0x22]
    pso = [c for c in card.commands if c[1] == 0x2A]
    algorithm = 0x02 if pki.kind == "ec" else 0x01
    assert mse == [[0x00, 0x22, 0x41, 0xB6, 0x05, 0x04, 0x80, algorithm, 0x84, 0x82]]
    assert len(pso) == 1 and pso[0][:4] == [0x00, 0x2A, 0x9E, 0x9A] and len(pso[0]) == 5 + pso[0][4]
    assert pso[0][4] == (48 if pki.kind == "ec" else 51)  # SHA-384 hash / SHA-256 DigestInfo
    order = [c[1] for c in card.commands if c[1] in (0x20, 0x22, 0x2A)]
    assert order == [0x20, 0x22, 0x2A]  # after the PIN
    selected = [tuple(c[5:]) for c in card.commands if c[1] == 0xA4]
    assert AUTH_FILE in selected and CA_FILE in selected
    again = good_card(pki)
    assert pin_pad_read(again, [pki.root]).outcome == "ok"
    assert [c for c in again.commands if c[1] == 0x2A][0] != pso[0]  # a fresh challenge each time


@pytest.mark.parametrize("forge", ["clone", "clone_replay"])
def test_a_clone_is_forged_with_a_pin_pad_and_passes_without_one(pki, forge):
    clone = good_card(pki, forge=forge)
    result = pin_pad_read(clone, [pki.root])
    assert (result.outcome, result.identity) == ("forged", None)
    expected = "does not verify with the trusted root" if forge == "clone" else "not a genuine chip"
    assert expected in result.detail
    # The documented limitation (docs/identity.md, "What the eID proves"): without a PIN pad nothing asks the
    # chip to prove anything, so a clone of a card's public files reads as genuine.
    assert read_card(good_card(pki, forge=forge).transmit, [pki.root], NOW).outcome == "ok"


class PsoAnswers:
    """A genuine card whose PSO: COMPUTE DIGITAL SIGNATURE answer is replaced."""

    def __init__(self, card, data, sw):
        self.card, self.data, self.sw = card, data, sw
        self.pin_pad_control = card.pin_pad_control
        card_transmit = card.transmit
        self.card.transmit = self.transmit  # the PIN pad sends its VERIFY through here too
        self._inner = card_transmit

    def transmit(self, apdu):
        if apdu[1] == 0x2A:
            return list(self.data), *self.sw
        return self._inner(apdu)


@pytest.mark.parametrize("data, sw, detail", [
    (bytes(range(96)), (0x90, 0x00), "not a genuine chip"),
    (b"", (0x90, 0x00), "no signature"),
    (b"", (0x69, 0x82), "refused to sign the challenge (6982)"),
    (b"", (0x61, 0x10), "the chip refused to sign"),  # the GET RESPONSE the card then cannot answer
])
def test_a_chip_answering_anything_but_a_good_signature_is_forged(ec_pki, data, sw, detail):
    card = PsoAnswers(good_card(ec_pki), data, sw)
    card.card.pin_pad_entry = "1234"
    result = read_card(card.transmit, [ec_pki.root], NOW, verify_pin=True, control=card.pin_pad_control)
    assert result.outcome == "forged" and detail in result.detail


def test_the_authentication_certificate_must_name_the_identity_files_person(ec_pki):
    card = good_card(ec_pki)
    card.files[AUTH_FILE] = ec_pki.issue_authentication("90010100186", "Peeters", "An Marie",
                                                        card._key.public_key())
    result = pin_pad_read(card, [ec_pki.root])
    assert result.outcome == "forged" and "names another person" in result.detail


def test_a_card_without_authentication_certificate_cannot_prove_its_chip(ec_pki):
    card = good_card(ec_pki)
    del card.files[AUTH_FILE]
    result = pin_pad_read(card, [ec_pki.root])
    assert result.outcome == "forged" and "chip authentication" in result.detail


def test_the_citizen_ca_must_be_a_ca(ec_pki):
    card = good_card(ec_pki)
    card.files[CA_FILE] = ec_pki.rrn_der  # issued by the root, but an end-entity certificate
    result = pin_pad_read(card, [ec_pki.root])
    assert result.outcome == "forged" and "citizen CA certificate is not a CA" in result.detail


def test_a_card_pulled_during_chip_authentication_is_unreadable(ec_pki):
    card = good_card(ec_pki)
    card.pin_pad_entry = "1234"
    read_card(card.transmit, [ec_pki.root], NOW)
    before_auth = len(card.commands) + 2  # the select before the PIN, the VERIFY
    card.commands.clear()
    card.pull_after(before_auth + 3)
    result = read_card(card.transmit, [ec_pki.root], NOW, verify_pin=True, control=card.pin_pad_control)
    assert result.outcome == "unreadable" and "connection lost" in result.detail


def test_the_emulated_chip_signs_only_after_verify(ec_pki):
    card = good_card(ec_pki)
    mse = [0x00, 0x22, 0x41, 0xB6, 0x05, 0x04, 0x80, 0x02, 0x84, 0x82]
    pso = [0x00, 0x2A, 0x9E, 0x9A, 48, *bytes(48)]
    assert card.transmit(mse)[1:] == (0x69, 0x82) and card.transmit(pso)[1:] == (0x69, 0x82)
    card.transmit([0x00, 0x20, 0x00, 0x01, 0x08, 0x24, 0x12, 0x34, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
    assert card.transmit(mse)[1:] == (0x90, 0x00)
    assert card.transmit(pso)[1:] == (0x61, 96)
    card.reset()  # the verified PIN is forgotten
    assert card.transmit(pso)[1:] == (0x69, 0x82)


# ---- malformed certificates, endless GET RESPONSE, the reader thread ----------------------------------


def corrupted(der, how):
    if how == "version":
        i = der.index(bytes.fromhex("a003020102"))
        return der[:i + 4] + b"\x07" + der[i + 5:]
    name = b"kioskd TEST Belgium Root CA - not for production"
    j = der.index(name)  # the RRN certificate's issuer: its UTF8String made an INTEGER
    return der[:j - 2] + b"\x02" + der[j - 1:]


@pytest.mark.parametrize("how", ["version", "issuer"])
def test_a_malformed_rrn_certificate_is_forged_and_the_reader_thread_survives(ec_pki, how):
    bad = good_card(ec_pki)
    bad.files[(0xDF, 0x00, 0x50, 0x3C)] = corrupted(ec_pki.rrn_der, how)
    with pytest.raises(CardForged):
        verify_identity(bad.files[(0xDF, 0x01, 0x40, 0x31)], b"x" * 96, bad.files[(0xDF, 0x00, 0x50, 0x3C)],
                        [ec_pki.root], NOW)
    events = Events()
    reader = SimEidReader(events, roots=[ec_pki.root])
    reader.start()
    try:
        reader.insert(bad)
        reader.read()
        reader.insert(good_card(ec_pki))
        reader.read()
        assert reader.wait_idle()
        assert reader._thread.is_alive() and reader.ok
    finally:
        reader.stop()
    reads = [e for e in events.events if isinstance(e, CardRead)]
    assert [r.outcome for r in reads] == ["forged", "ok"]


def test_a_card_answering_61xx_without_data_forever_is_unreadable_quickly(ec_pki):
    class Endless:
        commands = 0

        def transmit(self, apdu):
            self.commands += 1
            if apdu[1] == 0xA4:
                return [], 0x90, 0x00
            return [], 0x61, 0x10

    card = Endless()
    started = time.monotonic()
    result = read_card(card.transmit, [ec_pki.root], NOW)
    assert result.outcome == "unreadable" and "GET RESPONSE brought no data" in result.detail
    assert time.monotonic() - started < 1 and card.commands < 10


def test_get_responses_count_against_the_file_budget(ec_pki):
    class Trickle:  # one byte per GET RESPONSE, forever
        def transmit(self, apdu):
            if apdu[1] == 0xA4:
                return [], 0x90, 0x00
            return [0x41], 0x61, 0x01

    result = read_card(Trickle().transmit, [ec_pki.root], NOW)
    assert result.outcome == "unreadable" and "no end after" in result.detail


def test_an_unexpected_error_in_reading_is_unreadable_not_raised(ec_pki, monkeypatch, caplog):
    import kioskd.drivers.eid_card as eid_card

    def broken(*args, **kwargs):
        raise KeyError(NUMBER)

    monkeypatch.setattr(eid_card, "verify_identity", broken)
    result = read_card(good_card(ec_pki).transmit, [ec_pki.root], NOW)
    assert (result.outcome, result.detail) == ("unreadable", "internal error (KeyError)")
    assert all(NUMBER not in r.getMessage() for r in caplog.records)


def test_a_reader_thread_whose_loop_fails_reports_down_and_comes_back(ec_pki, monkeypatch):
    import kioskd.drivers.eid_reader as eid_reader
    from kioskd.events import DeviceStatus

    real = eid_reader.read_card
    calls = []

    def fails_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("bug")
        return real(*args, **kwargs)

    monkeypatch.setattr(eid_reader, "read_card", fails_once)
    events = Events()
    reader = SimEidReader(events, roots=[ec_pki.root])
    reader.start()
    try:
        reader.insert(good_card(ec_pki))
        reader.read()
        deadline = time.monotonic() + 5
        while not any(isinstance(e, DeviceStatus) and e.ok for e in events.events) and time.monotonic() < deadline:
            time.sleep(0.02)
        reader.read()
        assert reader.wait_idle()
        assert reader._thread.is_alive() and reader.ok
    finally:
        reader.stop()
    statuses = [(e.ok, e.device) for e in events.events if isinstance(e, DeviceStatus)]
    assert statuses == [(False, "cards"), (True, "cards")]
    assert [e.outcome for e in events.events if isinstance(e, CardRead)] == ["ok"]


def test_a_loop_that_keeps_failing_stays_down_after_a_few_tries(ec_pki, monkeypatch):
    """A bug that fails every time costs CRASHES_TO_GIVE_UP restarts, not an alarm a second for ever."""
    import kioskd.drivers.eid_reader as eid_reader
    import kioskd.drivers.worker as worker
    from kioskd.events import DeviceStatus

    monkeypatch.setattr(worker, "CRASH_BACKOFF_MIN", 0.01)

    def always_fails(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(eid_reader, "read_card", always_fails)
    events = Events()
    reader = SimEidReader(events, roots=[ec_pki.root])
    reader.start()
    try:
        reader.insert(good_card(ec_pki))
        for _ in range(10):
            reader.read()
            time.sleep(0.05)
        reader._thread.join(5)
        assert not reader._thread.is_alive() and not reader.ok
        assert "failed repeatedly" in reader.status
    finally:
        reader.stop()
    downs = [e for e in events.events if isinstance(e, DeviceStatus) and not e.ok]
    ups = [e for e in events.events if isinstance(e, DeviceStatus) and e.ok]
    assert len(ups) <= worker.CRASHES_TO_GIVE_UP - 1 and len(downs) <= worker.CRASHES_TO_GIVE_UP
    assert "failed repeatedly" in downs[-1].detail
