"""Pydantic models of every request and response of the kiosk API v1 (docs/api.md), so the OpenAPI document
says exactly what goes over the wire. Change objects follow docs/changes.md.

Requests ignore fields they do not know (a newer kiosk talking to an older server); responses never carry
fields that are not declared here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints


def _sane_time(value: datetime) -> datetime:
    """A time the server can store and compare: converted to UTC, between the years 2000 and 2999 (a
    year-9999 date with a negative offset would overflow in the conversion and give a 500)."""
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("time out of range") from None
    if not 2000 <= utc.year <= 2999:
        raise ValueError("time out of range (years 2000-2999)")
    return utc


Time = Annotated[AwareDatetime, AfterValidator(_sane_time)]

KioskId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
EventId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
EventType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+){0,4}$", max_length=64)]
ReservationId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
Hex = Annotated[str, StringConstraints(pattern=r"^[0-9A-F]{4,20}$")]
Digits = Annotated[str, StringConstraints(pattern=r"^[0-9]{4,12}$")]
Cursor = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,18}$")]
NationalNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]{11}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ErrorResponse(Strict):
    error: str = Field(description="machine-readable code, e.g. unauthorized, enrolment_refused, rate_limited")
    detail: str = Field(description="a sentence for the person reading the log")


# ---- enrolment -----------------------------------------------------------------------------------------

class EnrolRequest(Lenient):
    kiosk_id: KioskId
    code: Annotated[str, StringConstraints(min_length=1, max_length=32)] = Field(
        description="the one-time enrolment code, e.g. 7K4M-Q2XW-9HTR (case and dashes do not matter)")


class EnrolResponse(Strict):
    kiosk_id: KioskId
    token: str = Field(min_length=43, description="the kiosk's bearer token; shown once, stored hashed")
    qr_public_key: str = Field(description="base64 of the raw Ed25519 public key that verifies QR tokens")
    api_version: Literal[1] = 1


# ---- events --------------------------------------------------------------------------------------------

class EventIn(Lenient):
    id: EventId = Field(description="unique per kiosk; the server holds each id once")
    type: EventType = Field(description="e.g. pickup.collected, reservation.loaded, alarm.door_forced")
    payload: dict[str, Any] = Field(default_factory=dict)
    created_at: Time | None = Field(default=None, description="when the kiosk committed the event")


class EventsRequest(Lenient):
    events: list[EventIn] = Field(max_length=500)


class EventsResponse(Strict):
    acked: list[EventId] = Field(description="every id of the request the server now holds (new or held before)")


# ---- changes (docs/changes.md) -------------------------------------------------------------------------

class ReservationChange(Strict):
    type: Literal["reservation"]
    id: ReservationId
    product: str
    status: Literal["awaiting_stock", "ready"]
    locker: int | None = Field(default=None, ge=1)
    pin: Annotated[str, StringConstraints(pattern=r"^[0-9]{4,12}$")] | None = Field(
        default=None, description="present until the kiosk has confirmed the change (its cursor passed it)")
    expires_at: Time | None = None
    tags: list[Hex] | None = None
    national_number: NationalNumber | None = Field(
        default=None, description="a strong product's holder; present until the kiosk has confirmed the change, "
                                  "which keeps it only as a keyed hash")
    authorised: list[NationalNumber] | None = Field(
        default=None, max_length=5, description="people allowed to collect for the holder; sent like national_number")


class ReservationCancelChange(Strict):
    type: Literal["reservation.cancel"]
    id: ReservationId


class BadgeChange(Strict):
    type: Literal["badge"]
    uid: Hex
    role: Literal["staff", "technician"]
    name: str
    pin: Digits | None = None


class BadgeRevokeChange(Strict):
    type: Literal["badge.revoke"]
    uid: Hex


class ProductChange(Strict):
    type: Literal["product"]
    code: str
    identification: Literal["code", "strong"]
    returnable: bool
    rfid_tagged: bool
    locker_size: Literal["S", "M", "L"]
    pickup_days: int = Field(ge=1, le=365)
    requestable: bool
    names: dict[Literal["nl", "fr", "en"], str]


AnyChange = Annotated[ReservationChange | ReservationCancelChange | BadgeChange | BadgeRevokeChange | ProductChange,
                      Field(discriminator="type")]


class ChangesResponse(Strict):
    changes: list[AnyChange]
    cursor: Cursor = Field(description="send it back as ?after= to get the changes after these")
    more: bool = Field(description="true: more changes wait, ask again at once")


class SnapshotResponse(Strict):
    cursor: Cursor = Field(description="the feed position this snapshot reflects; continue the feed after it")
    changes: list[AnyChange]


# ---- heartbeat -----------------------------------------------------------------------------------------

class LockerStatus(Lenient):
    locker: int = Field(ge=1, le=999)
    contents: Annotated[str, StringConstraints(max_length=40)] = "empty"
    flags: list[Annotated[str, StringConstraints(max_length=40)]] = Field(default_factory=list, max_length=20)


class HeartbeatAlarm(Lenient):
    kind: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    locker: int | None = None
    device: Annotated[str, StringConstraints(max_length=64)] | None = None
    raised_at: Time | None = None


class HeartbeatRequest(Lenient):
    at: Time
    doors: dict[Annotated[str, StringConstraints(pattern=r"^[0-9]{1,3}$")],
                Literal["open", "closed", "unknown"]] = Field(default_factory=dict)
    lockers: list[LockerStatus] = Field(default_factory=list, max_length=999)
    alarms: list[HeartbeatAlarm] = Field(default_factory=list, max_length=500)
    outbox_depth: int = Field(default=0, ge=0)
    versions: dict[Annotated[str, StringConstraints(max_length=40)],
                   Annotated[str, StringConstraints(max_length=40)] | int] = Field(default_factory=dict)


class HeartbeatResponse(Strict):
    server_time: AwareDatetime


# ---- itsme (docs/itsme.md) ---------------------------------------------------------------------------------

SessionId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{16,64}$")]


class ItsmeSessionRequest(Lenient):
    reservation_id: ReservationId = Field(description="a reservation of this kiosk for a strong product")


class ItsmeSessionResponse(Strict):
    session_id: SessionId
    qr: str = Field(description="the text the kiosk shows as a QR code for the itsme app")
    expires_at: AwareDatetime = Field(description="after this the session is expired (UTC)")
    poll_seconds: int = Field(ge=1, description="how often to ask GET /itsme/sessions/{id}")


class ItsmeStatusResponse(Strict):
    status: Literal["pending", "match", "mismatch", "rejected", "expired", "cancelled", "unavailable"] = Field(
        description="match: the person who confirmed in itsme is the reservation's holder or someone it authorises")
