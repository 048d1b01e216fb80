"""A Belgian eID in software: a test PKI that signs like the national register, and a card that answers APDUs.

The simulator, the demo and the tests need cards that the real reading and verification code accepts or
refuses for the right reasons, without a citizen's card and without the government's keys. ``TestPki`` makes
a throw-away root ("kioskd TEST ... not for production") and an RRN certificate it issues; ``make_card``
writes and signs an identity file the way the register does; ``EmulatedEidCard`` answers the very APDUs a
real card answers for them (and ``pin_pad_control`` plays a PIN-pad reader), so everything above the APDU
line runs unchanged. A test root is trusted only where a test or the simulator hands it over explicitly:
it is never in ``kioskd/data/eid_roots``.

Like applet 1.8 cards, EC cards keep their identity file in a zero-padded area and the signature covers the
content without the padding; RSA cards (applet 1.7) sign the file exactly as stored.

Chip authentication: the test root also issues a citizen CA, which issues each card's authentication
certificate (DF00/5038, subject serialNumber = the national register number) for a key made for that card and
held only by its ``EmulatedEidCard``. After a successful VERIFY the card answers MSE:SET and PSO: COMPUTE
DIGITAL SIGNATURE with that key (before it, ``69 82``), as ``kioskd.drivers.eid_card.authenticate_chip`` asks.
The forgeries ``clone`` (a genuine card's identity files and RRN certificate, with the forger's own key and an
authentication certificate from the forger's own CA) and ``clone_replay`` (the genuine card's certificates too,
but a key that is not theirs) are what chip authentication exists to refuse.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature
from cryptography.x509.oid import NameOID
from smartcard.Exceptions import CardConnectionException, SmartcardException

from kioskd.drivers.eid_card import (
    ALGORITHM_ECDSA_SHA384,
    ALGORITHM_RSA_PKCS1,
    AUTHENTICATION_CERTIFICATE_FILE,
    AUTHENTICATION_KEY,
    CITIZEN_CA_CERTIFICATE_FILE,
    CM_IOCTL_GET_FEATURE_REQUEST,
    FEATURE_VERIFY_PIN_DIRECT,
    IDENTITY_FILE,
    IDENTITY_SIGNATURE_FILE,
    MSE_SET_SIGNATURE,
    PSO_COMPUTE_SIGNATURE,
    RRN_CERTIFICATE_FILE,
    SHA256_DIGEST_INFO,
    scard_ctl_code,
)
from kioskd.eid import encode_tlv

EID_ATR = (0x3B, 0x98, 0x13, 0x40, 0x0A, 0xA5, 0x03, 0x01, 0x01, 0x01, 0xAD, 0x13, 0x11)
"""The ATR of a Belgian eID (applet 1.7 and later)."""
IOCTL_FEATURE_VERIFY_PIN_DIRECT = scard_ctl_code(0x330000 + FEATURE_VERIFY_PIN_DIRECT)  # as the CCID driver
TEST_ROOT_NAME = "kioskd TEST Belgium Root CA - not for production"
PIN_TRIES = 3
IDENTITY_AREA = 1024  # an applet 1.8 card's identity file area (the file is zero-padded to it)
FORGERIES = ("tampered", "other_pki", "no_signature", "clone", "clone_replay")
ALGORITHM_RSA_SHA256 = 0x08  # applet 1.7: the card adds the SHA-256 DigestInfo to the hash it is given


def _name(common_name: str, organisation: str | None = None, serial_number: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "BE")]
    if organisation:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    if serial_number:
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial_number))
    return x509.Name(attributes)


def _new_key(kind: str) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    if kind == "ec":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown key kind {kind!r}, expected 'ec' or 'rsa'")


@dataclass(frozen=True)
class TestPki:
    """A test root, the national register ("RRN") certificate and the citizen CA it issued, with their keys."""

    __test__ = False  # not a pytest test class

    kind: str
    root: x509.Certificate
    root_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = field(repr=False)
    rrn: x509.Certificate
    rrn_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = field(repr=False)
    citizen_ca: x509.Certificate
    citizen_ca_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = field(repr=False)

    @classmethod
    def generate(cls, kind: str = "ec", *, rrn_valid_from: datetime | None = None,
                 rrn_valid_until: datetime | None = None) -> TestPki:
        """EC P-384 (an applet 1.8 card, the default, fast) or RSA 2048 (applet 1.7). The RRN certificate is
        valid from a year ago for ten years unless told otherwise."""
        now = datetime.now(UTC)
        root_key, rrn_key = _new_key(kind), _new_key(kind)
        digest = hashes.SHA384() if kind == "ec" else hashes.SHA256()
        root_name = _name(TEST_ROOT_NAME)
        root_id = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
        root = (
            x509.CertificateBuilder()
            .subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=3650)).not_valid_after(now + timedelta(days=7300))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(root_id, critical=False)
            .sign(root_key, digest)
        )
        rrn = (
            x509.CertificateBuilder()
            .subject_name(_name("RRN", "RRN")).issuer_name(root_name)
            .public_key(rrn_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(rrn_valid_from or now - timedelta(days=365))
            .not_valid_after(rrn_valid_until or now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_id), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(rrn_key.public_key()), critical=False)
            .add_extension(x509.CertificatePolicies([x509.PolicyInformation(
                x509.ObjectIdentifier("2.16.56.12.1.1.2.1"),  # the eID's policy arc (test use only)
                ["http://repository.eid.belgium.be"])]), critical=False)
            .sign(root_key, digest)
        )
        ca_key = _new_key(kind)
        ca_id = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
        citizen_ca = (
            x509.CertificateBuilder()
            .subject_name(_name("kioskd TEST Citizen CA - not for production", serial_number="201801"))
            .issuer_name(root_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=365)).not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_id), critical=False)
            .add_extension(ca_id, critical=False)
            .sign(root_key, digest)
        )
        return cls(kind, root, root_key, rrn, rrn_key, citizen_ca, ca_key)

    @property
    def citizen_ca_der(self) -> bytes:
        return self.citizen_ca.public_bytes(serialization.Encoding.DER)

    def issue_authentication(self, national_number: str, surname: str, first_names: str,
                             public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> bytes:
        """A card's authentication certificate (DER) as the citizen CA issues it: subject serialNumber is the
        national register number, key usage digitalSignature, no basicConstraints (as on real cards)."""
        now = datetime.now(UTC)
        subject = x509.Name([
            x509.NameAttribute(NameOID.COUNTRY_NAME, "BE"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{(first_names.split() or [''])[0]} {surname} (Authentication)"),
            x509.NameAttribute(NameOID.SURNAME, surname or "-"),
            x509.NameAttribute(NameOID.GIVEN_NAME, first_names or "-"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, national_number),
        ])
        digest = hashes.SHA384() if self.kind == "ec" else hashes.SHA256()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(self.citizen_ca.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=30)).not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.citizen_ca_key.public_key()), critical=False)
            .sign(self.citizen_ca_key, digest)
        )
        return certificate.public_bytes(serialization.Encoding.DER)

    @property
    def rrn_der(self) -> bytes:
        return self.rrn.public_bytes(serialization.Encoding.DER)

    def sign(self, data: bytes) -> bytes:
        """The register's signature over ``data``: raw r||s (96 bytes) for EC, PKCS#1 v1.5 SHA-256 for RSA."""
        if isinstance(self.rrn_key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(self.rrn_key.sign(data, ec.ECDSA(hashes.SHA384())))
            return r.to_bytes(48, "big") + s.to_bytes(48, "big")
        return self.rrn_key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _birth_date(national_number: str) -> str:
    months = ("JAN", "FEB", "MAAR", "APR", "MEI", "JUN", "JUL", "AUG", "SEP", "OKT", "NOV", "DEC")
    year, month, day = int(national_number[0:2]), int(national_number[2:4]), int(national_number[4:6])
    century = 2000 if year < 25 else 1900
    return f"{day:02d} {months[max(1, min(month, 12)) - 1]:<4} {century + year}"


def identity_fields(national_number: str, surname: str, first_names: str, *, validity_begin: str = "01.02.2024",
                    validity_end: str = "01.02.2034") -> dict[int, bytes]:
    """The fields of a real card's identity file, in the card's order and formats."""
    gender = "M" if int(national_number[6:9] or "1") % 2 else "V"
    return {
        0x01: b"592" + national_number[-9:].encode("ascii"),  # card number
        0x02: bytes.fromhex("534C494E336600296CFF2623660B0826"),  # chip number
        0x03: validity_begin.encode("ascii"),
        0x04: validity_end.encode("ascii"),
        0x05: b"Aalter",  # delivering municipality
        0x06: national_number.encode("ascii"),
        0x07: surname.encode(),
        0x08: first_names.encode(),
        0x09: b"",  # third first name's initial
        0x0A: b"Belg",
        0x0B: b"Gent",  # birth place
        0x0C: _birth_date(national_number).encode("ascii"),
        0x0D: gender.encode("ascii"),
        0x0E: b"",  # noble condition
        0x0F: b"1",  # document type: identity card
        0x10: b"0",  # special status
        0x11: bytes(48),  # hash of the photo (SHA-384 on applet 1.8)
    }


def make_card(pki: TestPki, national_number: str, surname: str, first_names: str, *,
              validity_end: str = "01.02.2034", validity_begin: str = "01.02.2024", forge: str | None = None,
              pin: str | None = "1234", tries: int = PIN_TRIES) -> EmulatedEidCard:
    """A card for the person named, signed by ``pki``'s register; ``forge`` makes one of ``FORGERIES``."""
    if forge is not None and forge not in FORGERIES:
        raise ValueError(f"unknown forgery {forge!r}, expected one of {', '.join(FORGERIES)}")
    content = encode_tlv(identity_fields(national_number, surname, first_names, validity_begin=validity_begin,
                                         validity_end=validity_end))
    signer = TestPki.generate(pki.kind) if forge == "other_pki" else pki
    signature = signer.sign(content)
    if forge == "tampered":  # the name changed after the register signed
        altered = identity_fields(national_number, surname[::-1] if len(surname) > 1 else "X", first_names,
                                  validity_begin=validity_begin, validity_end=validity_end)
        content = encode_tlv(altered)
    if forge == "no_signature":
        signature = b""
    stored = content + bytes(max(0, IDENTITY_AREA - len(content))) if pki.kind == "ec" else content
    card_key = _new_key(pki.kind)  # made for this card, held only by it
    if forge == "clone":  # the forger's own key, certified by the forger's own "citizen CA" with the same names
        forger = TestPki.generate(pki.kind)
        authentication = forger.issue_authentication(national_number, surname, first_names, card_key.public_key())
        citizen_ca = forger.citizen_ca_der
    else:
        genuine_key = _new_key(pki.kind) if forge == "clone_replay" else card_key  # replay: a key not its own
        authentication = pki.issue_authentication(national_number, surname, first_names, genuine_key.public_key())
        citizen_ca = pki.citizen_ca_der
    return EmulatedEidCard(stored, signature, signer.rrn_der, pin=pin, tries=tries,
                           authentication_cert_der=authentication, citizen_ca_der=citizen_ca,
                           authentication_key=card_key)


class EmulatedEidCard:
    """A Belgian eID's answers to the APDUs the kiosk sends, plus a PIN-pad reader it sits in.

    ``transmit`` has pyscard's ``CardConnection.transmit`` signature. ``pin_pad_entry`` is what the citizen
    will type on the pad (digits, or "cancel" / "timeout"). ``commands`` records every APDU received;
    ``pull_after(n)`` makes the card vanish after ``n`` more APDUs (``CardConnectionException``).
    ``answer_with_get_response`` makes READ BINARY answer ``61 xx`` so the data comes by GET RESPONSE.
    With ``authentication_key`` (and the certificates 5038/503A) the card signs challenges after a successful
    VERIFY: MSE:SET ``00 22 41 B6`` then PSO:CDS ``00 2A 9E 9A``, the signature coming by GET RESPONSE.
    """

    atr = list(EID_ATR)

    def __init__(self, identity_file: bytes, signature: bytes, rrn_cert_der: bytes, pin: str | None = "1234",
                 tries: int = PIN_TRIES, *, authentication_cert_der: bytes | None = None,
                 citizen_ca_der: bytes | None = None,
                 authentication_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None) -> None:
        self.files: dict[tuple[int, ...], bytes] = {
            IDENTITY_FILE: bytes(identity_file),
            IDENTITY_SIGNATURE_FILE: bytes(signature),
            RRN_CERTIFICATE_FILE: bytes(rrn_cert_der),
        }
        if authentication_cert_der is not None:
            self.files[AUTHENTICATION_CERTIFICATE_FILE] = bytes(authentication_cert_der)
        if citizen_ca_der is not None:
            self.files[CITIZEN_CA_CERTIFICATE_FILE] = bytes(citizen_ca_der)
        self._key = authentication_key  # never leaves the card: only signatures do
        self._pin_verified = False
        self._environment: int | None = None  # the algorithm MSE:SET chose
        self.pin = pin
        self.tries_left = tries
        self.pin_pad_entry: str | None = None
        self.answer_with_get_response = False
        self.commands: list[list[int]] = []
        self._selected: tuple[int, ...] | None = None
        self._pending: bytes = b""
        self._apdus_until_pulled: int | None = None
        self._lock = threading.Lock()  # a reader thread and a test may both talk to the card

    def pull_after(self, apdus: int) -> None:
        self._apdus_until_pulled = apdus

    def reset(self) -> None:
        """Power cycle: the selection and the verified PIN are forgotten (the counter is not)."""
        self._selected, self._pending = None, b""
        self._pin_verified, self._environment = False, None

    def transmit(self, apdu: Sequence[int]) -> tuple[list[int], int, int]:
        with self._lock:
            if self._apdus_until_pulled is not None:
                if self._apdus_until_pulled <= 0:
                    raise CardConnectionException("card removed")
                self._apdus_until_pulled -= 1
            command = list(apdu)
            self.commands.append(command)
            data, status = self._answer(command)
            return list(data), status >> 8, status & 0xFF

    def _answer(self, apdu: list[int]) -> tuple[bytes, int]:
        if len(apdu) < 4:
            return b"", 0x6700
        cla, ins, p1, p2 = apdu[:4]
        body = apdu[5:5 + apdu[4]] if len(apdu) > 5 else []
        if cla != 0x00:
            return b"", 0x6E00
        if ins == 0xA4:
            return self._select(p1, p2, apdu, body)
        if ins == 0xB0:
            return self._read_binary(p1, p2, apdu[4] if len(apdu) == 5 else 0)
        if ins == 0xC0:
            return self._get_response(apdu[4] if len(apdu) == 5 else 0)
        if ins == 0x20:
            return self._verify(p2, body)
        if ins == 0x22:
            return self._manage_security_environment(p1, p2, body)
        if ins == 0x2A:
            return self._compute_signature(p1, p2, body)
        return b"", 0x6D00

    def _select(self, p1: int, p2: int, apdu: list[int], body: list[int]) -> tuple[bytes, int]:
        if len(apdu) < 5 or len(body) != apdu[4] or p2 not in (0x00, 0x0C):
            return b"", 0x6700 if len(apdu) < 5 or len(body) != apdu[4] else 0x6A86
        path = tuple(body)
        if p1 == 0x08:  # path from the MF, without 3F00
            target = path
        elif p1 in (0x00, 0x02) and len(path) == 2:  # a file id in the current DF
            target = (self._selected[:-2] if self._selected else ()) + path
        else:
            return b"", 0x6A86
        if target == (0x3F, 0x00) or any(f[:len(target)] == target and len(target) < len(f) for f in self.files):
            self._selected = None  # a DF: nothing to read
            return b"", 0x9000
        if target not in self.files:
            return b"", 0x6A82
        self._selected = target
        return b"", 0x9000

    def _read_binary(self, p1: int, p2: int, le: int) -> tuple[bytes, int]:
        if self._selected is None:
            return b"", 0x6986
        if p1 & 0x80:
            return b"", 0x6A86
        content = self.files[self._selected]
        offset, wanted = (p1 << 8) | p2, le or 256
        if offset >= len(content):
            return b"", 0x6B00
        remaining = len(content) - offset
        if wanted > remaining:
            return b"", 0x6C00 | min(remaining, 0xFF)
        chunk = content[offset:offset + wanted]
        if self.answer_with_get_response:
            self._pending = chunk
            return b"", 0x6100 | (len(chunk) & 0xFF)
        return chunk, 0x9000

    def _get_response(self, le: int) -> tuple[bytes, int]:
        if not self._pending:
            return b"", 0x6985
        wanted = le or 256
        chunk, self._pending = self._pending[:wanted], self._pending[wanted:]
        return chunk, (0x6100 | min(len(self._pending), 0xFF)) if self._pending else 0x9000

    def _verify(self, p2: int, body: list[int]) -> tuple[bytes, int]:
        if p2 != 0x01 or self.pin is None:
            return b"", 0x6A88
        if self.tries_left <= 0:
            return b"", 0x6983
        typed = _pin_from_block(body)
        if typed is None:
            return b"", 0x6A80
        if typed == self.pin:
            self.tries_left = PIN_TRIES
            self._pin_verified = True
            return b"", 0x9000
        self._pin_verified = False
        self.tries_left -= 1
        return b"", 0x6983 if self.tries_left == 0 else 0x63C0 | self.tries_left

    def _manage_security_environment(self, p1: int, p2: int, body: list[int]) -> tuple[bytes, int]:
        if (p1, p2) != MSE_SET_SIGNATURE:
            return b"", 0x6A86
        if not self._pin_verified:
            return b"", 0x6982
        if len(body) != 5 or body[0:2] != [0x04, 0x80] or body[3] != 0x84:
            return b"", 0x6A80
        algorithm, key_reference = body[2], body[4]
        if self._key is None or key_reference != AUTHENTICATION_KEY:
            return b"", 0x6A88
        allowed = ((ALGORITHM_ECDSA_SHA384,) if isinstance(self._key, ec.EllipticCurvePrivateKey)
                   else (ALGORITHM_RSA_PKCS1, ALGORITHM_RSA_SHA256))
        if algorithm not in allowed:
            return b"", 0x6A80
        self._environment = algorithm
        return b"", 0x9000

    def _compute_signature(self, p1: int, p2: int, body: list[int]) -> tuple[bytes, int]:
        if (p1, p2) != PSO_COMPUTE_SIGNATURE:
            return b"", 0x6A86
        if not self._pin_verified:
            return b"", 0x6982
        if self._environment is None or self._key is None:
            return b"", 0x6985
        data = bytes(body)
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            if len(data) != 48:
                return b"", 0x6A80
            r, s = decode_dss_signature(self._key.sign(data, ec.ECDSA(Prehashed(hashes.SHA384()))))
            size = (self._key.curve.key_size + 7) // 8
            signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
        else:
            if self._environment == ALGORITHM_RSA_PKCS1:
                if len(data) != len(SHA256_DIGEST_INFO) + 32 or not data.startswith(SHA256_DIGEST_INFO):
                    return b"", 0x6A80  # this emulator knows the SHA-256 DigestInfo only
                data = data[len(SHA256_DIGEST_INFO):]
            elif len(data) != 32:
                return b"", 0x6A80
            signature = self._key.sign(data, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        self._pending = signature  # like the T=0 card: 61 xx, then GET RESPONSE
        return b"", 0x6100 | (len(signature) & 0xFF)

    # ---- the PIN-pad reader around the card ---------------------------------------------------------

    def pin_pad_control(self, ioctl: int, data: Sequence[int]) -> list[int]:
        """SCardControl of a PIN-pad reader: its feature list, and VERIFY_PIN_DIRECT with ``pin_pad_entry``."""
        if ioctl == CM_IOCTL_GET_FEATURE_REQUEST:
            return [FEATURE_VERIFY_PIN_DIRECT, 4, *IOCTL_FEATURE_VERIFY_PIN_DIRECT.to_bytes(4, "big")]
        if ioctl != IOCTL_FEATURE_VERIFY_PIN_DIRECT:
            raise SmartcardException(f"control code 0x{ioctl:08X} not supported")
        structure = list(data)
        if len(structure) < 19 or structure[2:5] != [0x89, 0x47, 0x04]:
            return [0x6B, 0x80]
        minimum, maximum = structure[6], structure[5]
        apdu = structure[19:19 + structure[15]]
        entry = self.pin_pad_entry
        if entry is None or entry == "timeout":
            return [0x64, 0x00]
        if entry == "cancel":
            return [0x64, 0x01]
        if not (entry.isdigit() and minimum <= len(entry) <= maximum) or len(apdu) != 13:
            return [0x64, 0x03]
        digits = entry + "F" * (14 - len(entry))
        block = [0x20 | len(entry)] + list(bytes.fromhex(digits))
        response, sw1, sw2 = self.transmit(apdu[:5] + block)
        return [*response, sw1, sw2]


def _pin_from_block(block: list[int]) -> str | None:
    """The digits of a format-2 PIN block (``2L`` then BCD, padded with F), or None if it is not one."""
    if len(block) != 8 or block[0] >> 4 != 0x2:
        return None
    length = block[0] & 0x0F
    nibbles = "".join(f"{byte:02X}" for byte in block[1:])
    digits, padding_ = nibbles[:length], nibbles[length:]
    if not 4 <= length <= 12 or not digits.isdigit() or set(padding_) != {"F"}:
        return None
    return digits


class ForeignCard:
    """A smart card that is not an eID (a bank or health card): every command is answered 6A82 (not found)."""

    atr = [  # a contactless storage card's ATR (PC/SC part 3 format): anything but the eID's
        0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06, 0x03, 0x00, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x6A]

    def __init__(self) -> None:
        self.commands: list[list[int]] = []

    def transmit(self, apdu: Sequence[int]) -> tuple[list[int], int, int]:
        self.commands.append(list(apdu))
        return [], 0x6A, 0x82

    def pin_pad_control(self, ioctl: int, data: Sequence[int]) -> list[int]:
        if ioctl == CM_IOCTL_GET_FEATURE_REQUEST:
            return [FEATURE_VERIFY_PIN_DIRECT, 4, *IOCTL_FEATURE_VERIFY_PIN_DIRECT.to_bytes(4, "big")]
        return [0x6A, 0x82]
