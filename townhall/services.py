"""What the town hall does, for the API and the staff console alike: kiosks and their enrolment codes, the
catalogue, reservations (PIN, QR, change feed, notification), badges, users.

Every function takes the ``Townhall`` runtime first and runs its own transaction, so a caller never holds a
half-made change. Refusals raise ``ServiceError`` with a code and a sentence for staff. Read-only views for the
console (grid, event log, KPIs) are in ``townhall.monitor``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, object_session

from kioskd import tokens
from kioskd.catalogue import Product as CatalogueProduct
from kioskd.catalogue import pilot_products
from kioskd.eid import national_number_valid
from townhall.models import (
    OPEN_STATUSES,
    ROLES,
    Badge,
    Change,
    EnrolmentCode,
    Kiosk,
    Product,
    Reservation,
    ReservationIdentity,
    User,
)
from townhall.notify import NotifyError, reservation_message
from townhall.runtime import Townhall

log = logging.getLogger(__name__)

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TAG_PATTERN = re.compile(r"^[0-9A-F]{4,20}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # no 0/O, 1/I/L, U: read aloud and typed without doubt
TOWN_HALL_STATUSES = ("awaiting_stock", "ready")  # the town hall may still change or cancel these
FINISHED_STATUSES = ("collected", "returned", "closed", "cancelled", "expired")
MAX_AUTHORISED = 5  # people a holder may authorise to collect a personal document for them
NATIONAL_NUMBER_SEPARATORS = re.compile(r"[\s.\-]")  # written 85.07.30-033.28 on the eID card


class ServiceError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Citizen:
    name: str
    email: str | None = None


@dataclass(frozen=True)
class ReservationView:
    id: str
    kiosk_id: str
    product: str
    kind: str
    status: str
    shown_status: str  # "expired" for a ready reservation past its expiry (the kiosk lists it for staff)
    locker: int | None
    citizen_name: str
    citizen_email: str | None
    tags: list[str]
    returned_tags: list[str]
    expires_at: datetime | None
    created_at: datetime
    ready_at: datetime | None
    collected_at: datetime | None
    returned_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    notified_at: datetime | None
    identity_on_file: bool = False  # the holder's national number is on file (as a keyed hash; never shown)
    authorised_count: int = 0  # how many people the holder authorised to collect


@dataclass(frozen=True)
class CreatedReservation:
    reservation: ReservationView
    pin: str  # shown once to staff (to tell the citizen by phone if need be); never stored in plain text
    qr_token: str
    notified_to: str | None  # the .eml path, "smtp", or None (no e-mail address, or sending failed)
    notify_error: str | None


@dataclass(frozen=True)
class KioskView:
    id: str
    name: str
    enrolled_at: datetime | None
    last_seen_at: datetime | None
    last_heartbeat_at: datetime | None


@dataclass(frozen=True)
class BadgeView:
    kiosk_id: str
    uid: str
    role: str
    name: str
    active: bool


# ---- kiosks and enrolment ------------------------------------------------------------------------------

def _kiosk_view(kiosk: Kiosk) -> KioskView:
    return KioskView(kiosk.id, kiosk.name, kiosk.enrolled_at, kiosk.last_seen_at, kiosk.last_heartbeat_at)


def create_kiosk(th: Townhall, kiosk_id: str, name: str | None = None) -> KioskView:
    """A new kiosk starts its feed with the whole catalogue; an existing one is only renamed."""
    if not ID_PATTERN.match(kiosk_id or ""):
        raise ServiceError("invalid_kiosk_id", "a kiosk id is 1–64 letters, digits, '.', '_' or '-'")
    with th.transaction() as session:
        kiosk = session.get(Kiosk, kiosk_id)
        if kiosk is None:
            kiosk = Kiosk(id=kiosk_id, name=name or kiosk_id, created_at=th.now())
            session.add(kiosk)
            session.flush()
            for product in session.scalars(select(Product).order_by(Product.code)):
                _append(session, th, kiosk_id, product.code, product_change(product))
        elif name:
            kiosk.name = name
        return _kiosk_view(kiosk)


def list_kiosks(th: Townhall) -> list[KioskView]:
    with th.sessions() as session:
        return [_kiosk_view(k) for k in session.scalars(select(Kiosk).order_by(Kiosk.id))]


def get_kiosk(th: Townhall, kiosk_id: str) -> KioskView | None:
    with th.sessions() as session:
        kiosk = session.get(Kiosk, kiosk_id)
        return _kiosk_view(kiosk) if kiosk else None


def create_enrolment_code(th: Townhall, kiosk_id: str, name: str | None = None) -> tuple[str, datetime]:
    """A one-time code for ``kiosk_id`` (created if new), valid ``sync.enrolment_hours``; shown once."""
    create_kiosk(th, kiosk_id, name)
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))
    code = f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"
    expires = th.now() + timedelta(hours=th.config.enrolment_hours)
    with th.transaction() as session:
        session.add(EnrolmentCode(kiosk_id=kiosk_id, code_hash=_code_hash(th, kiosk_id, code),
                                  created_at=th.now(), expires_at=expires))
    return code, expires


def _code_hash(th: Townhall, kiosk_id: str, code: str) -> str:
    normal = code.strip().upper().replace("-", "").replace(" ", "")
    return th.sealer.digest("enrol", f"{kiosk_id}\0{normal}")


def enrol(th: Townhall, kiosk_id: str, code: str) -> str | None:
    """Spend ``code`` and give the kiosk a new bearer token (its old one stops working). None if refused."""
    now = th.now()
    with th.transaction() as session:
        row = session.scalars(select(EnrolmentCode).where(
            EnrolmentCode.code_hash == _code_hash(th, kiosk_id, code), EnrolmentCode.kiosk_id == kiosk_id,
            EnrolmentCode.used_at.is_(None), EnrolmentCode.expires_at > now).with_for_update()).first()
        if row is None:
            return None
        row.used_at = now
        token = secrets.token_urlsafe(32)
        kiosk = session.get(Kiosk, kiosk_id)
        kiosk.token_hash = hashlib.sha256(token.encode()).hexdigest()
        kiosk.enrolled_at = now
        return token


def kiosk_for_token(th: Townhall, token: str) -> str | None:
    with th.sessions() as session:
        return session.scalar(select(Kiosk.id).where(
            Kiosk.token_hash == hashlib.sha256(token.encode()).hexdigest()))


# ---- the catalogue -------------------------------------------------------------------------------------

def product_change(product: Product) -> dict:
    return {"type": "product", "code": product.code, "identification": product.identification,
            "returnable": product.returnable, "rfid_tagged": product.rfid_tagged,
            "locker_size": product.locker_size, "pickup_days": product.pickup_days,
            "requestable": product.requestable, "names": dict(product.names)}


def list_products(th: Townhall) -> list[CatalogueProduct]:
    with th.sessions() as session:
        return [CatalogueProduct(p.code, p.identification, p.returnable, p.rfid_tagged, p.locker_size,
                                 p.pickup_days, p.requestable, dict(p.names))
                for p in session.scalars(select(Product).order_by(Product.code))]


def save_product(th: Townhall, product: CatalogueProduct) -> None:
    """Add or change a catalogue entry (validated like kioskd does) and send it to every kiosk."""
    with th.transaction() as session:
        _save_product(session, th, product)


def _save_product(session: Session, th: Townhall, product: CatalogueProduct) -> None:
    row = session.get(Product, product.code) or Product(code=product.code)
    row.identification, row.returnable, row.rfid_tagged = product.identification, product.returnable, \
        product.rfid_tagged
    row.locker_size, row.pickup_days, row.requestable = product.locker_size, product.pickup_days, \
        product.requestable
    row.names, row.updated_at = dict(product.names), th.now()
    session.add(row)
    session.flush()
    for kiosk_id in session.scalars(select(Kiosk.id).order_by(Kiosk.id)):  # one lock order: no deadlock
        _append(session, th, kiosk_id, product.code, product_change(row))


def seed_products(th: Townhall) -> None:
    """First start: the pilot catalogue (kioskd's own), unless products exist already."""
    with th.transaction() as session:
        if session.scalar(select(func.count()).select_from(Product)):
            return
        for product in pilot_products():
            _save_product(session, th, product)


# ---- the change feed -----------------------------------------------------------------------------------

def lock_feed(session: Session, kiosk_id: str) -> None:
    """Hold the kiosk's row until commit: its feed rows then commit in the order of their sequence numbers.

    On PostgreSQL a sequence number is taken at insert, not at commit, so without this a kiosk could read
    seq 7 (committed) while seq 6 is still in flight, move its cursor to 7 and never see 6. (SQLite serialises
    writers anyway; FOR UPDATE is left out there.)
    """
    session.execute(select(Kiosk.id).where(Kiosk.id == kiosk_id).with_for_update())


def _append(session: Session, th: Townhall, kiosk_id: str, ref: str, change: dict, pin: str | None = None,
            identity: dict | None = None) -> None:
    lock_feed(session, kiosk_id)
    secret = seal_change_secret(th, kiosk_id, ref, pin, identity)
    session.add(Change(kiosk_id=kiosk_id, ref=ref, change=change, secret=secret, created_at=th.now()))


def seal_change_secret(th: Townhall, kiosk_id: str, ref: str, pin: str | None,
                       identity: dict | None) -> bytes | None:
    """What a feed row must deliver but never store readable: its PIN and, for a reservation of a ``strong``
    product, ``national_number`` and ``authorised``. A bare PIN is sealed as itself (the rows written before
    national numbers existed), anything more as a JSON object (a PIN never starts with "{")."""
    if identity:
        return th.sealer.seal(json.dumps({"pin": pin, **identity}), f"change:{kiosk_id}:{ref}")
    return th.sealer.seal(pin, f"change:{kiosk_id}:{ref}") if pin else None


def open_change_secret(th: Townhall, change: Change) -> dict:
    """The fields sealed in a feed row, ready to merge into its change (``pin``, ``national_number``,
    ``authorised``); empty once the kiosk has confirmed the row."""
    if change.secret is None:
        return {}
    text = th.sealer.open(change.secret, f"change:{change.kiosk_id}:{change.ref}")
    if not text.startswith("{"):
        return {"pin": text}
    return {key: value for key, value in json.loads(text).items() if value}


def pending_identity(session: Session, th: Townhall, reservation: Reservation) -> dict:
    """The national numbers of ``reservation`` still waiting in an unconfirmed feed row (else nothing: the
    kiosk has them already, as its own keyed hashes)."""
    for row in session.scalars(select(Change).where(
            Change.kiosk_id == reservation.kiosk_id, Change.ref == reservation.id, Change.secret.is_not(None))
            .order_by(Change.seq.desc())):
        sealed = open_change_secret(th, row)
        if "national_number" in sealed:
            return {key: sealed[key] for key in ("national_number", "authorised") if key in sealed}
    return {}


def reservation_change(reservation: Reservation) -> dict:
    change = {"type": "reservation", "id": reservation.id, "product": reservation.product,
              "status": reservation.status}
    if reservation.status == "ready":
        change["locker"] = reservation.locker
    if reservation.expires_at is not None:
        change["expires_at"] = reservation.expires_at.isoformat()
    if reservation.kind == "loan":
        change["tags"] = list(reservation.tags)
    return change


# ---- reservations --------------------------------------------------------------------------------------

def _view(r: Reservation, now: datetime) -> ReservationView:
    shown = "expired" if r.status == "ready" and r.expires_at is not None and r.expires_at <= now else r.status
    session = object_session(r)
    identity = session.get(ReservationIdentity, r.id) if session is not None else None
    return ReservationView(r.id, r.kiosk_id, r.product, r.kind, r.status, shown, r.locker, r.citizen_name,
                           r.citizen_email, list(r.tags or []), list(r.returned_tags or []), r.expires_at,
                           r.created_at, r.ready_at, r.collected_at, r.returned_at, r.closed_at, r.cancelled_at,
                           r.notified_at, identity is not None,
                           len(identity.authorised_digests or []) if identity is not None else 0)


def normal_national_number(text: str | None) -> str:
    """The 11 digits of a national register number as staff type it (dots, dashes and spaces dropped)."""
    return NATIONAL_NUMBER_SEPARATORS.sub("", text or "")


def national_number_digest(th: Townhall, number: str) -> str:
    """The server's keyed hash of a national number (HMAC under the secret key): what itsme answers is matched
    against this, so the number itself need not be kept. (Kiosks hash it again under their own key.)"""
    return th.sealer.digest("national_number", number)


def check_identity(national_number: str | None, authorised) -> dict:
    """The holder's and authorised people's national numbers, normalised and checked (11 digits, mod-97);
    raises ServiceError naming the field. The ServiceError never quotes the number (it may reach a log)."""
    holder = normal_national_number(national_number)
    if not national_number_valid(holder):
        raise ServiceError("invalid_national_number",
                           "the national register number is 11 digits with a valid check number")
    others = [normal_national_number(text) for text in authorised or () if normal_national_number(text)]
    if len(others) > MAX_AUTHORISED:
        raise ServiceError("invalid_authorised", f"at most {MAX_AUTHORISED} authorised people")
    for position, number in enumerate(others, 1):
        if not national_number_valid(number):
            raise ServiceError("invalid_authorised", f"authorised person {position}: the national register "
                                                     "number is 11 digits with a valid check number")
    others = [number for number in dict.fromkeys(others) if number != holder]
    return {"national_number": holder, "authorised": others} if others else {"national_number": holder}


def _normal_tags(tags) -> list[str]:
    normal = [str(tag).strip().upper() for tag in tags]
    if not 1 <= len(normal) <= 100:
        raise ServiceError("invalid_tags", "a loan lists 1 to 100 RFID tags")
    bad = [tag for tag in normal if not TAG_PATTERN.match(tag)]
    if bad:
        raise ServiceError("invalid_tags", f"not an RFID tag id (4–20 hexadecimal digits): {bad[0]}")
    if len(set(normal)) != len(normal):
        raise ServiceError("invalid_tags", "a tag is listed twice")
    return normal


def _unique_pin(session: Session, th: Townhall, kiosk_id: str) -> tuple[str, str]:
    """An 8-digit (``reservations.pin_length``) PIN no open reservation of this kiosk holds, and its digest."""
    for _ in range(50):
        pin = "".join(secrets.choice("0123456789") for _ in range(th.config.pin_length))
        digest = th.sealer.digest(f"pin:{kiosk_id}", pin)
        if session.scalar(select(Reservation.id).where(Reservation.kiosk_id == kiosk_id,
                                                       Reservation.pin_digest == digest)) is None:
            return pin, digest
    raise ServiceError("no_free_pin", "could not find a free PIN for this kiosk")


def _new_id(session: Session) -> str:
    while True:
        candidate = f"R-{secrets.randbelow(90_000_000) + 10_000_000}"
        if session.get(Reservation, candidate) is None:
            return candidate


def create_reservation(th: Townhall, *, kiosk_id: str, product: str, citizen: Citizen, kind: str = "pickup",
                       tags: list[str] | tuple[str, ...] = (), locker: int | None = None,
                       expires_at: datetime | None = None, reservation_id: str | None = None,
                       created_by: str | None = None, notify: bool = True, national_number: str | None = None,
                       authorised: list[str] | tuple[str, ...] = ()) -> CreatedReservation:
    """A pickup or loan for ``citizen`` at ``kiosk_id``: ``awaiting_stock`` (staff load it at the kiosk) or,
    with ``locker``, ``ready`` there. Generates the PIN, mints the QR token, feeds the kiosk, e-mails the citizen.

    A ``strong`` product (a personal document) needs the holder's ``national_number`` and may name up to five
    ``authorised`` people: they go to the kiosk sealed in the feed, and stay here only as keyed hashes.
    """
    now = th.now()
    if kind not in ("pickup", "loan"):
        raise ServiceError("invalid_kind", "kind is pickup or loan")
    name = (citizen.name or "").strip()
    if not 1 <= len(name) <= 200 or not name.isprintable():
        raise ServiceError("invalid_citizen", "the citizen's name is 1–200 printable characters")
    email = (citizen.email or "").strip() or None
    if email is not None and not EMAIL_PATTERN.match(email):
        raise ServiceError("invalid_email", "not an e-mail address")
    if reservation_id is not None and not ID_PATTERN.match(reservation_id):
        raise ServiceError("invalid_id", "a reservation id is 1–64 letters, digits, '.', '_' or '-'")
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= now):
        raise ServiceError("invalid_expiry", "the expiry must be a time in the future, with its time zone")
    if locker is not None and (isinstance(locker, bool) or not isinstance(locker, int) or not 1 <= locker <= 999):
        raise ServiceError("invalid_locker", "a locker is a number from 1 to 999")
    with th.transaction() as session:
        kiosk = session.get(Kiosk, kiosk_id)
        if kiosk is None:
            raise ServiceError("unknown_kiosk", f"no kiosk {kiosk_id!r}")
        item = session.get(Product, product)
        if item is None:
            raise ServiceError("unknown_product", f"no product {product!r} in the catalogue")
        normal_tags: list[str] = []
        if kind == "loan":
            if not (item.returnable and item.rfid_tagged):
                raise ServiceError("not_loanable", f"{product} is not a returnable, RFID-tagged product")
            normal_tags = _normal_tags(tags)
            _check_tags_free(session, kiosk_id, normal_tags)
        elif tags:
            raise ServiceError("invalid_tags", "only a loan lists tags")
        identity = None
        if item.identification == "strong":
            if not normal_national_number(national_number):
                raise ServiceError("national_number_required",
                                   f"{product} is handed out only to its holder: give the national register number")
            identity = check_identity(national_number, authorised)
        elif normal_national_number(national_number) or any(normal_national_number(a) for a in authorised or ()):
            raise ServiceError("national_number_not_needed",
                               f"{product} is collected with a PIN or QR code: leave the national number empty")
        if locker is not None:
            _check_locker_free(session, kiosk, locker)
        if reservation_id is not None and session.get(Reservation, reservation_id) is not None:
            raise ServiceError("duplicate_id", f"reservation {reservation_id} exists already")
        pin, digest = _unique_pin(session, th, kiosk_id)
        status = "awaiting_stock" if locker is None else "ready"
        if status == "ready" and expires_at is None:
            expires_at = now + timedelta(days=item.pickup_days)
        reservation = Reservation(
            id=reservation_id or _new_id(session), kiosk_id=kiosk_id, product=product, kind=kind, status=status,
            locker=locker, citizen_name=name, citizen_email=email, tags=normal_tags, returned_tags=[],
            expires_at=expires_at, created_at=now, updated_at=now, ready_at=now if status == "ready" else None,
            created_by=created_by)
        reservation.pin_digest = digest
        session.add(reservation)
        session.flush()
        reservation.pin_sealed = th.sealer.seal(pin, f"reservation:{reservation.id}")
        if identity is not None:
            session.add(ReservationIdentity(
                reservation_id=reservation.id, holder_digest=national_number_digest(th, identity["national_number"]),
                authorised_digests=[national_number_digest(th, n) for n in identity.get("authorised", [])]))
            session.flush()
        _append(session, th, kiosk_id, reservation.id, reservation_change(reservation), pin, identity)
        token = _mint(th, reservation, item.pickup_days)
        view = _view(reservation, now)
    notified_to, error = (_notify(th, view, pin, token) if notify else (None, None))
    return CreatedReservation(view, pin, token, notified_to, error)


