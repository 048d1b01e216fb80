"""The citizen's return of loaned items: handlers for the pickup session's return phases.

A return is a session like a pickup (same language, audio mode, help, time limits and door handling),
so its phases live in the same state machine; this module holds what is particular to them:

    attract ──return──▶ RETURN_IDENTIFY ──tag / code / QR──▶ RETURN_TAGS ──continue──▶ RELEASING
        ──▶ WAIT_OPEN ──▶ WAIT_CLOSE ──door closed──▶ RETURN_DONE

Every item's tag is checked against the loan as it is presented: a tag of this loan counts once, a tag
already counted or already returned is said to be so, any other tag is "not part of this loan" (whose it
is, is never said). A partial return is allowed and recorded; the rest can come back later.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from kioskd import effects as fx
from kioskd.events import LoanSeen, ReturnRefused, TagRead, TagUnknown, Tap

if TYPE_CHECKING:
    from kioskd.flows.pickup import PickupFlow, PickupState, Result

OUT_STATUSES = ("on_loan", "collected", "partially_returned")


def _phase(name: str):
    from kioskd.flows.pickup import Phase

    return Phase[name]


def start_return(flow: PickupFlow, s: PickupState) -> Result:
    return replace(s, phase=_phase("RETURN_IDENTIFY"), purpose="return", notice=None), []


def tag_read(flow: PickupFlow, s: PickupState, e: TagRead, now: float) -> Result:
    """A tag at the reader: on the start screen or the return screen it starts a return (or is looked up);
    while items are being counted it is checked against the loan."""
    if s.phase is _phase("RETURN_TAGS"):
        return _count(s, e.tag)
    if s.phase is _phase("ATTRACT") and s.out_of_service:
        # no return while nothing can open; a staff or technician badge is still answered, so the
        # kiosk can be repaired (purpose stays "pickup": a loan's tag is ignored, an unknown tag too)
        return s, [fx.IdentifyTag(e.tag)]
    return replace(s, purpose="return", overlay=None), [fx.IdentifyTag(e.tag)]


def _count(s: PickupState, tag: str) -> Result:
    tag = tag.strip().upper()
    if tag in s.loan_outstanding and tag not in s.presented:
        return replace(s, presented=(*s.presented, tag), notice=None), [fx.Tone("complete"), fx.Say("screen")]
    if tag in s.presented or tag in s.loan_returned:
        return replace(s, notice="already_counted"), [fx.Tone("error"), fx.Say("screen")]
    return replace(s, notice="wrong_tag"), [fx.Tone("error"), fx.Say("screen")]


def loan_seen(flow: PickupFlow, s: PickupState, e: LoanSeen, now: float) -> Result:
    if s.purpose != "return":
        return s, []
    s = replace(s, reservation_id=e.reservation.id, method=s.method or "tag", loan_returned=e.returned,
                loan_outstanding=e.outstanding, presented=(), notice=None, locker=None)
    if e.reservation.status not in OUT_STATUSES:
        return flow.fail(s, "not_on_loan")
    if not e.outstanding:
        return flow.fail(s, "nothing_to_return")
    presented = (e.tag,) if e.tag in e.outstanding else ()
    return replace(s, phase=_phase("RETURN_TAGS"), presented=presented), [
        fx.StartTimer("inactivity", flow.settings.inactivity_seconds)]


def tag_unknown(flow: PickupFlow, s: PickupState, e: TagUnknown, now: float) -> Result:
    if s.phase is _phase("ATTRACT") and s.out_of_service:
        return s, []
    return flow.fail(replace(s, purpose="return"), "unknown_tag")


def return_refused(flow: PickupFlow, s: PickupState, e: ReturnRefused, now: float) -> Result:
    if s.phase is _phase("ATTRACT") and s.out_of_service:
        return s, []
    return flow.fail(s, e.reason)


def identify_tap(flow: PickupFlow, s: PickupState, e: Tap, now: float) -> Result:
    if e.action == "method:pin":
        return replace(s, phase=_phase("PIN"), code=""), []
    if e.action == "back":
        return flow.to_start(s)
    return s, []


def tags_tap(flow: PickupFlow, s: PickupState, e: Tap, now: float) -> Result:
    if e.action == "continue" and s.presented:
        return replace(s, phase=_phase("RELEASING"), notice=None), [
            fx.CancelTimer("inactivity"), fx.ReleaseForReturn(s.reservation_id, s.method or "tag", s.presented)]
    if e.action == "back":
        return replace(s, phase=_phase("RETURN_IDENTIFY"), presented=(), notice=None, reservation_id=None,
                       loan_outstanding=(), loan_returned=(), method=None), []
    return s, []


def done_tap(flow: PickupFlow, s: PickupState, e: Tap, now: float) -> Result:
    return flow.end_session(s) if e.action == "done" else (s, [])


def door_closed_effects(s: PickupState) -> list:
    """What a closed door settles on a return: the items counted are recorded in that locker."""
    return [fx.RecordReturn(s.reservation_id, s.presented, s.locker)]


def retry(s: PickupState) -> list:
    return [fx.ReleaseForReturn(s.reservation_id, s.method or "tag", s.presented)]
