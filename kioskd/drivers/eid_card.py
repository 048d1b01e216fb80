"""The Belgian eID's APDUs: select, read, PIN-pad verify, and the one call the reader drivers make.

Pure protocol code over a ``transmit(apdu) -> (data, sw1, sw2)`` callable, which is exactly pyscard's
``CardConnection.transmit``; the PC/SC driver, the simulator's emulated card and the tests all run it, so
the kiosk has one reading path however the card is reached. What a real eID does, as the official
middleware drives it:

- files are selected by path from the MF, without response data: ``00 A4 08 0C Lc <path without 3F00>``
  (``DF01 4031`` identity, ``DF01 4032`` its signature, ``DF00 503C`` the national register certificate);
- READ BINARY ``00 B0 <offset> Le`` in chunks of 0xF8 bytes; a chunk that would run past the end is answered
  ``6C xx`` (re-issued with ``Le = xx``), reading at the end ``6B 00``; ``62 82`` (end reached early) and
  ``61 xx`` (GET RESPONSE ``00 C0 00 00 xx``) are handled too, as other cards and readers use them;
- PIN 1 is verified with ``00 20 00 01 08`` and a format-2 PIN block (``2L`` then BCD digits padded with F):
  ``63 Cx`` wrong with x tries left, ``69 83`` blocked;
- every ``61 xx`` is followed by GET RESPONSE, and every command counts against a per-file budget, so a card that
  keeps answering without progress (``61 10`` with no data, forever) ends as unreadable, not as a hung thread.

PIN entry happens only on a PIN-pad reader (the PIN never passes through the kiosk's memory): PC/SC part 10,
``CM_IOCTL_GET_FEATURE_REQUEST`` lists the reader's features, FEATURE_VERIFY_PIN_DIRECT (tag 0x06) gives the
control code that takes a PIN_VERIFY_STRUCTURE wrapping the VERIFY APDU. The reader answers ``64 00`` on
timeout and ``64 01`` when the citizen cancels. VERIFY is sent once per ``read_card`` call and never retried:
three wrong PINs block the card. A reader without the feature cannot verify a PIN, and says so.

Chip authentication (PIN-pad readers only). The identity file, its signature and the RRN certificate are
readable without a PIN, so a programmable card replaying a genuine card's public files passes the register's
signature check. With ``verify_pin`` the kiosk therefore also makes the chip sign a fresh 32-byte random
challenge with its authentication key (key reference 0x82), whose private half never leaves a genuine chip, and
checks it against the authentication certificate (DF00/5038), its citizen CA (DF00/503A) and the trusted roots,
and that the certificate's subject serialNumber is the identity file's national register number
(``kioskd.eid_verify``). The APDUs are the official middleware's (eid-mw, cardlayer ``CCard::SetSecurityEnv``
and ``SignInternal``), kept in ``chip_signature_request`` and ``authenticate_chip``:

- ``00 A4 08 0C 02 DF 00``: select the BELPIC DF, as the middleware does before MSE:SET;
- MSE:SET ``00 22 41 B6 05 04 80 <algorithm> 84 82``: algorithm 0x01 (RSA PKCS#1 v1.5 over the DigestInfo the
  card is given) on RSA cards, 0x02 (ECDSA with SHA-384 over the hash it is given) on applet 1.8 EC cards;
- PSO: COMPUTE DIGITAL SIGNATURE ``00 2A 9E 9A Lc <data>``, without Le as the middleware sends it; data is the
  SHA-256 DigestInfo of the challenge (RSA) or its SHA-384 hash (EC); the answer (raw r||s on EC cards) comes
  directly or by ``61 xx`` / GET RESPONSE.

Without a PIN pad nothing proves the chip genuine: applet 1.7 cards use their authentication key only after the
PIN (docs/identity.md, "What the eID proves"). A failed chip authentication is ``forged``; a lost card during it
is ``unreadable``.

``read_card`` never raises; it answers with a ``CardRead`` (an unexpected error is logged by type only and
answered ``unreadable``). It does not check the card's expiry or whom it belongs to: the kiosk's runner does,
with the identity it returns.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from smartcard.Exceptions import SmartcardException

from kioskd.eid import MAX_FILE, IdentityFileError, parse_identity
from kioskd.eid_verify import (
    CardForged,
    verify_authentication_certificate,
    verify_challenge_signature,
    verify_identity,
)
from kioskd.events import CardRead

log = logging.getLogger(__name__)

Transmit = Callable[[list[int]], tuple[list[int], int, int]]
Control = Callable[[int, list[int]], list[int]]

IDENTITY_FILE = (0xDF, 0x01, 0x40, 0x31)
IDENTITY_SIGNATURE_FILE = (0xDF, 0x01, 0x40, 0x32)
RRN_CERTIFICATE_FILE = (0xDF, 0x00, 0x50, 0x3C)
AUTHENTICATION_CERTIFICATE_FILE = (0xDF, 0x00, 0x50, 0x38)
CITIZEN_CA_CERTIFICATE_FILE = (0xDF, 0x00, 0x50, 0x3A)
BELPIC_DF = (0xDF, 0x00)
SIGNATURE_MAX = 512  # RSA-4096 is 512 bytes; a P-384 signature 96 (raw) or about 104 (DER)
CERTIFICATE_MAX = 8192  # an RRN certificate is 1-2 KB
READ_CHUNK = 0xF8
MAX_APDUS_PER_FILE = 256  # READ BINARY and GET RESPONSE commands per file: bounds a card that makes no progress
MAX_GET_RESPONSES = 8  # per chip signature (a signature is at most 512 bytes)

PIN_REFERENCE = 0x01
PIN_MIN_DIGITS, PIN_MAX_DIGITS = 4, 12
PIN_TIMEOUT_SECONDS = 30

CLA, INS_SELECT, INS_READ_BINARY, INS_GET_RESPONSE, INS_VERIFY = 0x00, 0xA4, 0xB0, 0xC0, 0x20
INS_MSE, INS_PSO = 0x22, 0x2A

# Chip authentication: the middleware's encoding (see the module docstring), in this one place.
AUTHENTICATION_KEY = 0x82  # 0x83 is the non-repudiation (signature) key, never used by the kiosk
MSE_SET_SIGNATURE = (0x41, 0xB6)  # MSE:SET for computation, the digital signature template
PSO_COMPUTE_SIGNATURE = (0x9E, 0x9A)
ALGORITHM_RSA_PKCS1 = 0x01  # RSA cards: the card pads and signs the DigestInfo it is given
ALGORITHM_ECDSA_SHA384 = 0x02  # applet 1.8 cards: ECDSA over the SHA-384 hash it is given, answer r||s
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
CHALLENGE_BYTES = 32
SW_OK = (0x90, 0x00)
SW_FILE_NOT_FOUND = (0x6A, 0x82)
SW_END_OF_FILE = (0x6B, 0x00)
SW_END_REACHED_EARLY = (0x62, 0x82)
SW_PIN_BLOCKED = (0x69, 0x83)
SW_PIN_TIMEOUT = (0x64, 0x00)
SW_PIN_CANCELLED = (0x64, 0x01)
SW_PIN_LENGTH = (0x64, 0x03)
SW_SECURITY_STATUS = (0x69, 0x82)

FEATURE_VERIFY_PIN_DIRECT = 0x06


def scard_ctl_code(code: int) -> int:
    """pcsc-lite's SCARD_CTL_CODE (kioskd runs on Linux; Windows numbers control codes differently)."""
    return 0x42000000 + code