def _check_tags_free(session: Session, kiosk_id: str, tags: list[str]) -> None:
    lent = set()
    for reservation in session.scalars(select(Reservation).where(
            Reservation.kiosk_id == kiosk_id, Reservation.kind == "loan", Reservation.status.in_(OPEN_STATUSES))):
        lent |= set(reservation.tags or []) - set(reservation.returned_tags or [])
    badges = set(session.scalars(select(Badge.uid).where(Badge.kiosk_id == kiosk_id, Badge.active.is_(True))))
    for tag in tags:
        if tag in lent:
            raise ServiceError("tag_lent", f"tag {tag} is still lent by another loan")
        if tag in badges:
            raise ServiceError("tag_is_badge", f"tag {tag} is a staff badge at this kiosk")


def _check_locker_free(session: Session, kiosk: Kiosk, locker: int) -> None:
    lockers = (kiosk.last_heartbeat or {}).get("lockers") or []
    known = {cell.get("locker"): cell for cell in lockers if isinstance(cell, dict)}
    if known and locker not in known:
        raise ServiceError("unknown_locker", f"kiosk {kiosk.id} has no locker {locker}")
    if known and known[locker].get("contents") not in (None, "empty"):
        raise ServiceError("locker_occupied", f"locker {locker} is not empty (kiosk's last heartbeat)")
    taken = session.scalar(select(Reservation.id).where(
        Reservation.kiosk_id == kiosk.id, Reservation.locker == locker,
        Reservation.status.in_(("ready", "cancelled", "returned", "partially_returned")),
        Reservation.closed_at.is_(None)))
    if taken is not None:
        raise ServiceError("locker_occupied", f"locker {locker} holds reservation {taken}")


