"""Effects: plain values a flow returns; the effect runner carries them out.

A flow never touches a device, the screen or the database. It says what should happen, in order,
and the runner does it. Effects that need an answer (``VerifyPin``, ``ReleaseLocker``) make the
runner hand a result event back to the flow before any outside event is processed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


def _frozen(params: Mapping | None) -> Mapping:
    return MappingProxyType(dict(params or {}))


@dataclass(frozen=True)
class Show:
    screen: str
    params: Mapping = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", _frozen(self.params))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Show) and (self.screen, dict(self.params)) == (other.screen, dict(other.params))

    def __hash__(self) -> int:
        return hash((self.screen, tuple(sorted(self.params.items()))))


@dataclass(frozen=True)
class SetLanguage:
    lang: str


@dataclass(frozen=True)
class Say:
    """A spoken prompt by name (the speech issue gives these a voice; PIN digits are never said)."""

    prompt: str


@dataclass(frozen=True)
class StartTimer:
    """Start (or restart) the named timer; it fires once as ``TimerFired(name)``."""

    name: str
    seconds: float


@dataclass(frozen=True)
class CancelTimer:
    name: str


@dataclass(frozen=True)
class CancelAllTimers:
    pass


@dataclass(frozen=True)
class SetScanning:
    """Scan for QR codes at the camera's frame rate (on) or let the scanner idle (off): only screens
    that accept a code are worth a core's share on a Raspberry Pi."""

    on: bool


@dataclass(frozen=True)
class VerifyPin:
    """Look the code up; answers ``Identified`` or ``IdentificationFailed`` (counting the failure)."""

    code: str


@dataclass(frozen=True)
class VerifyQr:
    text: str
    for_return: bool = False  # a return may name its loan with the QR the pickup already spent


@dataclass(frozen=True)
class ReadCard:
    """Ask the eID reader to read the card in it; it answers ``CardRead`` later, from its own thread.
    ``verify_pin``: first have the citizen type the card PIN on a PIN-pad reader (tried once, never
    retried by the kiosk: three wrong PINs block the card)."""

    verify_pin: bool = False


@dataclass(frozen=True)
class CheckIdentity:
    """Match a verified eID identity against the reservation by keyed hash; answers ``IdentityChecked``."""

    reservation_id: str
    identity: object = field(repr=False)  # kioskd.eid.Identity: personal data, never in a repr


@dataclass(frozen=True)
class RecordItsme:
    """The town hall said whether the person who confirmed in itsme matches: audit it and count a mismatch like
    a wrong card (lockout); answers ``IdentityChecked``."""

    reservation_id: str
    matched: bool


@dataclass(frozen=True)
class StartItsme:
    """Ask the town hall to open an itsme session for this reservation; ``ItsmeStarted`` or ``ItsmeResult``
    come back later from the link's thread."""

    reservation_id: str


@dataclass(frozen=True)
class CancelItsme:
    """Stop the itsme session in progress (the citizen went back, or the session ended)."""


@dataclass(frozen=True)
class ReleaseLocker:
    """Journal the release (and spend the QR token) in one transaction, then pulse the relay.

    Answers ``ReleaseStarted`` or ``ReleaseRefused``.
    """

    reservation_id: str
    locker: int
    reason: str  # "pickup", "retry" or "reopen"
    method: str
    token_id: str | None = None


@dataclass(frozen=True)
class RecordCollected:
    """The reservation is collected: status change and outbox event in one transaction."""

    reservation_id: str
    release_id: int
    door_left_open: bool = False


@dataclass(frozen=True)
class RecordReleaseOutcome:
    """Close a release's journal row: ``closed``, ``unopened`` or ``left_open``."""

    release_id: int
    outcome: str


@dataclass(frozen=True)
class RaiseAlarm:
    """An alarm for the town hall: an outbox event and an audit line."""

    kind: str  # door_not_opened, door_left_open, door_forced
    locker: int
    reservation_id: str | None = None


# ---- accessibility: voice, tones, audio mode, text size -------------------------------------------


@dataclass(frozen=True)
class Tone:
    """A short sound, not speech: ``key`` (a key or button was taken), ``complete`` (a code is full
    length), ``warning`` (time is running out), ``error``."""

    name: str


@dataclass(frozen=True)
class Hush:
    """Stop the prompt being spoken: the citizen acted, so the kiosk listens (EN 301 549 5.1.3.5)."""


@dataclass(frozen=True)
class SetAudioMode:
    """The keypad-driven, spoken mode for blind users, on or off; it ends with the session."""

    on: bool


@dataclass(frozen=True)
class SetLargeText:
    on: bool


@dataclass(frozen=True)
class ResetVolume:
    """Back to the default loudness for the time of day; sent when a session ends."""


@dataclass(frozen=True)
class ChangeVolume:
    steps: int  # +1 louder, -1 softer


# ---- returns ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdentifyTag:
    """What is this tag: an item of a loan (``LoanSeen``) or nothing known (``TagUnknown``)."""

    tag: str


@dataclass(frozen=True)
class FindLoan:
    """The loan behind a reservation identified by code or QR, for a return."""

    reservation_id: str


@dataclass(frozen=True)
class ReleaseForReturn:
    """Journal, then open, a free locker of a fitting size for a loan's items (again, after a retry)."""

    reservation_id: str
    method: str
    tags: tuple[str, ...] = ()  # the items counted, kept with the release so a crash cannot lose the return


@dataclass(frozen=True)
class RecordReturn:
    reservation_id: str
    tags: tuple[str, ...]
    locker: int


# ---- staff ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyBadge:
    uid: str
    pin: str


@dataclass(frozen=True)
class LoadStaffWork:
    """List what is waiting to be loaded and which lockers need emptying (``StaffWork``)."""


@dataclass(frozen=True)
class ReleaseForLoad:
    reservation_id: str
    staff_badge: str


@dataclass(frozen=True)
class ReleaseForTakeOut:
    locker: int
    staff_badge: str


@dataclass(frozen=True)
class RecordLoaded:
    reservation_id: str
    locker: int
    staff_badge: str


@dataclass(frozen=True)
class RecordTakenOut:
    locker: int
    staff_badge: str


# ---- service mode -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadServiceStatus:
    """Read the live status service mode shows (``ServiceStatus``)."""


@dataclass(frozen=True)
class ServiceRelease:
    """A technician opens one locker (``test``: as part of a relay test): journaled and audited in the
    technician's name before the relay, like every release. Answers ``ReleaseStarted`` or ``ReleaseRefused``."""

    locker: int
    technician: str  # the badge's keyed hash
    test: bool = False


@dataclass(frozen=True)
class SetLockerService:
    """Take a locker out of service, or put it back (which also clears its "suspect" mark and the alarms
    that made it suspect); audited with an outbox event. Answers ``DeviceStatus("locks", …)``."""

    locker: int
    in_service: bool
    technician: str


@dataclass(frozen=True)
class TestCardReader:
    """List the PC/SC readers and whether a card is in one (``ServiceResult("card", …)``)."""


@dataclass(frozen=True)
class TestAudio:
    """Play the test tone and a spoken sentence (``ServiceResult("audio", …)``)."""
