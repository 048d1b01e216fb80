"""Identification at the kiosk: PIN and QR, staff badges, loans by item tag; failures counted.

This is shell code (it reads and writes the store); what a failure costs is decided by the pure
policy in ``kioskd.flows.lockout``.

A staff badge is an RFID tag plus a personal PIN. The badge uid alone proves little (125 kHz tags are
easily copied), so the PIN is the secret: both are stored only as keyed hashes, the PIN's bound to its
badge so two badges with the same PIN have different digests. An unknown or revoked badge is treated
like any unknown tag (``badge_known`` says None; the flow asks no PIN), so the kiosk reveals nothing
about enrolment. Wrong badge PINs are counted under the method ``badge`` with the citizens' policy.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from kioskd import tokens
from kioskd.clock import parse_iso
from kioskd.events import IdentificationFailed, Identified, IdentityChecked, ReservationView
from kioskd.flows.lockout import LockoutPolicy, LockoutState, after_failure, is_locked
from kioskd.inventory import LOAN_OUT_STATUSES, normalise_tag
from kioskd.secrets import keyed_hash
from kioskd.store import Store

COUNTED_QR_FAILURES = ("forged", "replayed", "wrong_kiosk")


def badge_digest(key: bytes, uid: str) -> str:
    """The stored identity of a badge; ``uid`` normalised (upper-case hex)."""
    return keyed_hash(key, "badge", uid)


def badge_pin_digest(key: bytes, uid: str, pin: str) -> str:
    """A badge PIN's digest, bound to its badge: the same PIN on two badges gives two digests."""
    return keyed_hash(key, "badge-pin", f"{uid}:{pin}")


@dataclass(frozen=True)
class Staff:
    """Someone who showed an enrolled badge and its PIN. ``badge_id`` is the badge's keyed hash."""

    badge_id: str
    role: str  # "staff" or "technician"
    name: str


@dataclass(frozen=True)
class LoanTag:
    tag: str
    returned_at: float | None
    return_locker: int | None


@dataclass(frozen=True)
class LoanView:
    """A loan and every item tag it lent, with what has come back."""

    reservation: ReservationView
    tags: tuple[LoanTag, ...]

    @property
    def outstanding(self) -> tuple[str, ...]:
        return tuple(t.tag for t in self.tags if t.returned_at is None)

    @property
    def on_loan(self) -> bool:
        """Collected and not all back: the state in which items can be returned."""
        return self.reservation.status in LOAN_OUT_STATUSES