def _mint(th: Townhall, reservation: Reservation, pickup_days: int) -> str:
    """The QR token: valid until the reservation's expiry, or for one still to be loaded, long enough for
    loading plus its pickup time (``reservations.qr_await_days``)."""
    if reservation.expires_at is not None:
        expiry = reservation.expires_at.timestamp()
    else:
        expiry = th.clock() + (th.config.qr_await_days + pickup_days) * 86400
    return tokens.mint(th.qr_key, reservation.id, reservation.kiosk_id, expiry)


def _notify(th: Townhall, view: ReservationView, pin: str | None, token: str,
            changed: bool = False) -> tuple[str | None, str | None]:
    """After the commit: a failed e-mail never undoes a reservation; staff can re-send it."""
    if not view.citizen_email:
        return None, None
    with th.sessions() as session:
        product = session.get(Product, view.product)
        kiosk = session.get(Kiosk, view.kiosk_id)
        product_name = product.names.get("en", product.code) if product else view.product
        kiosk_name = kiosk.name if kiosk else view.kiosk_id
    message = reservation_message(
        sender=th.config.mail.sender, to=view.citizen_email, citizen=view.citizen_name, reservation_id=view.id,
        product_name=product_name, kiosk_name=kiosk_name, pin=pin, qr_token=token,
        expires=view.expires_at.isoformat(timespec="minutes") if view.expires_at else None,
        loan=view.kind == "loan", changed=changed)
    try:
        where = th.mailer.send(message)
    except NotifyError as exc:
        log.warning("reservation %s: the citizen's e-mail was not sent: %s", view.id, exc)
        return None, str(exc)
    with th.transaction() as session:
        session.get(Reservation, view.id).notified_at = th.now()
    return where, None


