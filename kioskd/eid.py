"""The Belgian eID's identity file and the national register number: parsing and matching, no card I/O.

The identity file (3F00/DF01/4031) is a sequence of TLV fields: a one-byte tag, a length, the value. A length
byte of 0xFF means "255 more, and the next byte continues the length" (the eID's own encoding, not BER). The
fields the kiosk uses: 0x06 national register number, 0x07 surname, 0x08 first names; the others are kept by
tag for the record. The PC/SC reading, the signature check (4032 against the national register certificate,
DF00/503C, ``kioskd.eid_verify``) and the APDUs (``kioskd.drivers.eid_card``) build on this module.

A national register number is 11 digits: birth date (YYMMDD), a serial (odd for men, even for women) and a
check number, 97 minus the first nine digits modulo 97 (with a 2 in front for people born from 2000 on).
It is personal data: it is matched against a reservation only as a keyed hash (``national_number_digest``)
and never stored, logged or shown in plain text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

from kioskd.secrets import keyed_hash

NATIONAL_NUMBER, SURNAME, FIRST_NAMES = 0x06, 0x07, 0x08
MAX_FILE = 4096  # the identity file is a few hundred bytes; anything longer is not one


class IdentityFileError(ValueError):
    """The bytes are not a well-formed identity file; ``str`` says where and why (never the content)."""


@dataclass(frozen=True)
class Identity:
    national_number: str
    surname: str
    first_names: str
    fields: dict[int, bytes] = field(default_factory=dict, repr=False)  # every field by tag, as read

    def __repr__(self) -> str:  # personal data stays out of logs and tracebacks
        return f"Identity(fields={sorted(self.fields)})"


def parse_tlv(data: bytes) -> dict[int, bytes]:
    """Every field of an eID TLV file by tag; a tag 0x00 (padding) ends the file. Raises IdentityFileError."""
    fields: dict[int, bytes] = {}
    for tag, start, end in _walk_tlv(data):
        if tag in fields:
            raise IdentityFileError(f"field 0x{tag:02X} appears twice")
        fields[tag] = bytes(data[start:end])
    return fields


def tlv_content_length(data: bytes) -> int:
    """How many bytes of ``data`` its TLV fields take: where the zero padding after the last field starts."""
    return max((end for _, _, end in _walk_tlv(data)), default=0)


def _walk_tlv(data: bytes) -> Iterator[tuple[int, int, int]]:
    """Each field's tag and where its value starts and ends; raises IdentityFileError on a malformed file."""
    if len(data) > MAX_FILE:
        raise IdentityFileError(f"{len(data)} bytes: longer than any identity file")
    i = 0
    while i < len(data):
        tag = data[i]
        if tag == 0x00:
            break
        i += 1
        length = 0
        while True:
            if i >= len(data):
                raise IdentityFileError(f"field 0x{tag:02X}: the file ends inside its length")
            byte = data[i]
            i += 1
            length += byte
            if byte != 0xFF:
                break
        if i + length > len(data):
            raise IdentityFileError(f"field 0x{tag:02X}: {length} bytes announced, {len(data) - i} left")
        yield tag, i, i + length
        i += length


def encode_tlv(fields: dict[int, bytes]) -> bytes:
    """The inverse of ``parse_tlv`` (for test cards and the card emulator)."""
    out = bytearray()
    for tag, value in fields.items():
        if not 1 <= tag <= 0xFE:
            raise ValueError(f"tag {tag} out of range")
        out.append(tag)
        length = len(value)
        while length >= 0xFF:
            out.append(0xFF)
            length -= 0xFF
        out.append(length)
        out += value
    return bytes(out)


def national_number_valid(number: str) -> bool:
    """11 digits whose check number fits the first nine (born before 2000, or from 2000 on)."""
    if len(number) != 11 or not number.isascii() or not number.isdigit():
        return False
    body, check = int(number[:9]), int(number[9:])
    return check in (97 - body % 97, 97 - (2_000_000_000 + body) % 97)


def parse_identity(data: bytes) -> Identity:
    """The identity file's fields the kiosk needs; a missing field or a malformed number is an error."""
    fields = parse_tlv(data)
    try:
        number = fields[NATIONAL_NUMBER].decode("ascii")
        surname = fields[SURNAME].decode("utf-8")
        first_names = fields.get(FIRST_NAMES, b"").decode("utf-8")
    except KeyError as missing:
        raise IdentityFileError(f"field 0x{missing.args[0]:02X} missing") from None
    except UnicodeDecodeError as exc:
        raise IdentityFileError(f"a name or number is not valid text ({exc.reason})") from None
    if not national_number_valid(number):
        raise IdentityFileError("the national register number is not a valid one")
    return Identity(number, surname, first_names, fields)


def national_number_digest(key: bytes, number: str) -> str:
    """The keyed hash a reservation's ``national_number`` is stored and matched as (never the number)."""
    return keyed_hash(key, "national_number", number)


VALIDITY_END = 0x04  # "DD.MM.YYYY", the last day the card may be used


def card_valid_on(identity: Identity, day: date) -> bool:
    """Whether the card's own validity end date (field 0x04) is ``day`` or later; a card whose date is missing
    or unreadable is not valid (the kiosk refuses what it cannot check)."""
    raw = identity.fields.get(VALIDITY_END)
    if raw is None:
        return False
    try:
        text = raw.decode("ascii")
        end = datetime.strptime(text, "%d.%m.%Y").date()
    except (UnicodeDecodeError, ValueError):
        return False
    return day <= end
