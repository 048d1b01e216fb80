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
  ``63 Cx`` wrong with x tries left, ``69 83`` blocked.

PIN entry happens only on a PIN-pad reader (the PIN never passes through the kiosk's memory): PC/SC part 10,
``CM_IOCTL_GET_FEATURE_REQUEST`` lists the reader's features, FEATURE_VERIFY_PIN_DIRECT (tag 0x06) gives the
control code that takes a PIN_VERIFY_STRUCTURE wrapping the VERIFY APDU. The reader answers ``64 00`` on
timeout and ``64 01`` when the citizen cancels. VERIFY is sent once per ``read_card`` call and never retried:
three wrong PINs block the card. A reader without the feature cannot verify a PIN, and says so.

``read_card`` never raises for anything a card or reader does; it answers with a ``CardRead``. It does not
check the card's expiry or whom it belongs to: the kiosk's runner does, with the identity it returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from cryptography import x509
from smartcard.Exceptions import SmartcardException

from kioskd.eid import MAX_FILE, IdentityFileError, parse_identity
from kioskd.eid_verify import CardForged, verify_identity
from kioskd.events import CardRead

log = logging.getLogger(__name__)

Transmit = Callable[[list[int]], tuple[list[int], int, int]]
Control = Callable[[int, list[int]], list[int]]

IDENTITY_FILE = (0xDF, 0x01, 0x40, 0x31)
IDENTITY_SIGNATURE_FILE = (0xDF, 0x01, 0x40, 0x32)
RRN_CERTIFICATE_FILE = (0xDF, 0x00, 0x50, 0x3C)
SIGNATURE_MAX = 512  # RSA-4096 is 512 bytes; a P-384 signature 96 (raw) or about 104 (DER)
CERTIFICATE_MAX = 8192  # an RRN certificate is 1-2 KB
READ_CHUNK = 0xF8
MAX_APDUS_PER_FILE = 256  # bounds a card that keeps answering without progress

PIN_REFERENCE = 0x01
PIN_MIN_DIGITS, PIN_MAX_DIGITS = 4, 12
PIN_TIMEOUT_SECONDS = 30

CLA, INS_SELECT, INS_READ_BINARY, INS_GET_RESPONSE, INS_VERIFY = 0x00, 0xA4, 0xB0, 0xC0, 0x20
SW_OK = (0x90, 0x00)
SW_FILE_NOT_FOUND = (0x6A, 0x82)
SW_END_OF_FILE = (0x6B, 0x00)
SW_END_REACHED_EARLY = (0x62, 0x82)
SW_PIN_BLOCKED = (0x69, 0x83)
SW_PIN_TIMEOUT = (0x64, 0x00)
SW_PIN_CANCELLED = (0x64, 0x01)
SW_PIN_LENGTH = (0x64, 0x03)

FEATURE_VERIFY_PIN_DIRECT = 0x06


def scard_ctl_code(code: int) -> int:
    """pcsc-lite's SCARD_CTL_CODE (kioskd runs on Linux; Windows numbers control codes differently)."""
    return 0x42000000 + code


CM_IOCTL_GET_FEATURE_REQUEST = scard_ctl_code(3400)


class CardUnreadable(Exception):
    """The card or reader did not give what an eID gives; ``str`` says what, never whose."""


def file_name(path: Sequence[int]) -> str:
    return "/".join(f"{path[i]:02X}{path[i + 1]:02X}" for i in range(0, len(path), 2))


def _exchange(transmit: Transmit, apdu: list[int]) -> tuple[list[int], int, int]:
    """One APDU; a lost card, a reader error or a malformed answer becomes CardUnreadable."""
    try:
        data, sw1, sw2 = transmit(apdu)
    except SmartcardException as exc:
        raise CardUnreadable(f"card connection lost ({type(exc).__name__})") from None
    except (TypeError, ValueError):
        raise CardUnreadable("reader returned a malformed response") from None
    if not (isinstance(sw1, int) and isinstance(sw2, int) and 0 <= sw1 <= 0xFF and 0 <= sw2 <= 0xFF):
        raise CardUnreadable("reader returned a malformed status word")
    try:
        payload = bytes(data)
    except (TypeError, ValueError):
        raise CardUnreadable("reader returned malformed response data") from None
    return list(payload), sw1, sw2


def select_file(transmit: Transmit, path: Sequence[int]) -> None:
    """Select an elementary file by its path from the MF (P1=08), asking for no response data (P2=0C)."""
    _, sw1, sw2 = _exchange(transmit, [CLA, INS_SELECT, 0x08, 0x0C, len(path), *path])
    if (sw1, sw2) == SW_FILE_NOT_FOUND:
        raise CardUnreadable(f"file {file_name(path)} not found: not a Belgian eID")
    if (sw1, sw2) != SW_OK:
        raise CardUnreadable(f"selecting {file_name(path)} answered {sw1:02X}{sw2:02X}")


def read_binary(transmit: Transmit, limit: int, name: str = "file") -> bytes:
    """The whole selected file, read in chunks until the card says it ended; longer than ``limit`` is an error."""
    content = bytearray()
    length = READ_CHUNK
    for _ in range(MAX_APDUS_PER_FILE):
        offset = len(content)
        if offset > 0x7FFF:
            break
        data, sw1, sw2 = _exchange(transmit, [CLA, INS_READ_BINARY, offset >> 8, offset & 0xFF, length])
        while sw1 == 0x61:  # more data waits: fetch it
            more, sw1, sw2 = _exchange(transmit, [CLA, INS_GET_RESPONSE, 0x00, 0x00, sw2])
            data += more
            if len(content) + len(data) > limit:
                break
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
    else:
        raise CardUnreadable(f"reading {name}: no end after {MAX_APDUS_PER_FILE} commands")
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


# ---- the one call ------------------------------------------------------------------------------------


def read_card(transmit: Transmit, roots: list[x509.Certificate], now: datetime | float, *,
              verify_pin: bool = False, control: Control | None = None) -> CardRead:
    """Read and verify the card behind ``transmit``: ``CardRead("ok", identity)`` or why not. Never raises for
    anything the card or reader does. With ``verify_pin`` the PIN is verified on the reader's pad first
    (``control`` is the reader's SCardControl) and nothing is read unless it was accepted."""
    result = _read_card(transmit, roots, now, verify_pin, control)
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
    return CardRead("ok", identity=identity)