def resend_notification(th: Townhall, reservation_id: str) -> str | None:
    """E-mail the citizen their code and a fresh QR again (while the reservation is open)."""
    with th.sessions() as session:
        reservation = _open_reservation(session, reservation_id)
        pin = th.sealer.open(reservation.pin_sealed, f"reservation:{reservation.id}") \
            if reservation.pin_sealed else None
        token = _mint(th, reservation, session.get(Product, reservation.product).pickup_days)
        view = _view(reservation, th.now())
    where, error = _notify(th, view, pin, token)
    if error:
        raise ServiceError("notify_failed", error)
    return where


def send_to_kiosk_again(th: Townhall, reservation_id: str, *, national_number: str | None = None,
                        authorised: list[str] | tuple[str, ...] | None = None) -> None:
    """Append the reservation to its kiosk's feed once more, with its PIN (e.g. after the kiosk refused it:
    a ``changes.refused`` event on its page), once the cause is fixed.

    National numbers the kiosk has not confirmed yet go along again. Once it has confirmed them the server no
    longer has them (only its own keyed hashes), so the entry goes without them and the kiosk keeps the hashes it
    holds; if the kiosk skipped the entry that carried them, staff type the holder's number again
    (``national_number``, checked against the hash on file, with ``authorised`` replacing the list).
    """
    with th.transaction() as session:
        reservation = _open_reservation(session, reservation_id)
        if reservation.status not in ("awaiting_stock", "ready"):
            raise ServiceError("not_open", "only a reservation awaiting stock or ready can be sent again")
        pin = th.sealer.open(reservation.pin_sealed, f"reservation:{reservation.id}") \
            if reservation.pin_sealed else None
        identity = pending_identity(session, th, reservation) or None
        if normal_national_number(national_number):
            on_file = session.get(ReservationIdentity, reservation.id)
            identity = check_identity(national_number, authorised or ())
            if on_file is None or not secrets.compare_digest(
                    on_file.holder_digest, national_number_digest(th, identity["national_number"])):
                raise ServiceError("national_number_differs",
                                   "that is not the national register number on file for this reservation")
            on_file.authorised_digests = [national_number_digest(th, n) for n in identity.get("authorised", [])]
        _append(session, th, reservation.kiosk_id, reservation.id, reservation_change(reservation), pin, identity)


