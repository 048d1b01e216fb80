"""Identification at the kiosk: PIN and QR, checked against the store, failures counted.

This is shell code (it reads and writes the store); what a failure costs is decided by the pure
policy in ``kioskd.flows.lockout``.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from kioskd import tokens
from kioskd.clock import parse_iso
from kioskd.events import IdentificationFailed, Identified, ReservationView
from kioskd.flows.lockout import LockoutPolicy, LockoutState, after_failure, is_locked
from kioskd.secrets import keyed_hash
from kioskd.store import Store

COUNTED_QR_FAILURES = ("forged", "replayed", "wrong_kiosk")


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

    def verify_qr(self, text: str, now: float) -> Identified | IdentificationFailed:
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
        if spent:
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
            self._store.add_audit("citizen", "identification.failed",
                                  {"method": method, "reason": reason, "failures": state.failures}, now)
        if is_locked(state, now):
            return IdentificationFailed(method, "locked_out", state.locked_until)
        return IdentificationFailed(method, reason)
