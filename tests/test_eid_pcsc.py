"""The eID reader through a real pcscd: a private pcscd, vsmartcard's virtual reader and an emulated card.

Skipped (with the reason) where that cannot run: not root, or pcscd / vsmartcard-vpcd / unshare missing.
vpcd's reader has no PIN pad (no FEATURE_VERIFY_PIN_DIRECT), so the PIN-pad flow and the chip authentication
after it are tested against the APDU double only (tests/test_eid_card.py).
"""

import pytest
from cryptography.hazmat.primitives import serialization
from pcsc_support import PrivatePcscd, ReaderChild, VirtualCard, unavailable_reason

from kioskd.eid_testcard import ForeignCard, TestPki, make_card

NUMBER = "85073003328"

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=f"private pcscd: {unavailable_reason()}")


@pytest.fixture(scope="module")
def pki():
    return TestPki.generate("ec")


@pytest.fixture(scope="module")
def pcscd(tmp_path_factory):
    daemon = PrivatePcscd(tmp_path_factory.mktemp("pcscd"))
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture(scope="module")
def roots_dir(tmp_path_factory, pki):
    directory = tmp_path_factory.mktemp("roots")
    (directory / "test-root.pem").write_bytes(pki.root.public_bytes(serialization.Encoding.PEM))
    return directory


@pytest.fixture
def reader(pcscd, roots_dir):
    child = ReaderChild(pcscd.client_env(), roots_dir)
    assert child.next() == {"event": "started"}
    yield child
    child.close()


def insert_and_read(reader, pcscd, card):
    vicc = VirtualCard(card, pcscd.port)
    try:
        assert reader.next()["event"] == "CardInserted"
        reader.send("read")
        result = reader.next()
    finally:
        vicc.remove()
    assert reader.next()["event"] == "CardRemoved"
    assert result["event"] == "CardRead"
    return result


def test_a_good_card_reads_ok_through_pcscd_with_insertion_and_removal(reader, pcscd, pki):
    result = insert_and_read(reader, pcscd, make_card(pki, NUMBER, "Peeters", "An Marie"))
    assert (result["outcome"], result["national_number"], result["surname"]) == ("ok", NUMBER, "Peeters")


@pytest.mark.parametrize("forge", ["tampered", "other_pki"])
def test_forged_cards_are_forged_through_pcscd(reader, pcscd, pki, forge):
    result = insert_and_read(reader, pcscd, make_card(pki, NUMBER, "Peeters", "An Marie", forge=forge))
    assert result["outcome"] == "forged" and "national_number" not in result


def test_without_a_pin_pad_a_clone_reads_ok_through_pcscd(reader, pcscd, pki):
    """The documented limitation (docs/identity.md, "What the eID proves"): no PIN pad, no chip authentication."""
    result = insert_and_read(reader, pcscd, make_card(pki, NUMBER, "Peeters", "An Marie", forge="clone"))
    assert result["outcome"] == "ok"


def test_a_card_that_is_not_an_eid_is_unreadable_through_pcscd(reader, pcscd):
    result = insert_and_read(reader, pcscd, ForeignCard())
    assert result["outcome"] == "unreadable" and "not a Belgian eID" in result["detail"]


def test_without_pcscd_start_says_the_service_is_not_available(tmp_path, roots_dir):
    env = {**PrivatePcscd(tmp_path).client_env(), "PCSCLITE_CSOCK_NAME": str(tmp_path / "nothing.comm")}
    child = ReaderChild(env, roots_dir)
    try:
        message = child.next(timeout=10)
    finally:
        child.close()
    assert message["event"] == "start_failed" and message["detail"].startswith("PC/SC service not available")