def _open_reservation(session: Session, reservation_id: str) -> Reservation:
    reservation = session.get(Reservation, reservation_id)
    if reservation is None:
        raise ServiceError("unknown_reservation", f"no reservation {reservation_id!r}")
    if reservation.status not in OPEN_STATUSES:
        raise ServiceError("finished", f"reservation {reservation_id} is {reservation.status}")
    return reservation


def forget_pin(reservation: Reservation) -> None:
    """A finished reservation needs its PIN no more: the sealed copy and the uniqueness digest go, and so do
    the keyed hashes of the national numbers that itsme answers were matched against, and whatever is still
    sealed in its feed rows (PIN, national numbers) — also in rows the kiosk has not confirmed, or never pulled:
    a kiosk that stays away must not leave them readable here. A kiosk that never had the reservation does not
    miss them: ``exchange.changes_page`` voids the rows of a finished reservation it never got (docs/itsme.md,
    "National numbers")."""
    reservation.pin_sealed = None
    reservation.pin_digest = None
    session = object_session(reservation)
    if session is None:
        return
    identity = session.get(ReservationIdentity, reservation.id)
    if identity is not None:
        session.delete(identity)
    session.execute(update(Change).where(Change.kiosk_id == reservation.kiosk_id, Change.ref == reservation.id,
                                         Change.secret.is_not(None)).values(secret=None)
                    .execution_options(synchronize_session=False))
    for row in session.identity_map.values():  # rows of this reservation already loaded in the session
        if isinstance(row, Change) and row.kiosk_id == reservation.kiosk_id and row.ref == reservation.id:
            session.expire(row, ["secret"])