class Identifier:
    def __init__(self, store: Store, *, key: bytes, public_key: Ed25519PublicKey, kiosk_id: str,
                 lockout: LockoutPolicy) -> None:
        self._store = store
        self._key = key
        self._public_key = public_key
        self._kiosk_id = kiosk_id
        self._policy = lockout

    def verify_pin(self, code: str, now: float) -> Identified | IdentificationFailed:
        state = self.lockout_state("pin")
        if is_locked(state, now):
            return IdentificationFailed("pin", "locked_out", state.locked_until)
        row = self._store.conn.execute(
            "SELECT reservation_id FROM credentials WHERE kind = 'pin' AND digest = ?",
            (keyed_hash(self._key, "pin", code),)).fetchone()
        view = self.reservation_view(row[0]) if row else None
        if view is None:
            return self._fail("pin", "unknown_code", now)
        return Identified(view, "pin")

    def verify_qr(self, text: str, now: float, *, spent_ok: bool = False) -> Identified | IdentificationFailed:
        state = self.lockout_state("qr")
        if is_locked(state, now):
            return IdentificationFailed("qr", "locked_out", state.locked_until)
        try:
            token = tokens.verify(self._public_key, text, self._kiosk_id, now)
        except tokens.TokenError as exc:
            if exc.reason in COUNTED_QR_FAILURES:
                return self._fail("qr", exc.reason, now)
            return IdentificationFailed("qr", exc.reason)
        spent = self._store.conn.execute(
            "SELECT 1 FROM spent_tokens WHERE token_id = ?", (token.token_id,)).fetchone()
        if spent and not spent_ok:  # a return names the loan with the QR its pickup already used
            return self._fail("qr", "replayed", now)
        view = self.reservation_view(token.reservation_id)
        if view is None:
            return IdentificationFailed("qr", "unknown_code")
        return Identified(view, "qr", token.token_id)

    def reservation_view(self, reservation_id: str) -> ReservationView | None:
        row = self._store.conn.execute(
            "SELECT r.id, r.product, r.status, r.locker, r.expires_at, p.identification"
            " FROM reservations r JOIN products p ON p.code = r.product WHERE r.id = ?",
            (reservation_id,)).fetchone()
        if row is None:
            return None
        expires = parse_iso(row[4]) if row[4] else None
        return ReservationView(row[0], row[1], row[2], row[3], expires, row[5])

    def badge_known(self, uid: str) -> str | None:
        """The role of an enrolled, active badge; None for any other tag (unknown and revoked alike)."""
        tag = normalise_tag(uid)
        if tag is None:
            return None
        row = self._store.conn.execute("SELECT role FROM badges WHERE uid_digest = ? AND active = 1",
                                       (badge_digest(self._key, tag),)).fetchone()
        return row[0] if row else None

    def verify_badge(self, uid: str, pin: str, now: float) -> Staff | IdentificationFailed:
        """Badge and PIN together; a wrong PIN and an unknown badge fail alike (``unknown_code``) and count."""
        state = self.lockout_state("badge")
        if is_locked(state, now):
            return IdentificationFailed("badge", "locked_out", state.locked_until)
        tag = normalise_tag(uid) or ""
        row = self._store.conn.execute(
            "SELECT uid_digest, role, name, pin_digest FROM badges WHERE uid_digest = ? AND active = 1",
            (badge_digest(self._key, tag),)).fetchone()
        # the PIN's digest is computed for an unknown badge too: both failures take the same time
        offered = badge_pin_digest(self._key, tag, pin)
        if row is None or not hmac.compare_digest(row[3], offered):
            return self._fail("badge", "unknown_code", now)
        return Staff(row[0], row[1], row[2])

    def find_loan_by_tag(self, tag: str) -> LoanView | None:
        """The loan an item tag belongs to, so an item can be returned by presenting it.

        A tag may have been lent before (a room key, loan after loan): the loan it is out with wins, then one
        not yet collected, then the latest that has it back. Cancelled and closed loans are not found.
        """
        tag = normalise_tag(tag)
        if tag is None:
            return None
        out = ", ".join("?" * len(LOAN_OUT_STATUSES))
        row = self._store.conn.execute(
            "SELECT t.reservation_id FROM reservation_tags t JOIN reservations r ON r.id = t.reservation_id"
            " WHERE t.tag = ? AND r.kind = 'loan' AND r.status NOT IN ('cancelled', 'closed')"
            f" ORDER BY CASE WHEN t.returned_at IS NULL AND r.status IN ({out}) THEN 0"
            " WHEN t.returned_at IS NULL THEN 1 ELSE 2 END, r.updated_at DESC LIMIT 1",
            (tag, *LOAN_OUT_STATUSES)).fetchone()
        return self.loan(row[0]) if row else None

    def loan(self, reservation_id: str) -> LoanView | None:
        """A loan with its tags (e.g. after identification by PIN or QR for a return); None if not a loan."""
        kind = self._store.conn.execute("SELECT kind FROM reservations WHERE id = ?", (reservation_id,)).fetchone()
        view = self.reservation_view(reservation_id)
        if view is None or kind is None or kind[0] != "loan":
            return None
        rows = self._store.conn.execute("SELECT tag, returned_at, return_locker FROM reservation_tags"
                                        " WHERE reservation_id = ? ORDER BY tag", (reservation_id,)).fetchall()
        return LoanView(view, tuple(LoanTag(tag, parse_iso(at) if at else None, locker) for tag, at, locker in rows))

    def check_person(self, reservation_id: str, digest: str, method: str, now: float) -> IdentityChecked:
        """Does a proven person (their national register number's keyed hash) match the reservation?

        Compared with the holder's and the authorised people's hashes; a mismatch is counted like a wrong code
        (under the method, "eid"), so cards cannot be tried one after another without end. The audit row says
        which method and role, never whose number.
        """
        state = self.lockout_state(method)
        if is_locked(state, now):
            return IdentityChecked(method, False, "locked_out", locked_until=state.locked_until)
        rows = self._store.conn.execute("SELECT digest, role FROM reservation_people WHERE reservation_id = ?",
                                        (reservation_id,)).fetchall()
        if not rows:
            with self._store.transaction():
                self._store.add_audit("citizen", "identity.not_on_file", {"method": method,
                                                                          "reservation": reservation_id}, now)
            return IdentityChecked(method, False, "no_holder")
        role = next((role for known, role in rows if hmac.compare_digest(known, digest)), None)
        if role is None:
            failed = self._fail(method, "mismatch", now)
            if failed.reason == "locked_out":
                return IdentityChecked(method, False, "locked_out", locked_until=failed.locked_until)
            return IdentityChecked(method, False, "mismatch")
        with self._store.transaction():
            self._store.add_audit("citizen", "identity.proven", {"method": method, "role": role,
                                                                  "reservation": reservation_id}, now)
        return IdentityChecked(method, True, role=role)

    def record_remote_proof(self, reservation_id: str, method: str, matched: bool, now: float) -> IdentityChecked:
        """A proof matched elsewhere (itsme: the town hall compared the numbers): audited and, when it failed,
        counted like a card of the wrong person. The role is not known here (the town hall keeps it)."""
        state = self.lockout_state(method)
        if is_locked(state, now):
            return IdentityChecked(method, False, "locked_out", locked_until=state.locked_until)
        if not matched:
            failed = self._fail(method, "mismatch", now)
            if failed.reason == "locked_out":
                return IdentityChecked(method, False, "locked_out", locked_until=failed.locked_until)
            return IdentityChecked(method, False, "mismatch")
        with self._store.transaction():
            self._store.add_audit("citizen", "identity.proven", {"method": method, "reservation": reservation_id},
                                  now)
        return IdentityChecked(method, True)

    def lockout_state(self, method: str) -> LockoutState:
        row = self._store.conn.execute(
            "SELECT failures, locked_until, last_failure FROM lockouts WHERE method = ?", (method,)).fetchone()
        return LockoutState(*row) if row else LockoutState()

    def _fail(self, method: str, reason: str, now: float) -> IdentificationFailed:
        with self._store.transaction():
            state = after_failure(self._policy, self.lockout_state(method), now)
            self._store.conn.execute(
                "INSERT OR REPLACE INTO lockouts (method, failures, locked_until, last_failure)"
                " VALUES (?, ?, ?, ?)", (method, state.failures, state.locked_until, state.last_failure))
            self._store.add_audit("staff" if method == "badge" else "citizen", "identification.failed",
                                  {"method": method, "reason": reason, "failures": state.failures}, now)
        if is_locked(state, now):
            return IdentificationFailed(method, "locked_out", state.locked_until)
        return IdentificationFailed(method, reason)
