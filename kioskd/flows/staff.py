"""Staff at the kiosk: loading lockers and emptying them, after an enrolled badge and its PIN.

Handlers for the session's staff phases (the session's language, help, time limits and door handling are
shared with citizens'):

    attract ──badge──▶ STAFF_PIN ──PIN ok──▶ STAFF_MENU ─┬─load──▶ STAFF_LOAD ──item──▶ door (load) ─┐
                                                         └─collect─▶ STAFF_COLLECT ──locker──▶ door ─┤
                                          back to the list, with a confirmation, for the next one ◀──┘

The badge's UID is held in memory only while its PIN is typed; the session then knows the staff member by
the badge's keyed hash (for the audit trail) and name. No PIN digit is shown or spoken. "Start over" logs
out; so does silence, after the usual warning.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from kioskd import effects as fx
from kioskd.events import BadgeSeen, IdentificationFailed, StaffIdentified, StaffWork, Tap
from kioskd.flows import service

if TYPE_CHECKING:
    from kioskd.flows.pickup import PickupFlow, PickupState, Result

PAGE_SIZE = 4
PIN_MAX = 12


def _phase(name: str):
    from kioskd.flows.pickup import Phase

    return Phase[name]


def badge_seen(flow: PickupFlow, s: PickupState, e: BadgeSeen, now: float) -> Result:
    if s.phase is not _phase("ATTRACT") and s.phase is not _phase("RETURN_IDENTIFY"):
        return s, []
    # a fresh start: nothing of a citizen's return (a loan, its tags) carries into the staff session
    return replace(s, phase=_phase("STAFF_PIN"), purpose="staff", staff_uid=e.uid, code="", overlay=None,
                   reservation_id=None, locker=None, release_id=None, method=None, loan_outstanding=(),
                   loan_returned=(), presented=(), notice=None), []


def pin_tap(flow: PickupFlow, s: PickupState, e: Tap, now: float) -> Result:
    action = e.action
    if action.startswith("digit:") and len(action) == 7 and action[6:].isdecimal():
        if len(s.code) >= PIN_MAX:
            return s, [fx.Tone("error")]
        return replace(s, code=s.code + action[6:]), []
    if action == "erase":
        return replace(s, code=s.code[:-1]), []
    if action == "ok" and s.code and s.staff_uid:
        return replace(s, phase=_phase("CHECKING"), code=""), [fx.CancelTimer("inactivity"),
                                                              fx.VerifyBadge(s.staff_uid, s.code)]
    return s, []


def identified(flow: PickupFlow, s: PickupState, e: StaffIdentified, now: float) -> Result:
    """Staff go to their menu; a technician's badge opens service mode instead (a separate role)."""
    if e.role == "technician":
        return service.enter(flow, s, e)
    new = replace(s, phase=_phase("STAFF_MENU"), staff_uid=None, staff_badge=e.badge_id, staff_name=e.name,
                  staff_role=e.role, page=0)
    return new, [fx.LoadStaffWork(), fx.StartTimer("inactivity", flow.settings.inactivity_seconds)]


def refused(flow: PickupFlow, s: PickupState, e: IdentificationFailed, now: float) -> Result:
    reason = "locked_out" if e.reason == "locked_out" else "badge_refused"
    new, effects = flow.fail(s, reason)
    if reason == "locked_out":  # no second chance now: the badge is forgotten
        new = replace(new, staff_uid=None)
    return new, effects


def work(flow: PickupFlow, s: PickupState, e: StaffWork, now: float) -> Result:
    pages = _pages(len(e.stock) if s.phase is _phase("STAFF_LOAD") else len(e.collection))
    return replace(s, stock=e.stock, collection=e.collection, page=min(s.page, pages - 1)), []


def menu_tap(flow: PickupFlow, s: PickupState, e: Tap, now: float) -> Result:
    if e.action == "load":
        return replace(s, phase=_phase("STAFF_LOAD"), page=0, staff_notice=None), []
    if e.action == "collect":
        return replace(s, phase=_phase("STAFF_COLLECT"), page=0, staff_notice=None), []
    return s, []


def load_tap(flow: PickupFlow, s: PickupState, e: Tap, now: float) -> Result:
    if e.action.startswith("load:"):
        rid = e.action[5:]
        if any(item["id"] == rid for item in s.stock):
            return replace(s, phase=_phase("RELEASING"), purpose="load", reservation_id=rid, staff_notice=None,
                           retried=False), [fx.CancelTimer("inactivity"), fx.ReleaseForLoad(rid, s.staff_badge)]
        return s, []
    return _list_tap(s, e, len(s.stock))