CM_IOCTL_GET_FEATURE_REQUEST = scard_ctl_code(3400)


class CardUnreadable(Exception):
    """The card or reader did not give what an eID gives; ``str`` says what, never whose."""


class CardConnectionLost(CardUnreadable):
    """The card went away or the reader garbled the exchange: nothing the card's content can be blamed for."""


def file_name(path: Sequence[int]) -> str:
    return "/".join(f"{path[i]:02X}{path[i + 1]:02X}" for i in range(0, len(path), 2))


def _exchange(transmit: Transmit, apdu: list[int]) -> tuple[list[int], int, int]:
    """One APDU; a lost card, a reader error or a malformed answer becomes CardUnreadable."""
    try:
        data, sw1, sw2 = transmit(apdu)
    except SmartcardException as exc:
        raise CardConnectionLost(f"card connection lost ({type(exc).__name__})") from None
    except (TypeError, ValueError):
        raise CardConnectionLost("reader returned a malformed response") from None
    if not (isinstance(sw1, int) and isinstance(sw2, int) and 0 <= sw1 <= 0xFF and 0 <= sw2 <= 0xFF):
        raise CardConnectionLost("reader returned a malformed status word")
    try:
        payload = bytes(data)
    except (TypeError, ValueError):
        raise CardConnectionLost("reader returned malformed response data") from None
    return list(payload), sw1, sw2


