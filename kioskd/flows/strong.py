"""Strong identification: a personal document opens only for the person it belongs to (or someone they authorised).

For a product whose identification is ``strong`` (a provisional driving licence, a first passport), the PIN
or QR code only says *which* reservation. The locker opens once the Belgian eID card or itsme proves that the
person at the kiosk is the reservation's holder or a person the holder authorised:

    CHECKING ──strong reservation──▶ PROVE (eID or itsme?) ──▶ EID_INSERT ──card in──▶ EID_READING
        ──CardRead ok──▶ CheckIdentity ──matched──▶ RELEASING …
                                      └──▶ ITSME (QR from the town hall) ──match──▶ RELEASING …

With one method available the choice is skipped; with none the citizen is told so, not refused as a
stranger. Every failure is explained without saying whose document it is: "this card is not the one this
reservation needs", never a name. A card PIN is asked only on a PIN-pad reader, tried once per press of the
citizen (the kiosk never retries a PIN: three wrong ones block the card), and never reaches this module.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

from kioskd import effects as fx
from kioskd.events import CardInserted, CardRead, CardRemoved, IdentityChecked, ItsmeResult, ItsmeStarted, Tap

if TYPE_CHECKING:
    from kioskd.events import Identified, ReservationView
    from kioskd.flows.pickup import PickupFlow, PickupState, Result

CARD_READ, ITSME_WAIT = "card_read", "itsme_wait"
CARD_READ_SECONDS = 20  # reading and verifying a card takes a second or two; this is the "stuck" limit
CARD_PIN_SECONDS = 60  # with a PIN pad the reader itself gives the citizen about 30 s to type
ITSME_GRACE_SECONDS = 15  # past the session's expiry without word from the town hall: give up
ITSME_START_SECONDS = 60  # no session from the town hall in this long (the link retries slow answers): give up

CARD_FAILURES = {"forged": "card_forged", "unreadable": "card_unreadable", "wrong_pin": "card_wrong_pin",
                 "pin_blocked": "card_pin_blocked", "pin_cancelled": "card_pin_cancelled"}
CHECK_FAILURES = {"mismatch": "identity_mismatch", "card_expired": "card_expired",
                  "no_holder": "identity_not_on_file", "locked_out": "locked_out"}
ITSME_FAILURES = {"mismatch": "identity_mismatch", "rejected": "itsme_rejected", "expired": "itsme_expired",
                  "cancelled": "itsme_expired", "unavailable": "itsme_unavailable"}


def _phase(name: str):
    from kioskd.flows.pickup import Phase

    return Phase[name]


def methods(flow: PickupFlow, s: PickupState) -> tuple[str, ...]:
    """The proofs this kiosk can take right now: the eID reader is up, itsme is configured and online."""
    found = []
    if flow.settings.eid and s.eid_available:
        found.append("eid")
    if flow.settings.itsme and s.online:
        found.append("itsme")
    return tuple(found)


def begin(flow: PickupFlow, s: PickupState, r: ReservationView, e: Identified) -> Result:
    """A strong reservation was named by its code: ask for the proof (the code alone opens nothing)."""
    s = replace(s, proving=True, token_id=e.token_id, card_tries=None)
    return choose(flow, s)


def choose(flow: PickupFlow, s: PickupState) -> Result:
    """The choice of proof, skipped when there is only one; explained when there is none."""
    available = methods(flow, s)
    if not available:
        return flow.fail(s, "strong_unavailable")
    if len(available) == 1:
        return _start_method(flow, s, available[0])
    return replace(s, phase=_phase("PROVE"), error=None), [
        fx.StartTimer("inactivity", flow.settings.inactivity_seconds)]


def _start_method(flow: PickupFlow, s: PickupState, method: str) -> Result:
    if method == "eid":
        if s.card_present:  # already in the reader (inserted before it was asked for): read it at once
            return _read(flow, s)
        return replace(s, phase=_phase("EID_INSERT"), error=None), [
            fx.StartTimer("inactivity", flow.settings.inactivity_seconds)]
    # until the town hall answers with a session (whose expiry then sets the limit), this is the limit
    return replace(s, phase=_phase("ITSME"), error=None, itsme_qr=None, itsme_session=None), [
        fx.CancelTimer("inactivity"), fx.StartTimer(ITSME_WAIT, ITSME_START_SECONDS), fx.StartItsme(s.reservation_id)]


def _read(flow: PickupFlow, s: PickupState) -> Result:
    pin_pad = flow.settings.card_pin_pad
    return replace(s, phase=_phase("EID_READING"), error=None), [
        fx.CancelTimer("inactivity"), fx.StartTimer(CARD_READ, CARD_PIN_SECONDS if pin_pad else CARD_READ_SECONDS),
        fx.ReadCard(verify_pin=pin_pad)]


def prove_tap(flow: PickupFlow, s: PickupState, e: Tap, now: float) -> Result:
    if e.action in ("prove:eid", "prove:itsme") and e.action[6:] in methods(flow, s):
        return _start_method(flow, s, e.action[6:])
    if e.action == "back":
        return back_to_method(s)
    return s, []


def back_to_method(s: PickupState) -> Result:
    """Leave the strong reservation: the next code may name another one."""
    return replace(s, phase=_phase("METHOD"), proving=False, reservation_id=None, locker=None, token_id=None,
                   error=None, card_tries=None, itsme_qr=None, itsme_session=None), []


def _back_to_choice(flow: PickupFlow, s: PickupState) -> Result:
    """"Back" from one proof: to the choice if there is one, otherwise out of the reservation."""
    if len(methods(flow, s)) > 1:
        return replace(s, phase=_phase("PROVE"), error=None), []
    return back_to_method(s)


def insert_tap(flow: PickupFlow, s: PickupState, e: Tap, now: float) -> Result:
    return _back_to_choice(flow, s) if e.action == "back" else (s, [])


def card_inserted(flow: PickupFlow, s: PickupState, e: CardInserted, now: float) -> Result:
    s = replace(s, card_present=True)
    if s.phase is _phase("EID_INSERT") and s.overlay is None:
        return _read(flow, s)
    return s, []


def card_removed(flow: PickupFlow, s: PickupState, e: CardRemoved, now: float) -> Result:
    """Only noted: a card pulled while being read makes the read fail, which says so."""
    return replace(s, card_present=False), []


def card_read(flow: PickupFlow, s: PickupState, e: CardRead, now: float) -> Result:
    if e.outcome == "ok" and e.identity is not None:
        return s, [fx.CancelTimer(CARD_READ), fx.CheckIdentity(s.reservation_id, e.identity)]
    reason = CARD_FAILURES.get(e.outcome, "card_unreadable")
    tries = e.tries_left if e.outcome == "wrong_pin" else None
    new, effects = flow.fail(replace(s, card_tries=tries), reason)
    return new, [fx.CancelTimer(CARD_READ), *effects]


def card_read_timer(flow: PickupFlow, s: PickupState, e, now: float) -> Result:
    if e.name != CARD_READ:
        return s, []
    return flow.fail(s, "card_unreadable")


def identity_checked(flow: PickupFlow, s: PickupState, e: IdentityChecked, now: float) -> Result:
    if not e.matched:
        locked = math.ceil(max(0.0, e.locked_until - now)) if e.locked_until else None
        new, effects = flow.fail(s, CHECK_FAILURES.get(e.reason, "identity_mismatch"), locked)
        if e.reason == "locked_out":  # no more tries now: the reservation is let go
            new = replace(new, proving=False)
        return new, effects
    method = f"{s.method}+{e.method}"  # which code named it, and which proof opened it
    return replace(s, phase=_phase("RELEASING"), method=method, proving=False, retried=False, reopens=0,
                   collected=False, itsme_qr=None, itsme_session=None), [
        fx.CancelTimer(ITSME_WAIT), fx.ReleaseLocker(s.reservation_id, s.locker, "pickup", method, s.token_id)]


def itsme_tap(flow: PickupFlow, s: PickupState, e: Tap, now: float) -> Result:
    if e.action != "back":
        return s, []
    new, effects = _back_to_choice(flow, s)
    return replace(new, itsme_qr=None, itsme_session=None), [fx.CancelTimer(ITSME_WAIT), fx.CancelItsme(), *effects]


def itsme_started(flow: PickupFlow, s: PickupState, e: ItsmeStarted, now: float) -> Result:
    if s.itsme_session is not None or e.reservation_id != s.reservation_id:
        return s, []  # a late answer about an earlier session, or about another reservation
    wait = max(1.0, e.expires_at - now) + ITSME_GRACE_SECONDS
    return replace(s, itsme_qr=e.qr, itsme_session=e.session_id), [fx.StartTimer(ITSME_WAIT, wait)]


def itsme_result(flow: PickupFlow, s: PickupState, e: ItsmeResult, now: float) -> Result:
    """Only the session this screen opened, for this reservation, can prove anyone; a session that never
    started (no id) can only fail."""
    if e.reservation_id != s.reservation_id:
        return s, []
    ours = bool(e.session_id) and e.session_id == s.itsme_session
    if e.outcome in ("match", "mismatch"):
        if not ours:
            return s, []
        return replace(s, itsme_qr=None, itsme_session=None), [
            fx.CancelTimer(ITSME_WAIT), fx.RecordItsme(s.reservation_id, e.outcome == "match")]
    if not ours and (e.session_id or s.itsme_session is not None):
        return s, []
    new, effects = flow.fail(replace(s, itsme_qr=None, itsme_session=None),
                             ITSME_FAILURES.get(e.outcome, "itsme_unavailable"))
    return new, [fx.CancelTimer(ITSME_WAIT), *effects]


def itsme_timer(flow: PickupFlow, s: PickupState, e, now: float) -> Result:
    if e.name != ITSME_WAIT:
        return s, []
    reason = "itsme_expired" if s.itsme_session else "itsme_unavailable"  # no session ever came: not reachable
    new, effects = flow.fail(replace(s, itsme_qr=None, itsme_session=None), reason)
    return new, [fx.CancelItsme(), *effects]


def error_back(flow: PickupFlow, s: PickupState) -> Result:
    """"OK" on a failed proof: try again (another card, the other method) while the reservation stays chosen."""
    s = replace(s, error=None, locked_seconds=None, card_tries=None)
    return choose(flow, s)


def view(flow: PickupFlow, s: PickupState) -> fx.Show:
    p = s.phase
    if p is _phase("PROVE"):
        available = methods(flow, s)
        return fx.Show("prove", {"eid": "eid" in available, "itsme": "itsme" in available})
    if p is _phase("EID_INSERT"):
        return fx.Show("eid_insert", {})
    if p is _phase("EID_READING"):
        return fx.Show("eid_reading", {"pin_pad": flow.settings.card_pin_pad})
    return fx.Show("itsme", {"qr": s.itsme_qr or ""})