def erase_stale_secrets(th: Townhall) -> int:
    """The retention limit of sealed secrets (``sync.sealed_secret_days``): a feed row's PIN and national numbers
    that its kiosk has not confirmed within that many days are erased (the kiosk then gets the row without them;
    staff send the reservation again, typing the holder's number, or give the badge a new PIN). Returns how many
    rows were erased."""
    cutoff = th.now() - timedelta(days=th.config.sealed_secret_days)
    with th.transaction() as session:
        result = session.execute(update(Change).where(Change.secret.is_not(None), Change.created_at < cutoff)
                                 .values(secret=None).execution_options(synchronize_session=False))
        count = result.rowcount or 0
    if count:
        log.info("erased the sealed secrets of %d feed rows older than %d days", count, th.config.sealed_secret_days)
    return count


def cancel_reservation(th: Townhall, reservation_id: str, *, by: str | None = None) -> ReservationView:
    """Withdraw a reservation the kiosk has not handed out; its codes stop working when the kiosk syncs."""
    with th.transaction() as session:
        reservation = session.get(Reservation, reservation_id, with_for_update=True)
        if reservation is None:
            raise ServiceError("unknown_reservation", f"no reservation {reservation_id!r}")
        if reservation.status not in TOWN_HALL_STATUSES:
            raise ServiceError("not_cancellable", f"reservation {reservation_id} is {reservation.status}")
        now = th.now()
        was_in_locker = reservation.status == "ready"
        reservation.status = "cancelled"
        reservation.cancelled_at = reservation.updated_at = now
        if not was_in_locker:
            reservation.closed_at = now  # nothing to take out
        forget_pin(reservation)
        _append(session, th, reservation.kiosk_id, reservation.id, {"type": "reservation.cancel",
                                                                    "id": reservation.id})
        log.info("reservation %s cancelled by %s", reservation_id, by or "?")
        return _view(reservation, now)