def select_file(transmit: Transmit, path: Sequence[int]) -> None:
    """Select an elementary file by its path from the MF (P1=08), asking for no response data (P2=0C)."""
    _, sw1, sw2 = _exchange(transmit, [CLA, INS_SELECT, 0x08, 0x0C, len(path), *path])
    if (sw1, sw2) == SW_FILE_NOT_FOUND:
        raise CardUnreadable(f"file {file_name(path)} not found: not a Belgian eID")
    if (sw1, sw2) != SW_OK:
        raise CardUnreadable(f"selecting {file_name(path)} answered {sw1:02X}{sw2:02X}")


def _get_responses(transmit: Transmit, data: list[int], sw1: int, sw2: int, budget: list[int], limit: int,
                   what: str) -> tuple[list[int], int, int]:
    """While the card answers ``61 xx``, fetch the rest with GET RESPONSE. Each command spends one of
    ``budget[0]``; a GET RESPONSE that brings no data yet says ``61`` again, or more than ``limit`` bytes, ends
    it as CardUnreadable."""
    while sw1 == 0x61:
        if budget[0] <= 0:
            raise CardUnreadable(f"{what}: no end after {MAX_APDUS_PER_FILE} commands")
        budget[0] -= 1
        more, sw1, sw2 = _exchange(transmit, [CLA, INS_GET_RESPONSE, 0x00, 0x00, sw2])
        if not more and sw1 == 0x61:
            raise CardUnreadable(f"{what}: GET RESPONSE brought no data")
        data = data + more
        if len(data) > limit:
            raise CardUnreadable(f"{what}: longer than {limit} bytes")
    return data, sw1, sw2


def read_binary(transmit: Transmit, limit: int, name: str = "file") -> bytes:
    """The whole selected file, read in chunks until the card says it ended; longer than ``limit`` is an error.
    READ BINARY and GET RESPONSE commands together are bounded by ``MAX_APDUS_PER_FILE``."""
    content = bytearray()
    length = READ_CHUNK
    budget = [MAX_APDUS_PER_FILE]
    while True:
        if budget[0] <= 0:
            raise CardUnreadable(f"reading {name}: no end after {MAX_APDUS_PER_FILE} commands")
        offset = len(content)
        if offset > 0x7FFF:
            break
        budget[0] -= 1
        data, sw1, sw2 = _exchange(transmit, [CLA, INS_READ_BINARY, offset >> 8, offset & 0xFF, length])
        data, sw1, sw2 = _get_responses(transmit, data, sw1, sw2, budget, limit - offset, f"reading {name}")
        if sw1 == 0x6C:  # wrong length: the card says how many bytes are left
            if sw2 == 0 or sw2 == length:
                raise CardUnreadable(f"reading {name}: card insists on a length of {sw2}")
            length = sw2
            continue
        if (sw1, sw2) in (SW_END_OF_FILE, SW_END_REACHED_EARLY):
            content.extend(data)
            break
        if (sw1, sw2) != SW_OK:
            raise CardUnreadable(f"reading {name} at offset {offset} answered {sw1:02X}{sw2:02X}")
        content.extend(data)
        if len(content) > limit:
            break
        if len(data) < (length or 256):  # a short chunk is the last one
            break
        length = READ_CHUNK
    if len(content) > limit:
        raise CardUnreadable(f"{name} is longer than {limit} bytes")
    return bytes(content)


def read_file(transmit: Transmit, path: Sequence[int], limit: int) -> bytes:
    select_file(transmit, path)
    return read_binary(transmit, limit, file_name(path))


def read_identity_files(transmit: Transmit) -> tuple[bytes, bytes, bytes]:
    """The identity file (DF01/4031), its signature (DF01/4032) and the national register certificate
    (DF00/503C), exactly as read. Raises CardUnreadable."""
    identity = read_file(transmit, IDENTITY_FILE, MAX_FILE)
    signature = read_file(transmit, IDENTITY_SIGNATURE_FILE, SIGNATURE_MAX)
    certificate = read_file(transmit, RRN_CERTIFICATE_FILE, CERTIFICATE_MAX)
    return identity, signature, certificate


# ---- PIN on a PIN-pad reader ------------------------------------------------------------------------


def verify_apdu_template() -> list[int]:
    """The VERIFY APDU the reader completes with the typed PIN: a format-2 block of length 0, all F."""
    return [CLA, INS_VERIFY, 0x00, PIN_REFERENCE, 0x08, 0x20] + [0xFF] * 7


