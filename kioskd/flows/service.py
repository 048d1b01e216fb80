"""Service mode for technicians: live status, door and relay tests, device tests, out-of-service lockers, log.

Handlers for the session's service phases, entered after a badge enrolled with the role "technician" and
its PIN (the staff flow's identification; a staff badge leads to the staff menu instead)::

    SERVICE_HOME ─┬─ lockers ─▶ SERVICE_LOCKERS ─┬─ locker:N ─▶ SERVICE_LOCKER ─┬─ open ─▶ SERVICE_CONFIRM
                  │                              └─ relay_test ─▶ SERVICE_CONFIRM  └─ service_toggle
                  ├─ tests ───▶ SERVICE_TESTS ─┬─ test:rfid ─▶ SERVICE_RFID
                  │                            ├─ test:camera ─▶ SERVICE_CAMERA
                  │                            └─ test:cards, test:audio (answered on the same screen)
                  └─ log ─────▶ SERVICE_LOG

The status (doors, flags, alarms, devices, outbox, reader frames, log lines) is read by the runner
(``LoadServiceStatus``) on entry, every ``refresh_seconds`` and after every door or device change, so the
grid is live. Every door a technician opens is journaled before its relay and audited in the badge's
name, like any release; a relay test opens the empty, closed lockers one after another and notes for
each whether its door opened. "Log out" ends service mode; so does silence, after the usual warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from kioskd import effects as fx
from kioskd.events import (
    DoorClosed,
    DoorOpened,
    QrScanned,
    ReleaseRefused,
    ReleaseStarted,
    ServiceResult,
    ServiceStatus,
    StaffIdentified,
    TagRead,
    Tap,
    TimerFired,
)

if TYPE_CHECKING:
    from kioskd.flows.pickup import PickupFlow, PickupState, Result

REFRESH, DOOR_TEST, RELAY_TEST, RELAY_SETTLE = "service_refresh", "service_door", "relay_test", "relay_settle"
LOG_PAGE_SIZE = 8  # log lines per page of the service_log screen
CAMERA_READS = 6  # decodes kept for the camera test
QR_SHOWN = 6  # characters of a decoded QR code shown: enough to recognise it, too few to reuse it


@dataclass(frozen=True)
class ServiceState:
    status: dict = field(default_factory=dict)  # the last ServiceStatus
    locker: int | None = None  # the locker on the detail screen
    result: str | None = None  # what the last open of that locker did: pulsed, opened, closed, not_opened, fault
    release_id: int | None = None
    confirm: str | None = None  # "open" or "relay_test" while the confirmation is shown
    test_queue: tuple[int, ...] = ()  # relay test: lockers still to pulse
    test_current: int | None = None
    test_release: int | None = None
    test_results: tuple[tuple[int, str], ...] = ()  # (locker, waiting|pulsed|opened|not_opened|fault)
    # relay-test doors that had not opened when the test moved on: (locker, release id), still pending for
    # the usual door-open time (a slow door is not "forced"), then closed as unopened
    test_unsettled: tuple[tuple[int, int], ...] = ()
    card: dict | None = None
    audio: dict | None = None
    reads: tuple[tuple[float, str, int], ...] = ()  # camera test: (time, shortened text, length)
    tags_read: int = 0
    log_page: int | None = None  # None: follow the newest lines
    grid_page: int = 0  # a bank too big to draw on the panel is shown a page at a time


def _phase(name: str):
    from kioskd.flows.pickup import Phase

    return Phase[name]


def service_phases() -> set:
    from kioskd.flows.pickup import SERVICE_PHASES

    return SERVICE_PHASES


def _go(s: PickupState, phase: str, **changes) -> PickupState:
    return replace(s, phase=_phase(phase), service=replace(s.service or ServiceState(), **changes))


# ---- entering and the live status -----------------------------------------------------------------


def enter(flow: PickupFlow, s: PickupState, e: StaffIdentified) -> Result:
    new = replace(s, phase=_phase("SERVICE_HOME"), staff_uid=None, staff_badge=e.badge_id, staff_name=e.name,
                  staff_role=e.role, purpose="service", service=ServiceState(), page=0)
    return new, [fx.LoadServiceStatus(), fx.StartTimer(REFRESH, flow.settings.service_refresh_seconds),
                 fx.StartTimer("inactivity", flow.idle_seconds(new))]


def status(flow: PickupFlow, s: PickupState, e: ServiceStatus, now: float) -> Result:
    return replace(s, service=replace(s.service or ServiceState(), status=dict(e.status))), []


def timer(flow: PickupFlow, s: PickupState, e: TimerFired, now: float) -> Result:
    sv = s.service or ServiceState()
    if e.name == REFRESH:
        return s, [fx.LoadServiceStatus(), fx.StartTimer(REFRESH, flow.settings.service_refresh_seconds)]
    if e.name == DOOR_TEST and sv.result == "pulsed":
        # the relay was pulsed but the sensor never saw the door open: the lock or its wiring
        effects = [fx.RecordReleaseOutcome(sv.release_id, "unopened")] if sv.release_id is not None else []
        return replace(s, service=replace(sv, result="not_opened")), effects
    if e.name == RELAY_TEST and sv.test_current is not None:
        unsettled = sv.test_unsettled + (((sv.test_current, sv.test_release),) if sv.test_release else ())
        new, more = _next_relay(flow, s, replace(_noted(sv, sv.test_current, "not_opened"),
                                                 test_unsettled=unsettled))
        return new, [fx.StartTimer(RELAY_SETTLE, flow.settings.door_open_timeout_seconds), *more]
    if e.name == RELAY_SETTLE:
        return replace(s, service=replace(sv, test_unsettled=())), [
            fx.RecordReleaseOutcome(release, "unopened") for _, release in sv.test_unsettled]
    return s, []


def leave(s: PickupState) -> list:
    """Service mode ends (log out, silence): releases still waiting for their door are closed as unopened,
    so a door opened later is reported as forced, not explained by a technician who has gone."""
    sv = s.service
    if sv is None:
        return []
    pending = [release for _, release in sv.test_unsettled]
    if sv.test_current is not None and sv.test_release is not None:
        pending.append(sv.test_release)
    if sv.result == "pulsed" and sv.release_id is not None:
        pending.append(sv.release_id)
    return [fx.RecordReleaseOutcome(release, "unopened") for release in pending]


def door(flow: PickupFlow, s: PickupState, e: DoorOpened | DoorClosed, now: float) -> Result:
    """Any door change while in service mode: the grid is re-read; a tested door notes its result."""
    sv = s.service or ServiceState()
    opened = isinstance(e, DoorOpened)
    effects: list = [fx.LoadServiceStatus()]
    if s.overlay != "timeout":  # a technician working at the doors is still there
        effects.append(fx.StartTimer("inactivity", flow.idle_seconds(s)))
    late = dict(sv.test_unsettled).get(e.locker) if opened else None
    if late is not None:  # a slow door of the relay test: it works after all
        sv = replace(_noted(sv, e.locker, "opened"), test_unsettled=tuple(
            (n, r) for n, r in sv.test_unsettled if n != e.locker))
        s = replace(s, service=sv)
    if opened and e.locker == sv.test_current:
        new, more = _next_relay(flow, s, _noted(sv, e.locker, "opened"))
        return new, [fx.CancelTimer(RELAY_TEST), *more, *effects]
    if e.locker == sv.locker and sv.result in ("pulsed", "opened"):
        if opened and sv.result == "pulsed":
            return replace(s, service=replace(sv, result="opened")), [fx.CancelTimer(DOOR_TEST), *effects]
        if not opened and sv.result == "opened":
            return replace(s, service=replace(sv, result="closed")), effects
    return s, effects


def device(s: PickupState) -> list:
    """A device went up or down while service mode is open: show it at once."""
    return [fx.LoadServiceStatus()] if s.phase in service_phases() else []


# ---- navigation ----------------------------------------------------------------------------------


def home_tap(flow: PickupFlow, s: PickupState, e: Tap, now: float) -> Result:
    target = {"service:lockers": "SERVICE_LOCKERS", "service:tests": "SERVICE_TESTS",
              "service:log": "SERVICE_LOG"}.get(e.action)
    if target is None:
        return s, []
    return _go(s, target, log_page=None), [fx.LoadServiceStatus()]


def lockers_tap(flow: PickupFlow, s: PickupState, e: Tap, now: float) -> Result:
    sv = s.service or ServiceState()
    if e.action.startswith("locker:") and e.action[7:].isdecimal():
        locker = int(e.action[7:])
        if _locker(sv, locker) is None:
            return s, []
        if locker == sv.locker:  # back to the same locker: its last result is still worth showing
            return _go(s, "SERVICE_LOCKER"), []
        return _go(s, "SERVICE_LOCKER", locker=locker, result=None, release_id=None), _settle_single(sv)
    if e.action == "relay_test" and sv.test_current is None:
        if not relay_test_lockers(sv):
            return s, [fx.Tone("error")]
        return _go(s, "SERVICE_CONFIRM", confirm="relay_test"), []
    if e.action in ("prev", "next"):  # the screen offers each only where it leads (and clamps the page)
        page = sv.grid_page + (1 if e.action == "next" else -1)
        return _go(s, "SERVICE_LOCKERS", grid_page=max(0, min(page, len(sv.status.get("lockers", ())) - 1))), []
    if e.action == "back":
        return _go(s, "SERVICE_HOME"), []
    return s, []


def _settle_single(sv: ServiceState) -> list:
    """A single open still waiting for its door, given up when the technician moves to another locker."""
    if sv.result == "pulsed" and sv.release_id is not None:
        return [fx.CancelTimer(DOOR_TEST), fx.RecordReleaseOutcome(sv.release_id, "unopened")]
    return []


def locker_tap(flow: PickupFlow, s: PickupState, e: Tap, now: float) -> Result:
    sv = s.service or ServiceState()
    info = _locker(sv, sv.locker)
    if e.action == "open" and info is not None and sv.result != "pulsed":
        if sv.test_current is not None:  # one door at a time: the relay test first
            return s, [fx.Tone("error")]
        return _go(s, "SERVICE_CONFIRM", confirm="open"), []
    if e.action == "service_toggle" and info is not None:
        flags = info.get("flags") or ()
        back_in = "out_of_service" in flags or "suspect" in flags
        return s, [fx.SetLockerService(sv.locker, back_in, s.staff_badge or ""), fx.LoadServiceStatus()]
    if e.action == "back":
        return _go(s, "SERVICE_LOCKERS"), []
    return s, []


def confirm_tap(flow: PickupFlow, s: PickupState, e: Tap, now: float) -> Result:
    sv = s.service or ServiceState()
    back = "SERVICE_LOCKER" if sv.confirm == "open" else "SERVICE_LOCKERS"
    if e.action in ("cancel", "back"):
        return _go(s, back, confirm=None), []
    if e.action != "confirm":
        return s, []
    if sv.confirm == "open" and sv.locker is not None:
        return _go(s, "SERVICE_LOCKER", confirm=None, result=None, release_id=None), [
            fx.ServiceRelease(sv.locker, s.staff_badge or "")]
    if sv.confirm == "relay_test":
        queue = relay_test_lockers(sv)
        started = _go(s, "SERVICE_LOCKERS", confirm=None, test_results=tuple((n, "waiting") for n in queue),
                      test_queue=queue, test_current=None)
        return _next_relay(flow, started, started.service)
    return s, []


def tests_tap(flow: PickupFlow, s: PickupState, e: Tap, now: float) -> Result:
    if e.action == "test:rfid":
        return _go(s, "SERVICE_RFID", tags_read=0), [fx.LoadServiceStatus()]
    if e.action == "test:camera":
        return _go(s, "SERVICE_CAMERA", reads=()), [fx.LoadServiceStatus()]
    if e.action == "test:cards":
        return s, [fx.TestCardReader()]
    if e.action == "test:audio":
        return s, [fx.TestAudio()]
    if e.action == "back":
        return _go(s, "SERVICE_HOME"), []
    return s, []


def device_test_tap(flow: PickupFlow, s: PickupState, e: Tap, now: float) -> Result:
    """The RFID and camera test screens: only "back" to the list of tests."""
    return (_go(s, "SERVICE_TESTS"), []) if e.action == "back" else (s, [])


def log_tap(flow: PickupFlow, s: PickupState, e: Tap, now: float) -> Result:
    sv = s.service or ServiceState()
    pages = _log_pages(sv)
    page = pages - 1 if sv.log_page is None else sv.log_page
    if e.action == "prev" and page > 0:
        return _go(s, "SERVICE_LOG", log_page=page - 1), []
    if e.action == "next" and page < pages - 1:
        return _go(s, "SERVICE_LOG", log_page=None if page + 1 == pages - 1 else page + 1), []
    if e.action == "back":
        return _go(s, "SERVICE_HOME", log_page=None), []
    return s, []


def result(flow: PickupFlow, s: PickupState, e: ServiceResult, now: float) -> Result:
    sv = s.service or ServiceState()
    if e.what == "card":
        return replace(s, service=replace(sv, card=dict(e.result))), []
    if e.what == "audio":
        return replace(s, service=replace(sv, audio=dict(e.result))), []
    return s, []


# ---- what the readers saw --------------------------------------------------------------------------


def tag_read(flow: PickupFlow, s: PickupState, e: TagRead, now: float) -> Result:
    """A tag at the reader during the RFID test: counted (never looked up, never a login)."""
    sv = s.service or ServiceState()
    return replace(s, service=replace(sv, tags_read=sv.tags_read + 1)), [fx.LoadServiceStatus()]


def qr_seen(flow: PickupFlow, s: PickupState, e: QrScanned, now: float) -> Result:
    """A code decoded during the camera test: its first characters and length only (it may be a citizen's)."""
    sv = s.service or ServiceState()
    text = e.text if isinstance(e.text, str) else ""
    shown = text[:QR_SHOWN] + ("…" if len(text) > QR_SHOWN else "")
    return replace(s, service=replace(sv, reads=((now, shown, len(text)), *sv.reads)[:CAMERA_READS])), []


# ---- opening doors --------------------------------------------------------------------------------


def release_started(flow: PickupFlow, s: PickupState, e: ReleaseStarted, now: float) -> Result:
    sv = s.service or ServiceState()
    if e.locker == sv.test_current:
        return replace(s, service=replace(_noted(sv, e.locker, "pulsed"), test_release=e.release_id)), [
            fx.StartTimer(RELAY_TEST, flow.settings.relay_test_seconds), fx.LoadServiceStatus()]
    return replace(s, service=replace(sv, result="pulsed", release_id=e.release_id)), [
        fx.StartTimer(DOOR_TEST, flow.settings.door_open_timeout_seconds), fx.LoadServiceStatus()]


def release_refused(flow: PickupFlow, s: PickupState, e: ReleaseRefused, now: float) -> Result:
    # the service journal refuses only an unknown locker; a refusal after the commit is the relay failing
    outcome = "fault" if e.reason == "locker_out_of_service" else "refused"
    sv = s.service or ServiceState()
    if sv.test_current is not None:
        new, effects = _next_relay(flow, s, _noted(sv, sv.test_current, "fault"))
        return new, [*effects, fx.LoadServiceStatus()]
    return replace(s, service=replace(sv, result=outcome)), [fx.LoadServiceStatus()]


def relay_test_lockers(sv: ServiceState) -> tuple[int, ...]:
    """The lockers a relay test opens: empty and closed (a door never opens on someone's item in a test)."""
    return tuple(int(x["locker"]) for x in sv.status.get("lockers", ())
                 if x.get("contents") == "empty" and x.get("door") == "closed")


def _noted(sv: ServiceState, locker: int, outcome: str) -> ServiceState:
    return replace(sv, test_results=tuple((n, outcome if n == locker else r) for n, r in sv.test_results))


def _next_relay(flow: PickupFlow, s: PickupState, sv: ServiceState) -> Result:
    """Pulse the next locker of the relay test, or end the test."""
    if not sv.test_queue:
        return replace(s, service=replace(sv, test_current=None, test_release=None)), []
    locker, rest = sv.test_queue[0], sv.test_queue[1:]
    new = replace(s, service=replace(sv, test_queue=rest, test_current=locker, test_release=None))
    return new, [fx.ServiceRelease(locker, s.staff_badge or "", test=True)]


# ---- what the screens show -------------------------------------------------------------------------


def _locker(sv: ServiceState, number: int | None) -> dict | None:
    return next((x for x in sv.status.get("lockers", ()) if x.get("locker") == number), None)


def _log_pages(sv: ServiceState) -> int:
    return max(1, -(-len(sv.status.get("log", ())) // LOG_PAGE_SIZE))


def _clock(ts: float, zone: str) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(zone)).strftime("%H:%M:%S")


def view(flow: PickupFlow, s: PickupState) -> fx.Show:
    sv = s.service or ServiceState()
    st = sv.status
    p = s.phase.name
    devices = list(st.get("devices", ()))
    if p == "SERVICE_HOME":
        lockers = st.get("lockers", ())
        return fx.Show("service_home", {
            "name": s.staff_name or "", "doors_open": sum(1 for x in lockers if x.get("door") == "open"),
            "lockers": len(lockers), "alarms": list(st.get("alarms", ())), "devices": devices,
            "sync": st.get("sync", {"state": "not_configured", "since": None}),
            "outbox": st.get("outbox", {"pending": 0, "oldest_minutes": None})})
    if p == "SERVICE_LOCKERS":
        results = dict(sv.test_results)
        lockers = [{**x, "test": results.get(x.get("locker"))} for x in st.get("lockers", ())]
        test = None
        if sv.test_results:
            done = sum(1 for _, r in sv.test_results if r not in ("waiting", "pulsed"))
            test = {"done": done, "total": len(sv.test_results), "running": sv.test_current is not None}
        return fx.Show("service_lockers", {"lockers": lockers, "relay_test": test, "page": sv.grid_page})
    if p == "SERVICE_LOCKER" or (p == "SERVICE_CONFIRM" and sv.confirm == "open"):
        info = _locker(sv, sv.locker) or {}
        params = {"locker": sv.locker, "size": info.get("size", ""), "door": info.get("door", "closed"),
                  "contents": info.get("contents", "empty"), "reservation": info.get("reservation"),
                  "flags": list(info.get("flags", ()))}
        if p == "SERVICE_CONFIRM":
            return fx.Show("service_confirm", {"what": "open", "locker": sv.locker, "contents": params["contents"],
                                               "reservation": params["reservation"], "count": 1})
        return fx.Show("service_locker", {**params, "result": sv.result})
    if p == "SERVICE_CONFIRM":
        return fx.Show("service_confirm", {"what": "relay_test", "locker": None, "contents": "empty",
                                           "reservation": None, "count": len(relay_test_lockers(sv))})
    if p == "SERVICE_TESTS":
        return fx.Show("service_tests", {"devices": devices, "card": sv.card, "audio": sv.audio})
    if p == "SERVICE_RFID":
        rfid = st.get("rfid", {})
        return fx.Show("service_rfid", {"state": _state(devices, "rfid"), "detail": _detail(devices, "rfid"),
                                        "protocol": rfid.get("protocol", ""), "reads": sv.tags_read,
                                        "frames": list(rfid.get("frames", ()))})
    if p == "SERVICE_CAMERA":
        reads = [{"at": _clock(at, flow.settings.timezone), "text": text, "length": length}
                 for at, text, length in sv.reads]
        return fx.Show("service_camera", {"state": _state(devices, "camera"), "detail": _detail(devices, "camera"),
                                          "frames": st.get("camera", {}).get("frames", 0), "reads": reads})
    lines = list(st.get("log", ()))
    pages = _log_pages(sv)
    page = pages - 1 if sv.log_page is None else min(sv.log_page, pages - 1)
    return fx.Show("service_log", {"lines": lines[page * LOG_PAGE_SIZE:(page + 1) * LOG_PAGE_SIZE],
                                   "page": page, "pages": pages})


def _state(devices: list, name: str) -> str:
    return next((d.get("state", "off") for d in devices if d.get("name") == name), "off")


def _detail(devices: list, name: str) -> str:
    return next((d.get("detail", "") for d in devices if d.get("name") == name), "")