def extend_reservation(th: Townhall, reservation_id: str, expires_at: datetime, *,
                       by: str | None = None, notify: bool = True) -> ReservationView:
    """Give the citizen more time; the kiosk gets the new expiry, the citizen a QR code valid as long."""
    now = th.now()
    if expires_at.tzinfo is None or expires_at <= now:
        raise ServiceError("invalid_expiry", "the new expiry must be a time in the future, with its time zone")
    with th.transaction() as session:
        reservation = session.get(Reservation, reservation_id, with_for_update=True)
        if reservation is None:
            raise ServiceError("unknown_reservation", f"no reservation {reservation_id!r}")
        if reservation.status not in TOWN_HALL_STATUSES:
            raise ServiceError("not_extendable", f"reservation {reservation_id} is {reservation.status}")
        reservation.expires_at = expires_at
        reservation.updated_at = now
        _append(session, th, reservation.kiosk_id, reservation.id, reservation_change(reservation))
        token = _mint(th, reservation, session.get(Product, reservation.product).pickup_days)
        pin = th.sealer.open(reservation.pin_sealed, f"reservation:{reservation.id}") \
            if reservation.pin_sealed else None
        view = _view(reservation, now)
    log.info("reservation %s extended by %s", reservation_id, by or "?")
    if notify:
        _notify(th, view, pin, token, changed=True)
    return view


def get_reservation(th: Townhall, reservation_id: str) -> ReservationView | None:
    with th.sessions() as session:
        reservation = session.get(Reservation, reservation_id)
        return _view(reservation, th.now()) if reservation else None


def list_reservations(th: Townhall, *, kiosk_id: str | None = None, status: str | None = None,
                      open_only: bool = False, limit: int = 100, offset: int = 0) -> list[ReservationView]:
    """Newest first. ``status`` filters on the stored status ("expired" selects ready ones past expiry)."""
    now = th.now()
    query = select(Reservation).order_by(Reservation.created_at.desc(), Reservation.id)
    if kiosk_id:
        query = query.where(Reservation.kiosk_id == kiosk_id)
    if status == "expired":
        query = query.where(Reservation.status == "ready", Reservation.expires_at <= now)
    elif status:
        query = query.where(Reservation.status == status)
    if open_only:
        query = query.where(Reservation.status.in_(OPEN_STATUSES))
    with th.sessions() as session:
        return [_view(r, now) for r in session.scalars(query.limit(limit).offset(offset))]


# ---- badges --------------------------------------------------------------------------------------------

BADGE_UID = re.compile(r"^[0-9A-Fa-f]{4,20}$")
BADGE_PIN = re.compile(r"^\d{4,12}$")


def _weak_pin(pin: str) -> bool:
    steps = {int(b) - int(a) for a, b in zip(pin, pin[1:], strict=False)}
    return len(set(pin)) == 1 or steps in ({1}, {-1}, {1, -9}, {-1, 9})


