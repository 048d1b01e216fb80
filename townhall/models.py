"""The town hall's tables (SQLAlchemy 2 ORM): the same schema on SQLite and PostgreSQL.

Secrets never sit here in plain text: kiosk tokens and enrolment codes are hashes, staff passwords scrypt
hashes, and a PIN the server still has to deliver is sealed (AES-GCM, key file outside the database, see
``townhall.keys``) and erased once it is no longer needed (docs/townhall.md, "PINs").
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

RESERVATION_KINDS = ("pickup", "loan")
# the states of docs/changes.md; "awaiting_stock" and "ready" are the town hall's, the rest the kiosk's
RESERVATION_STATUSES = ("awaiting_stock", "ready", "collected", "on_loan", "partially_returned", "returned",
                        "closed", "cancelled", "expired")
OPEN_STATUSES = ("awaiting_stock", "ready", "on_loan", "partially_returned")
ROLES = ("staff", "technician")


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out, also on SQLite (which keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Kiosk(Base):
    __tablename__ = "kiosks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)  # sha256 hex of the bearer token
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_heartbeat: Mapped[dict | None] = mapped_column(JSON)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EnrolmentCode(Base):
    __tablename__ = "enrolment_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kiosk_id: Mapped[str] = mapped_column(ForeignKey("kiosks.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)  # HMAC-SHA256 under the server key
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Product(Base):
    __tablename__ = "products"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    identification: Mapped[str] = mapped_column(String(16))
    returnable: Mapped[bool] = mapped_column(Boolean, default=False)
    rfid_tagged: Mapped[bool] = mapped_column(Boolean, default=False)
    locker_size: Mapped[str] = mapped_column(String(1))
    pickup_days: Mapped[int] = mapped_column(Integer)
    requestable: Mapped[bool] = mapped_column(Boolean, default=False)
    names: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Reservation(Base):
    __tablename__ = "reservations"
    __table_args__ = (Index("ix_reservations_kiosk_status", "kiosk_id", "status"),
                      Index("ix_reservations_kiosk_pin", "kiosk_id", "pin_digest"))

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kiosk_id: Mapped[str] = mapped_column(ForeignKey("kiosks.id"))
    product: Mapped[str] = mapped_column(ForeignKey("products.code"))
    kind: Mapped[str] = mapped_column(String(16))  # pickup | loan
    status: Mapped[str] = mapped_column(String(32))
    locker: Mapped[int | None] = mapped_column(Integer)
    citizen_name: Mapped[str] = mapped_column(String(200))
    citizen_email: Mapped[str | None] = mapped_column(String(254))
    # AES-GCM sealed PIN, kept only while the reservation is open (to re-send it); NULL once finished
    pin_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    # keyed hash for the "unique among this kiosk's open reservations" check; NULL once finished
    pin_digest: Mapped[str | None] = mapped_column(String(64))
    tags: Mapped[list] = mapped_column(JSON, default=list)
    returned_tags: Mapped[list] = mapped_column(JSON, default=list)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    collected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(64))


class Badge(Base):
    """A staff or technician badge for one kiosk. Its PIN is not kept here: it travels sealed in the feed."""

    __tablename__ = "badges"
    __table_args__ = (UniqueConstraint("kiosk_id", "uid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kiosk_id: Mapped[str] = mapped_column(ForeignKey("kiosks.id"))
    uid: Mapped[str] = mapped_column(String(20))  # upper-case hex as the reader reports it
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(80))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Change(Base):
    """One entry of a kiosk's change feed (docs/changes.md format); ``seq`` is the cursor."""

    __tablename__ = "changes"
    __table_args__ = (Index("ix_changes_kiosk_seq", "kiosk_id", "seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kiosk_id: Mapped[str] = mapped_column(ForeignKey("kiosks.id"))
    ref: Mapped[str] = mapped_column(String(64))  # reservation id, badge uid or product code
    change: Mapped[dict] = mapped_column(JSON)  # without its PIN
    # the change's PIN, sealed; erased once the kiosk has confirmed the change (its cursor passed it)
    secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Event(Base):
    """An outbox event received from a kiosk; held once per (kiosk, id), applied at most once."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("kiosk_id", "event_id"), Index("ix_events_kiosk_received", "kiosk_id", "id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kiosk_id: Mapped[str] = mapped_column(ForeignKey("kiosks.id"))
    event_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the kiosk's clock
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    applied: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)  # why a known type was not applied


class Alarm(Base):
    __tablename__ = "alarms"
    __table_args__ = (Index("ix_alarms_kiosk_active", "kiosk_id", "cleared_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kiosk_id: Mapped[str] = mapped_column(ForeignKey("kiosks.id"))
    kind: Mapped[str] = mapped_column(String(64))
    locker: Mapped[int | None] = mapped_column(Integer)
    device: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class User(Base):
    """A staff login for the console; created by ``townhall create-user`` (no default password)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))  # scrypt$n$r$p$salt$hash
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReservationIdentity(Base):
    """Who may collect a reservation of a ``strong`` product, as keyed hashes for the itsme match.

    A table of its own (not columns of ``reservations``) so that an existing database gains it through
    ``create_all`` without an ALTER TABLE. The plain numbers are never here: they travel to the kiosk sealed in
    the feed row (``Change.secret``) until the kiosk confirms it. The row goes when the reservation finishes.
    """

    __tablename__ = "reservation_identities"

    reservation_id: Mapped[str] = mapped_column(ForeignKey("reservations.id"), primary_key=True)
    holder_digest: Mapped[str] = mapped_column(String(64))  # HMAC-SHA256 under the server's secret key
    authorised_digests: Mapped[list] = mapped_column(JSON, default=list)


class ItsmeSession(Base):
    """The audit of one itsme identification a kiosk asked for: who asked, for which reservation, how it ended.

    The flow's live state (itsme's ``auth_req_id``, the polling interval) is kept in memory only
    (``townhall.itsme``); tokens and the national number are never written anywhere.
    """

    __tablename__ = "itsme_sessions"
    __table_args__ = (Index("ix_itsme_sessions_kiosk", "kiosk_id", "started_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kiosk_id: Mapped[str] = mapped_column(ForeignKey("kiosks.id"))
    reservation_id: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(16))  # match, mismatch, rejected, expired, cancelled, ...
    reason: Mapped[str | None] = mapped_column(String(200))  # why "unavailable" (never personal data)
