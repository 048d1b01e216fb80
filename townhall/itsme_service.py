"""What the kiosk API does with itsme: open a session for a reservation, advance it when the kiosk polls, cancel.

The CIBA flow is advanced when the kiosk asks for its session's status (every ``POLL_SECONDS``), not by a
background task: the server then needs no thread of its own, a session nobody polls any more costs nothing, and
itsme is asked at most once per its ``interval`` whatever the kiosk does. Every outcome is written to the
``itsme_sessions`` table (the audit) and logged — with ids, never the national number.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from sqlalchemy import delete, select

from townhall import services
from townhall.itsme import (
    FAILURES_BEFORE_UNAVAILABLE,
    POLL_SECONDS,
    SLOW_DOWN_SECONDS,
    ItsmeClient,
    ItsmeUnavailable,
    LiveSession,
    ProtocolError,
    SessionTable,
    Started,
    load_rp_keys,
    utc,
)
from townhall.models import ItsmeSession, Kiosk, Product, Reservation, ReservationIdentity
from townhall.ratelimit import RateLimiter

log = logging.getLogger(__name__)

OPEN_FOR_PICKUP = ("awaiting_stock", "ready")  # awaiting_stock: the kiosk's "loaded" event may not be here yet


class NotStrong(Exception):
    """The reservation is not one itsme can be used for (not a strong product, or no national number on file)."""


class TooManyStarts(Exception):
    """The kiosk opened more sessions than ``[itsme] starts_per_minute``; ``wait``: seconds until it may again."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"too many itsme sessions; ask again in {int(wait)} s")
        self.wait = int(wait)