def new_badge_pin(length: int = 6) -> str:
    """A random badge PIN that passes the kiosk's rules (not one digit repeated, not a run)."""
    while True:
        pin = "".join(secrets.choice("0123456789") for _ in range(length))
        if not _weak_pin(pin):
            return pin


def save_badge(th: Townhall, kiosk_id: str, uid: str, role: str, name: str, pin: str | None = None) -> BadgeView:
    """Enrol (or change) a staff or technician badge at a kiosk. The PIN only travels, sealed, in the feed."""
    if not BADGE_UID.match(uid or ""):
        raise ServiceError("invalid_uid", "a badge uid is 4–20 hexadecimal digits")
    if role not in ROLES:
        raise ServiceError("invalid_role", "role is staff or technician")
    name = (name or "").strip()
    if not 1 <= len(name) <= 80 or not name.isprintable():
        raise ServiceError("invalid_name", "a name is 1–80 printable characters")
    if pin is not None and (not BADGE_PIN.match(pin) or _weak_pin(pin)):
        raise ServiceError("invalid_pin", "a badge PIN is 4–12 digits, not one digit repeated nor a run")
    uid = uid.upper()
    with th.transaction() as session:
        if session.get(Kiosk, kiosk_id) is None:
            raise ServiceError("unknown_kiosk", f"no kiosk {kiosk_id!r}")
        badge = session.scalars(select(Badge).where(Badge.kiosk_id == kiosk_id, Badge.uid == uid)).first()
        if (badge is None or not badge.active) and pin is None:
            raise ServiceError("pin_required", "a new badge needs a PIN")
        _check_tags_free(session, kiosk_id, [uid]) if badge is None else None
        now = th.now()
        if badge is None:
            badge = Badge(kiosk_id=kiosk_id, uid=uid, created_at=now)
            session.add(badge)
        badge.role, badge.name, badge.active, badge.updated_at = role, name, True, now
        _append(session, th, kiosk_id, f"badge:{uid}", {"type": "badge", "uid": uid, "role": role, "name": name},
                pin)
        return BadgeView(kiosk_id, uid, role, name, True)


def revoke_badge(th: Townhall, kiosk_id: str, uid: str) -> None:
    with th.transaction() as session:
        badge = session.scalars(select(Badge).where(Badge.kiosk_id == kiosk_id, Badge.uid == (uid or "").upper(),
                                                    Badge.active.is_(True))).first()
        if badge is None:
            raise ServiceError("unknown_badge", "no such active badge at this kiosk")
        badge.active = False
        badge.updated_at = th.now()
        _append(session, th, kiosk_id, f"badge:{badge.uid}", {"type": "badge.revoke", "uid": badge.uid})


def list_badges(th: Townhall, kiosk_id: str) -> list[BadgeView]:
    with th.sessions() as session:
        return [BadgeView(b.kiosk_id, b.uid, b.role, b.name, b.active)
                for b in session.scalars(select(Badge).where(Badge.kiosk_id == kiosk_id).order_by(Badge.name))]


# ---- console users -------------------------------------------------------------------------------------

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_password(stored: str, password: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                                   dklen=len(digest) // 2)
    except (ValueError, TypeError):
        return False
    return secrets.compare_digest(candidate.hex(), digest)


def create_user(th: Townhall, username: str, password: str) -> None:
    """A console login; refuses a short password. There is no default user."""
    if not re.match(r"^[A-Za-z0-9._@-]{1,64}$", username or ""):
        raise ServiceError("invalid_username", "a username is 1–64 letters, digits, '.', '_', '@' or '-'")
    if len(password or "") < 10:
        raise ServiceError("weak_password", "a password has at least 10 characters")
    with th.transaction() as session:
        user = session.scalars(select(User).where(User.username == username)).first()
        if user is None:
            session.add(User(username=username, password_hash=hash_password(password), active=True,
                             created_at=th.now()))
        else:
            user.password_hash, user.active = hash_password(password), True


def verify_user(th: Townhall, username: str, password: str) -> bool:
    with th.sessions() as session:
        user = session.scalars(select(User).where(User.username == username, User.active.is_(True))).first()
    if user is None:
        hash_password(password)  # the same work either way: the answer's timing does not tell who exists
        return False
    return check_password(user.password_hash, password)


# ---- read-only views for the console, kept importable from here --------------------------------------------

from townhall.monitor import (  # noqa: E402, F401 - re-exported; monitor needs nothing from this module
    AlarmView,
    EventView,
    KioskGrid,
    KpiRow,
    LockerCell,
    active_alarms,
    event_log,
    kiosk_grid,
    kpis,
)