def pin_verify_structure(language_id: int = 0x0813) -> list[int]:
    """PC/SC part 10 PIN_VERIFY_STRUCTURE for the eID's format-2 PIN block (little-endian words).

    bmFormatString 0x89: units are bytes, the PIN starts at byte 1 of the block, left-justified, BCD.
    bmPINBlockString 0x47: the length is 4 bits wide, the block 7 bytes. bmPINLengthFormat 0x04: the
    length sits at bit 4 of the block (the low nibble of ``2L``). 4 to 12 digits, the OK key ends entry.
    """
    apdu = verify_apdu_template()
    return [
        PIN_TIMEOUT_SECONDS, PIN_TIMEOUT_SECONDS,  # bTimerOut, bTimerOut2
        0x89, 0x47, 0x04,  # bmFormatString, bmPINBlockString, bmPINLengthFormat
        PIN_MAX_DIGITS, PIN_MIN_DIGITS,  # wPINMaxExtraDigit: max in the low byte, min in the high byte
        0x02,  # bEntryValidationCondition: validation key pressed
        0x01,  # bNumberMessage
        language_id & 0xFF, language_id >> 8,  # wLangId
        0x00,  # bMsgIndex
        0x00, 0x00, 0x00,  # bTeoPrologue
        len(apdu), 0x00, 0x00, 0x00,  # ulDataLength
        *apdu,
    ]


def parse_features(response: Sequence[int]) -> dict[int, int]:
    """The reader's part 10 features: tag -> control code (each TLV is tag, 4, a big-endian code)."""
    features: dict[int, int] = {}
    i = 0
    while i + 2 <= len(response):
        tag, length = response[i], response[i + 1]
        value = response[i + 2:i + 2 + length]
        if length == 4 and len(value) == 4:
            features[tag] = int.from_bytes(bytes(value), "big")
        i += 2 + length
    return features


class PinOutcome(Exception):
    """The PIN step ended the read; ``result`` is the CardRead to answer with."""

    def __init__(self, result: CardRead) -> None:
        super().__init__(result.outcome)
        self.result = result


def verify_pin_on_pad(control: Control | None) -> None:
    """Let the citizen type the PIN on the reader's pad; returns when the card accepted it, raises PinOutcome
    (wrong, blocked, cancelled, no PIN pad) or CardUnreadable. Sends VERIFY exactly once."""
    if control is None:
        raise PinOutcome(CardRead("unreadable", detail="reader has no PIN pad"))
    try:
        features = parse_features(bytes(control(CM_IOCTL_GET_FEATURE_REQUEST, [])))
    except SmartcardException:
        features = {}  # readers without part 10 support refuse the request itself
    except (TypeError, ValueError):
        raise CardUnreadable("reader returned a malformed feature list") from None
    code = features.get(FEATURE_VERIFY_PIN_DIRECT)
    if code is None:
        raise PinOutcome(CardRead("unreadable", detail="reader has no PIN pad"))
    try:
        response = bytes(control(code, pin_verify_structure()))
    except SmartcardException as exc:
        raise CardUnreadable(f"PIN verification failed in the reader ({type(exc).__name__})") from None
    except (TypeError, ValueError):
        raise CardUnreadable("reader returned a malformed PIN answer") from None
    if len(response) < 2:
        raise CardUnreadable("reader returned no status for the PIN")
    status = (response[-2], response[-1])
    if status == SW_OK:
        return
    if status[0] == 0x63 and status[1] & 0xF0 == 0xC0 and status[1] & 0x0F == 0:
        raise PinOutcome(CardRead("pin_blocked", detail="PIN blocked"))  # some cards say 63C0 on the last try
    if status[0] == 0x63 and status[1] & 0xF0 == 0xC0:
        raise PinOutcome(CardRead("wrong_pin", tries_left=status[1] & 0x0F, detail="wrong PIN"))
    if status == SW_PIN_BLOCKED:
        raise PinOutcome(CardRead("pin_blocked", detail="PIN blocked"))
    if status == SW_PIN_TIMEOUT:
        raise PinOutcome(CardRead("pin_cancelled", detail="PIN entry timed out"))
    if status == SW_PIN_CANCELLED:
        raise PinOutcome(CardRead("pin_cancelled", detail="PIN entry cancelled"))
    if status == SW_PIN_LENGTH:
        raise PinOutcome(CardRead("pin_cancelled", detail="PIN too short or too long"))
    raise CardUnreadable(f"PIN verification answered {status[0]:02X}{status[1]:02X}")


# ---- chip authentication (after the PIN) ---------------------------------------------------------------


def chip_signature_request(certificate: x509.Certificate, challenge: bytes) -> tuple[int, bytes]:
    """The MSE:SET algorithm reference and the PSO:CDS data for the card's key in ``certificate``."""
    try:
        key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise CardForged("authentication certificate has an unsupported key") from None
    if isinstance(key, ec.EllipticCurvePublicKey):
        return ALGORITHM_ECDSA_SHA384, hashlib.sha384(challenge).digest()
    if isinstance(key, rsa.RSAPublicKey):
        return ALGORITHM_RSA_PKCS1, SHA256_DIGEST_INFO + hashlib.sha256(challenge).digest()
    raise CardForged("authentication certificate has an unsupported key type")