def load_scanned(flow: PickupFlow, s: PickupState, reservation_id: str) -> Result:
    """An order's QR from its envelope: load it if it is waiting, otherwise back to the list with a tone."""
    if any(item["id"] == reservation_id for item in s.stock):
        return replace(s, phase=_phase("RELEASING"), purpose="load", reservation_id=reservation_id,
                       staff_notice=None, retried=False), [fx.ReleaseForLoad(reservation_id, s.staff_badge)]
    return replace(s, phase=_phase("STAFF_LOAD"), purpose="staff", method=None), [
        fx.Tone("error"), fx.StartTimer("inactivity", flow.settings.inactivity_seconds)]


def collect_tap(flow: PickupFlow, s: PickupState, e: Tap, now: float) -> Result:
    if e.action.startswith("take:") and e.action[5:].isdecimal():
        locker = int(e.action[5:])
        if any(item["locker"] == locker for item in s.collection):
            return replace(s, phase=_phase("RELEASING"), purpose="take_out", locker=locker, staff_notice=None,
                           reservation_id=None, retried=False), [fx.CancelTimer("inactivity"),
                                                                 fx.ReleaseForTakeOut(locker, s.staff_badge)]
        return s, []
    return _list_tap(s, e, len(s.collection))


def _list_tap(s: PickupState, e: Tap, count: int) -> Result:
    if e.action == "next":
        return replace(s, page=min(s.page + 1, _pages(count) - 1)), []
    if e.action == "prev":
        return replace(s, page=max(s.page - 1, 0)), []
    if e.action == "back":
        return replace(s, phase=_phase("STAFF_MENU"), page=0, staff_notice=None), []
    return s, []


def _pages(count: int) -> int:
    return max(1, -(-count // PAGE_SIZE))


def door_closed(flow: PickupFlow, s: PickupState) -> Result:
    """The staff member closed the door: record it, and back to the list for the next one."""
    if s.purpose == "load":
        effects = [fx.RecordLoaded(s.reservation_id, s.locker, s.staff_badge)]
        notice, phase = {"id": s.reservation_id, "locker": s.locker}, "STAFF_LOAD"
    else:
        effects = [fx.RecordTakenOut(s.locker, s.staff_badge)]
        notice, phase = {"locker": s.locker}, "STAFF_COLLECT"
    new = replace(s, phase=_phase(phase), purpose="staff", staff_notice=notice, reservation_id=None,
                  release_id=None, overlay=None)
    return new, [*effects, fx.LoadStaffWork(), fx.StartTimer("inactivity", flow.settings.inactivity_seconds)]


def settle_left_open(s: PickupState) -> list:
    """A staff door left open past the alarm: what was done is still recorded."""
    if s.purpose == "load":
        return [fx.RecordLoaded(s.reservation_id, s.locker, s.staff_badge)]
    return [fx.RecordTakenOut(s.locker, s.staff_badge)]


def retry(s: PickupState) -> list:
    if s.purpose == "load":
        return [fx.ReleaseForLoad(s.reservation_id, s.staff_badge)]
    return [fx.ReleaseForTakeOut(s.locker, s.staff_badge)]


def view(s: PickupState) -> fx.Show:
    p = s.phase
    if p is _phase("STAFF_PIN"):
        return fx.Show("staff_pin", {"entered": len(s.code)})
    if p is _phase("STAFF_MENU"):
        return fx.Show("staff_menu", {"name": s.staff_name or "", "to_load": len(s.stock),
                                      "to_collect": len(s.collection)})
    items = s.stock if p is _phase("STAFF_LOAD") else s.collection
    pages = _pages(len(items))
    page = items[s.page * PAGE_SIZE:(s.page + 1) * PAGE_SIZE]
    if p is _phase("STAFF_LOAD"):
        return fx.Show("staff_load", {"items": list(page), "page": s.page, "pages": pages,
                                      "loaded": s.staff_notice})
    emptied = s.staff_notice["locker"] if s.staff_notice else None
    return fx.Show("staff_collect", {"lockers": list(page), "page": s.page, "pages": pages, "emptied": emptied})
