"""Events: plain values posted to the main loop's one queue.

Drivers (camera, serial, GPIO, touch) run in their own threads and only ever create these values
and hand them to a ``post`` callable; they never call into flows or the UI. The effect runner posts
result events (``Identified``, ``ReleaseStarted``...) that the loop hands back to the flow before
the next outside event, so a flow runs to completion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class Post(Protocol):
    """What drivers get instead of a reference to the loop: a thread-safe way to hand in an event."""

    def __call__(self, event: object) -> None: ...


# ---- from the outside world -------------------------------------------------------------------


@dataclass(frozen=True)
class Tap:
    """A touch on an on-screen button (or the same action from a key): ``pickup``, ``digit:4``, ``lang:fr``."""

    action: str


@dataclass(frozen=True)
class Key:
    """A keypad key by name: "0".."9", "up", "down", "left", "right", "enter", "back", "repeat", "help",
    "volume". ``held`` marks a long press (kept down for ``ui.key_hold_seconds``)."""

    name: str
    held: bool = False


@dataclass(frozen=True)
class Tamper:
    """The cabinet's tamper input (service door, tilt switch) became active or quiet again."""

    active: bool


@dataclass(frozen=True)
class Activity:
    """The citizen did something that is not a tap (moved keypad focus): idle time starts again."""


@dataclass(frozen=True)
class QrScanned:
    """A QR code's text decoded from a camera frame (duplicates of a code held still are suppressed)."""

    text: str


@dataclass(frozen=True)
class TagRead:
    """An RFID tag id (upper-case hex) read from a valid reader frame."""

    tag: str


@dataclass(frozen=True)
class DoorOpened:
    locker: int


@dataclass(frozen=True)
class DoorClosed:
    locker: int


@dataclass(frozen=True)
class TimerFired:
    name: str


@dataclass(frozen=True)
class DeviceStatus:
    """A driver reports it went up or down (reader unplugged, camera lost); the kiosk keeps running."""

    device: str
    ok: bool
    detail: str = ""


# ---- strong identification: the eID reader and the town hall's itsme link (issue 7) ---------------


@dataclass(frozen=True)
class CardInserted:
    """A card went into the eID reader. What card it is shows only when it is read (``fx.ReadCard``)."""


@dataclass(frozen=True)
class CardRemoved:
    """The card left the eID reader (or the reader went away with it)."""


CARD_OUTCOMES = ("ok", "forged", "unreadable", "wrong_pin", "pin_blocked", "pin_cancelled")


@dataclass(frozen=True)
class CardRead:
    """The eID reader's answer to ``fx.ReadCard``.

    ``outcome``: ``ok`` (identity file read, its signature verified with the card's national register
    certificate, which chains to a trusted Belgian root); ``forged`` (a signature or the chain does not
    verify); ``unreadable`` (not an eID, an I/O error, or the card was pulled while being read);
    ``wrong_pin`` (``tries_left`` says how many), ``pin_blocked``, ``pin_cancelled`` (cancel or timeout on a
    PIN-pad reader). ``identity`` is set only for ``ok``; it is personal data and stays out of every repr,
    log line and database row. ``detail`` is for the log: why, never whose.
    """

    outcome: str
    identity: object | None = field(default=None, repr=False)  # kioskd.eid.Identity
    tries_left: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class IdentityChecked:
    """The runner's answer to ``fx.CheckIdentity``: does the proven person match the reservation?

    ``reason`` when not: ``mismatch`` (someone else), ``card_expired``, ``no_holder`` (the reservation names
    nobody), ``locked_out`` (too many failed proofs at this kiosk). ``role`` when it does: ``holder`` or ``authorised``.
    """

    method: str  # "eid" or "itsme"
    matched: bool
    reason: str = ""
    role: str = ""
    locked_until: float | None = None  # with reason "locked_out": too many failed proofs, try again later


@dataclass(frozen=True)
class ItsmeStarted:
    """The town hall opened an itsme session: ``qr`` is the text to show as a QR code for the app."""

    session_id: str
    qr: str
    expires_at: float
    reservation_id: str = ""  # the reservation it was opened for: an answer about another one is ignored


ITSME_OUTCOMES = ("match", "mismatch", "rejected", "expired", "cancelled", "unavailable")


@dataclass(frozen=True)
class ItsmeResult:
    """How an itsme session ended, as the town hall tells it: only whether the person matches the
    reservation (``match``/``mismatch``), or ``rejected`` in the app, ``expired``, ``cancelled``, or
    ``unavailable`` (offline, itsme not configured or failing). Never who the person is."""

    session_id: str
    outcome: str
    reservation_id: str = ""


# ---- results the effect runner hands back to the flow ------------------------------------------


@dataclass(frozen=True)
class ReservationView:
    """What a flow may know about a reservation: no credentials, no personal data."""

    id: str
    product: str
    status: str
    locker: int | None
    expires_at: float | None
    identification: str  # "code" or "strong", from the catalogue


@dataclass(frozen=True)
class LoanSeen:
    """A loan found by one of its item tags (``tag``) or by its code; tags are item labels, not secrets."""

    reservation: ReservationView
    outstanding: tuple[str, ...]  # tags still out
    returned: tuple[str, ...]  # tags already back
    tag: str | None = None  # the tag that found it, if any


@dataclass(frozen=True)
class BadgeSeen:
    """An enrolled, active staff badge at the reader; its PIN is asked next. ``uid`` stays in memory only."""

    uid: str
    role: str


@dataclass(frozen=True)
class StaffIdentified:
    badge_id: str  # the badge's keyed hash, for the audit trail
    role: str
    name: str


@dataclass(frozen=True)
class StaffWork:
    """What staff can do now: reservations to load and lockers to empty (plain values for the screens)."""

    stock: tuple  # ({"id", "names", "size"}, ...)
    collection: tuple  # ({"locker", "what", "id"}, ...)


@dataclass(frozen=True)
class TagUnknown:
    """A tag that is neither an item of a loan nor an enrolled badge (or a revoked one)."""


@dataclass(frozen=True)
class ReturnRefused:
    reason: str  # not_on_loan, nothing_to_return, no_free_locker


@dataclass(frozen=True)
class Identified:
    reservation: ReservationView
    method: str  # "pin" or "qr"
    token_id: str | None = None  # the QR token's one-time id, spent with the release


@dataclass(frozen=True)
class IdentificationFailed:
    method: str
    reason: str  # unknown_code, locked_out, forged, wrong_kiosk, token_expired, replayed, malformed
    locked_until: float | None = None


@dataclass(frozen=True)
class ReleaseStarted:
    release_id: int
    locker: int


@dataclass(frozen=True)
class ReleaseRefused:
    reason: str  # not_ready, replayed, locker_out_of_service, ...


@dataclass(frozen=True)
class Recorded:
    """A business change committed (e.g. collected); carries the outbox event ids created with it."""

    what: str
    event_ids: tuple[str, ...] = field(default=())


# ---- service mode ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceStatus:
    """What service mode shows, read fresh: lockers with doors and flags, alarms, devices, sync and outbox,
    the reader's last frames (UIDs masked), the camera's frame count and recent log lines. Plain values."""

    status: dict


@dataclass(frozen=True)
class ServiceResult:
    """The answer of a technician's device test: ``what`` is "card" or "audio"; ``result`` plain values."""

    what: str
    result: dict