def authenticate_chip(transmit: Transmit, national_number: str, roots: list[x509.Certificate],
                      now: datetime | float) -> None:
    """Prove the chip holds the private key of an authentication certificate issued to ``national_number``.
    Needs the PIN verified. Raises CardForged (including a card that answers anything but a good signature)
    or CardConnectionLost."""
    try:
        authentication = read_file(transmit, AUTHENTICATION_CERTIFICATE_FILE, CERTIFICATE_MAX)
        citizen_ca = read_file(transmit, CITIZEN_CA_CERTIFICATE_FILE, CERTIFICATE_MAX)
    except CardConnectionLost:
        raise
    except CardUnreadable as exc:
        raise CardForged(f"chip authentication: {exc}") from None
    certificate = verify_authentication_certificate(authentication, citizen_ca, national_number, roots, now)
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    algorithm, data = chip_signature_request(certificate, challenge)
    try:
        select_file(transmit, BELPIC_DF)
    except CardConnectionLost:
        raise
    except CardUnreadable as exc:
        raise CardForged(f"chip authentication: {exc}") from None
    p1, p2 = MSE_SET_SIGNATURE
    _, sw1, sw2 = _exchange(transmit, [CLA, INS_MSE, p1, p2, 0x05, 0x04, 0x80, algorithm, 0x84, AUTHENTICATION_KEY])
    if (sw1, sw2) != SW_OK:
        raise CardForged(f"the chip refused to prepare its authentication key ({sw1:02X}{sw2:02X})")
    p1, p2 = PSO_COMPUTE_SIGNATURE
    signature, sw1, sw2 = _exchange(transmit, [CLA, INS_PSO, p1, p2, len(data), *data])
    try:
        signature, sw1, sw2 = _get_responses(transmit, signature, sw1, sw2, [MAX_GET_RESPONSES], SIGNATURE_MAX,
                                             "chip signature")
    except CardConnectionLost:
        raise
    except CardUnreadable as exc:
        raise CardForged(str(exc)) from None
    if (sw1, sw2) != SW_OK:
        raise CardForged(f"the chip refused to sign the challenge ({sw1:02X}{sw2:02X})")
    verify_challenge_signature(certificate, challenge, bytes(signature))


# ---- the one call ------------------------------------------------------------------------------------


def read_card(transmit: Transmit, roots: list[x509.Certificate], now: datetime | float, *,
              verify_pin: bool = False, control: Control | None = None) -> CardRead:
    """Read and verify the card behind ``transmit``: ``CardRead("ok", identity)`` or why not. Never raises.
    With ``verify_pin`` the PIN is verified on the reader's pad first (``control`` is the reader's
    SCardControl), nothing is read unless it was accepted, and the chip must then prove it is genuine
    (``authenticate_chip``)."""
    try:
        result = _read_card(transmit, roots, now, verify_pin, control)
    except Exception as exc:  # a bug must not kill the reader thread; the type only: data stays out of logs
        log.error("eID read failed unexpectedly (%s)", type(exc).__name__)
        result = CardRead("unreadable", detail=f"internal error ({type(exc).__name__})")
    log.info("eID read: %s%s", result.outcome, f" ({result.detail})" if result.detail else "")
    return result


def _read_card(transmit: Transmit, roots: list[x509.Certificate], now: datetime | float,
               verify_pin: bool, control: Control | None) -> CardRead:
    try:
        if verify_pin:
            select_file(transmit, IDENTITY_FILE)  # not an eID: say so before asking anyone for a PIN
            verify_pin_on_pad(control)
        identity_file, signature, certificate = read_identity_files(transmit)
    except PinOutcome as outcome:
        return outcome.result
    except CardUnreadable as exc:
        return CardRead("unreadable", detail=str(exc))
    try:
        verify_identity(identity_file, signature, certificate, roots, now)
    except CardForged as exc:
        return CardRead("forged", detail=exc.reason)
    try:
        identity = parse_identity(identity_file)
    except IdentityFileError as exc:  # signed by the register, yet not what the kiosk can use
        return CardRead("unreadable", detail=f"identity file: {exc}")
    if verify_pin:
        try:
            authenticate_chip(transmit, identity.national_number, roots, now)
        except CardForged as exc:
            return CardRead("forged", detail=exc.reason)
        except CardUnreadable as exc:
            return CardRead("unreadable", detail=str(exc))
    return CardRead("ok", identity=identity)
