"""The Belgian eID's identity file (TLV) and national register numbers: parsing and matching, no card I/O."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kioskd.eid import (
    FIRST_NAMES,
    NATIONAL_NUMBER,
    SURNAME,
    IdentityFileError,
    encode_tlv,
    national_number_digest,
    national_number_valid,
    parse_identity,
    parse_tlv,
)

KEY = b"k" * 32


def identity_file(number="85073003328", surname="Peeters", first_names="An Marie", **extra):
    fields = {0x01: b"592123456789", NATIONAL_NUMBER: number.encode(), SURNAME: surname.encode(),
              FIRST_NAMES: first_names.encode(), **extra}
    return encode_tlv(fields) + b"\x00" * 16  # the file is padded with zeros


def test_the_fields_the_kiosk_needs_are_read():
    identity = parse_identity(identity_file(surname="Van den Bossche-Lefèvre"))
    assert (identity.national_number, identity.surname, identity.first_names) == (
        "85073003328", "Van den Bossche-Lefèvre", "An Marie")
    assert "85073003328" not in repr(identity) and "Peeters" not in repr(identity)  # not in logs or tracebacks


def test_long_fields_use_the_continuation_length():
    long_value = b"x" * 600  # 0xFF 0xFF 0x5A: 255 + 255 + 90
    fields = parse_tlv(encode_tlv({0x11: long_value, SURNAME: b"Claes"}))
    assert fields[0x11] == long_value and fields[SURNAME] == b"Claes"


@pytest.mark.parametrize("number, valid", [
    ("85073003328", True),  # the example
    ("85073003329", False),  # wrong check number
    ("85073003300", False),
    ("8507300332", False), ("850730033288", False), ("8507300332a", False), ("８５０７３００３３２８", False),
])
def test_national_register_numbers_are_checked(number, valid):
    assert national_number_valid(number) is valid


def test_born_from_2000_on_the_check_uses_a_leading_2():
    body = "010203123"
    check = 97 - int("2" + body) % 97
    assert national_number_valid(f"{body}{check:02d}")
    assert not national_number_valid(f"{body}{(check + 1) % 97:02d}")


@pytest.mark.parametrize("data, problem", [
    (bytes([SURNAME]), "ends inside its length"),
    (bytes([SURNAME, 10]) + b"abc", "10 bytes announced"),
    (encode_tlv({SURNAME: b"a"}) + encode_tlv({SURNAME: b"b"}), "appears twice"),
    (b"\x07" + b"\xff" * 5000, "longer than any identity file"),
])
def test_malformed_files_are_refused_precisely(data, problem):
    with pytest.raises(IdentityFileError, match=problem):
        parse_tlv(data)


def test_missing_or_forged_fields_are_refused_without_echoing_them():
    with pytest.raises(IdentityFileError, match="0x06 missing"):
        parse_identity(encode_tlv({SURNAME: b"Peeters"}))
    with pytest.raises(IdentityFileError, match="not a valid one") as refused:
        parse_identity(identity_file(number="85073003329"))
    assert "85073003329" not in str(refused.value)
    with pytest.raises(IdentityFileError, match="not valid text"):
        parse_identity(encode_tlv({NATIONAL_NUMBER: b"85073003328", SURNAME: b"\xff\xfe"}))


@given(st.binary(max_size=600))
def test_any_bytes_parse_or_are_refused_never_crash(data):
    try:
        parse_identity(data)
    except IdentityFileError:
        pass


@given(st.dictionaries(st.integers(1, 0xFE), st.binary(max_size=700), max_size=6))
def test_encoding_round_trips(fields):
    assert parse_tlv(encode_tlv(fields)) == fields


def test_the_digest_is_keyed_and_domain_separated():
    digest = national_number_digest(KEY, "85073003328")
    assert digest == national_number_digest(KEY, "85073003328") != national_number_digest(b"j" * 32, "85073003328")
    assert "85073003328" not in digest
    from kioskd.secrets import keyed_hash

    assert digest != keyed_hash(KEY, "pin", "85073003328")  # never equal to a PIN's digest of the same digits