class ItsmeService:
    def __init__(self, th, client: ItsmeClient | None) -> None:
        self.th = th
        self.client = client
        self.sessions = SessionTable()
        cap = th.config.itsme.starts_per_minute
        self.starts = RateLimiter(cap / 60.0, cap, clock=th.clock)  # per kiosk: each start costs itsme calls

    @classmethod
    def from_config(cls, th) -> ItsmeService:
        """Disabled (every session ``unavailable``) without an ``[itsme]`` section; a key file (signing or
        encryption) that is missing, malformed or readable by others stops the server at start (KeyFileError),
        like the other key files."""
        config = th.config.itsme
        if not config.enabled:
            return cls(th, None)
        signing, encryption = load_rp_keys(config)
        return cls(th, ItsmeClient(config, signing, encryption_key=encryption, clock=th.clock))

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    # ---- the three kiosk operations ----------------------------------------------------------------------

    def start(self, kiosk_id: str, reservation_id: str) -> Started:
        """Raises ``TooManyStarts``, ``services.ServiceError`` (unknown reservation), ``NotStrong`` or
        ``ItsmeUnavailable``."""
        wait = self.starts.take(kiosk_id)
        if wait:
            log.warning("itsme: kiosk %s opens sessions faster than %d a minute; refused for %d s", kiosk_id,
                        self.th.config.itsme.starts_per_minute, wait)
            raise TooManyStarts(wait)
        self._check_reservation(kiosk_id, reservation_id)
        if self.client is None:
            raise ItsmeUnavailable("itsme is not configured ([itsme] section)")
        for earlier in self.sessions.of_kiosk(kiosk_id):  # a kiosk runs one session at a time
            with earlier.busy:  # a poll of it in progress finishes first; its outcome then stands
                if earlier.status == "pending":
                    self._finish(earlier, "cancelled", "superseded by a new session of the kiosk")
        now = self.th.clock()
        try:
            discovery = self.client.start_discovery()
            pending = self.client.backchannel(discovery.handle, self._binding_message(kiosk_id))
        except ItsmeUnavailable as exc:
            log.warning("itsme session for reservation %s at kiosk %s not started: %s", reservation_id, kiosk_id,
                        exc)
            raise
        except Exception as exc:  # an answer no check foresaw: itsme is unavailable, the API never a 500
            log.warning("itsme session for reservation %s at kiosk %s not started: unexpected %s",
                        reservation_id, kiosk_id, type(exc).__name__)
            raise ItsmeUnavailable(f"unexpected {type(exc).__name__}") from None
        lifetime = min(float(self.th.config.itsme.session_seconds), discovery.expires_in, pending.expires_in)
        session = LiveSession(id=secrets.token_urlsafe(18), kiosk_id=kiosk_id, reservation_id=reservation_id,
                              auth_req_id=pending.auth_req_id, expires_at=now + lifetime, interval=pending.interval,
                              next_poll_at=now + pending.interval)
        with self.th.transaction() as db:
            db.add(ItsmeSession(id=session.id, kiosk_id=kiosk_id, reservation_id=reservation_id, started_at=utc(now)))
        for earlier in self.sessions.add_superseding(session):  # a start that raced this one
            with earlier.busy:
                if earlier.status == "pending":
                    self._finish(earlier, "cancelled", "superseded by a new session of the kiosk")
        self.sessions.purge(now)
        log.info("itsme session %s started for reservation %s at kiosk %s", session.id, reservation_id, kiosk_id)
        return Started(session.id, discovery.qr, utc(session.expires_at), POLL_SECONDS)

    def status(self, kiosk_id: str, session_id: str) -> str:
        """The session's state now, after asking itsme if its interval has passed. Raises SessionNotFound."""
        session = self.sessions.get(session_id, kiosk_id)
        if session.status == "pending" and session.busy.acquire(blocking=False):  # a parallel poll: "pending"
            try:
                if session.status == "pending":  # cancelled or superseded while this poll waited for the lock
                    self._advance(session)
            finally:
                session.busy.release()
        return session.status

    def cancel(self, kiosk_id: str, session_id: str) -> None:
        """CIBA has no cancellation request: the town hall forgets ``auth_req_id`` and never asks for its tokens;
        what the citizen does in the app afterwards reaches no one."""
        session = self.sessions.get(session_id, kiosk_id)
        with session.busy:
            if session.status == "pending":
                self._finish(session, "cancelled", None)

    # ---- the flow ----------------------------------------------------------------------------------------

    def _check_reservation(self, kiosk_id: str, reservation_id: str) -> None:
        with self.th.sessions() as db:
            reservation = db.get(Reservation, reservation_id)
            if reservation is None or reservation.kiosk_id != kiosk_id:
                raise services.ServiceError("unknown_reservation", "no such reservation for this kiosk")
            product = db.get(Product, reservation.product)
            if product is None or product.identification != "strong":
                raise NotStrong("the reservation is not for a product that needs strong identification")
            if reservation.status not in OPEN_FOR_PICKUP:
                raise NotStrong(f"the reservation is {reservation.status}")
            if reservation.expires_at is not None and reservation.expires_at <= self.th.now():
                raise NotStrong("the reservation has expired")
            if db.get(ReservationIdentity, reservation_id) is None:
                raise NotStrong("the reservation names no national register number")

    def _binding_message(self, kiosk_id: str) -> str:
        """Shown in the app: short, plain characters (CIBA 7.1), and it tells the citizen where they are."""
        with self.th.sessions() as db:
            kiosk = db.get(Kiosk, kiosk_id)
            name = kiosk.name if kiosk is not None else kiosk_id
        text = "".join(c for c in f"Pickup: {name}" if c.isalnum() or c in " :-.'")
        return text[:60]

    def _advance(self, session: LiveSession) -> None:
        now = self.th.clock()
        if now >= session.expires_at:
            self._finish(session, "expired", None)
            return
        if now < session.next_poll_at:
            return
        try:
            outcome, tokens = self.client.poll(session.auth_req_id)
        except ProtocolError as exc:
            self._finish(session, "unavailable", str(exc))
            return
        except ItsmeUnavailable as exc:
            session.failures += 1
            session.next_poll_at = now + session.interval
            if session.failures >= FAILURES_BEFORE_UNAVAILABLE:
                self._finish(session, "unavailable", str(exc))
            else:
                log.warning("itsme session %s: %s; asking again in %.0f s", session.id, exc, session.interval)
            return
        except Exception as exc:  # an answer no check foresaw ends the session, never the request with a 500
            self._finish(session, "unavailable", f"token: unexpected {type(exc).__name__}")
            return
        session.failures = 0
        if outcome == "pending":
            session.next_poll_at = now + session.interval
        elif outcome == "slow_down":
            session.interval += SLOW_DOWN_SECONDS
            session.next_poll_at = now + session.interval
        elif outcome in ("expired", "rejected"):
            self._finish(session, outcome, None)
        else:
            self._conclude(session, tokens)

    def _conclude(self, session: LiveSession, tokens: dict) -> None:
        """The citizen confirmed: who is it? Tokens are used here and dropped with this frame."""
        claim = self.th.config.itsme.national_number_claim
        try:
            claims = self.client.verify_id_token(tokens["id_token"], session.auth_req_id)
            info = self.client.userinfo(tokens["access_token"], claims["sub"])
        except ItsmeUnavailable as exc:  # the tokens were handed out once: there is no asking again
            self._finish(session, "unavailable", str(exc))
            return
        except Exception as exc:  # an answer no check foresaw: unavailable, never a 500 (the type only is kept)
            self._finish(session, "unavailable", f"id_token or userinfo: unexpected {type(exc).__name__}")
            return
        number = info.get(claim)
        if not isinstance(number, str) or not number:
            self._finish(session, "unavailable", "userinfo has no national number claim (service configuration?)")
            return
        digest = services.national_number_digest(self.th, services.normal_national_number(number))
        del number, info, tokens
        with self.th.sessions() as db:
            identity = db.get(ReservationIdentity, session.reservation_id)
            holder = identity.holder_digest if identity is not None else None
            others = list(identity.authorised_digests or []) if identity is not None else []
        if holder is None:
            self._finish(session, "unavailable", "the reservation is no longer open")
            return
        matches = [secrets.compare_digest(digest, known) for known in [holder, *others]]
        self._finish(session, "match" if any(matches) else "mismatch", None)

    def _finish(self, session: LiveSession, outcome: str, reason: str | None) -> None:
        session.status = outcome
        session.finished_at = self.th.clock()
        session.auth_req_id = ""
        with self.th.transaction() as db:
            row = db.get(ItsmeSession, session.id)
            if row is not None:
                row.outcome, row.reason, row.finished_at = outcome, (reason or None) and reason[:200], self.th.now()
        if outcome == "unavailable":
            log.warning("itsme session %s (reservation %s, kiosk %s): unavailable: %s", session.id,
                        session.reservation_id, session.kiosk_id, reason)
        else:
            log.info("itsme session %s (reservation %s, kiosk %s): %s", session.id, session.reservation_id,
                     session.kiosk_id, outcome)


def prune_audit(th) -> int:
    """The ``itsme_sessions`` audit keeps ``[itsme] audit_days`` (180) days: older rows are deleted (at start and
    hourly, ``Townhall.housekeeping``). Returns how many."""
    cutoff = th.now() - timedelta(days=th.config.itsme.audit_days)
    with th.transaction() as db:
        count = db.execute(delete(ItsmeSession).where(ItsmeSession.started_at < cutoff)
                           .execution_options(synchronize_session=False)).rowcount or 0
    if count:
        log.info("itsme audit: deleted %d sessions older than %d days", count, th.config.itsme.audit_days)
    return count


def recent_sessions(th, kiosk_id: str | None = None, limit: int = 50) -> list[ItsmeSession]:
    """The audit, newest first (for the console and tests)."""
    query = select(ItsmeSession).order_by(ItsmeSession.started_at.desc()).limit(limit)
    if kiosk_id:
        query = query.where(ItsmeSession.kiosk_id == kiosk_id)
    with th.sessions() as db:
        return list(db.scalars(query))
