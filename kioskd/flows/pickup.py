"""The citizen's pickup session as a pure state machine.

``PickupFlow.step(state, event, now) -> (state, effects)``: no I/O, no clock reads, no globals.
Transitions are a table of (phase, event type) → handler; what the screen shows is derived from
the state after every step, so a handler only says what changed and the screen can never disagree
with the state.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum

from kioskd import effects as fx
from kioskd.events import (
    Activity,
    BadgeSeen,
    CardInserted,
    CardRead,
    CardRemoved,
    DeviceStatus,
    DoorClosed,
    DoorOpened,
    IdentificationFailed,
    Identified,
    IdentityChecked,
    ItsmeResult,
    ItsmeStarted,
    LoanSeen,
    QrScanned,
    ReleaseRefused,
    ReleaseStarted,
    ReturnRefused,
    ServiceResult,
    ServiceStatus,
    StaffIdentified,
    StaffWork,
    TagRead,
    TagUnknown,
    Tap,
    TimerFired,
)
from kioskd.flows import returns, service, staff, strong


class Phase(Enum):
    ATTRACT = "attract"
    METHOD = "method"
    PIN = "pin"
    SCAN = "scan"
    CHECKING = "checking"
    RELEASING = "releasing"
    WAIT_OPEN = "wait_open"
    WAIT_CLOSE = "wait_close"
    THANKS = "thanks"
    ERROR = "error"
    PROVE = "prove"  # strong identification (kioskd.flows.strong): eID or itsme?
    EID_INSERT = "eid_insert"
    EID_READING = "eid_reading"
    ITSME = "itsme"
    RETURN_IDENTIFY = "return_identify"
    RETURN_TAGS = "return_tags"
    RETURN_DONE = "return_done"
    STAFF_PIN = "staff_pin"
    STAFF_MENU = "staff_menu"
    STAFF_LOAD = "staff_load"
    STAFF_COLLECT = "staff_collect"
    SERVICE_HOME = "service_home"
    SERVICE_LOCKERS = "service_lockers"
    SERVICE_LOCKER = "service_locker"
    SERVICE_CONFIRM = "service_confirm"
    SERVICE_TESTS = "service_tests"
    SERVICE_RFID = "service_rfid"
    SERVICE_CAMERA = "service_camera"
    SERVICE_LOG = "service_log"


# phases where a citizen is expected to act, so silence means they walked away; each warns before it
# ends the session and offers more time (EN 301 549: time limits can be extended)
IDLE_TIMED = {Phase.METHOD, Phase.PIN, Phase.SCAN, Phase.ERROR, Phase.THANKS, Phase.PROVE, Phase.EID_INSERT,
              Phase.RETURN_IDENTIFY,
              Phase.RETURN_TAGS, Phase.RETURN_DONE, Phase.STAFF_PIN, Phase.STAFF_MENU, Phase.STAFF_LOAD,
              Phase.STAFF_COLLECT}
STAFF_PHASES = {Phase.STAFF_PIN, Phase.STAFF_MENU, Phase.STAFF_LOAD, Phase.STAFF_COLLECT}
SERVICE_PHASES = {Phase.SERVICE_HOME, Phase.SERVICE_LOCKERS, Phase.SERVICE_LOCKER, Phase.SERVICE_CONFIRM,
                  Phase.SERVICE_TESTS, Phase.SERVICE_RFID, Phase.SERVICE_CAMERA, Phase.SERVICE_LOG}
IDLE_TIMED |= SERVICE_PHASES  # service mode ends by itself too, after service.inactivity_seconds
ACCEPTS_QR = {Phase.ATTRACT, Phase.METHOD, Phase.PIN, Phase.SCAN, Phase.RETURN_IDENTIFY}  # + STAFF_LOAD below
SCANS_QR = ACCEPTS_QR | {Phase.STAFF_LOAD, Phase.SERVICE_CAMERA}  # the camera scans only here (fx.SetScanning)
DOOR_PHASES = {Phase.RELEASING, Phase.WAIT_OPEN, Phase.WAIT_CLOSE}

INACTIVITY, WARNING, TICK = "inactivity", "warning", "countdown_tick"
AUDIO_DOOR_WAIT_FACTOR = 3  # in audio mode a released door is given this many times longer to be opened
DOOR_OPEN, CLOSE_REMINDER, DOOR_ALARM, REOPEN_GRACE = "door_open", "close_reminder", "door_alarm", "reopen_grace"


@dataclass(frozen=True)
class PickupSettings:
    default_language: str = "nl"
    languages: tuple[str, ...] = ("nl", "fr", "en")
    pin_length: int = 8
    reopen_grace_seconds: float = 60
    max_reopens: int = 2
    door_open_timeout_seconds: float = 20
    door_close_reminder_seconds: float = 30
    door_left_open_alarm_seconds: float = 120
    inactivity_seconds: float = 45
    timeout_warning_seconds: float = 15
    max_extensions: int = 10
    large_text: bool = False  # the text size a session starts with
    timezone: str = "Europe/Brussels"  # for times shown in service mode
    service_inactivity_seconds: float = 120
    service_refresh_seconds: float = 1.0
    relay_test_seconds: float = 3.0
    eid: bool = False  # an eID card reader is configured
    card_pin_pad: bool = False  # ... with a PIN pad, and the card PIN is to be verified on it
    itsme: bool = False  # itsme through the town hall is configured


@dataclass(frozen=True)
class PickupState:
    phase: Phase = Phase.ATTRACT
    lang: str = "nl"
    overlay: str | None = None  # "help" or "timeout", shown above the phase's own screen
    qr_available: bool = True
    code: str = ""  # PIN digits typed so far; never shown or spoken, only counted
    method: str | None = None
    reservation_id: str | None = None
    locker: int | None = None
    release_id: int | None = None
    retried: bool = False
    reopens: int = 0
    collected: bool = False
    reminder: bool = False
    error: str | None = None
    locked_seconds: int | None = None
    # accessibility, all reset when the session ends
    audio: bool = False  # keypad-driven spoken mode for blind users
    large_text: bool = False
    extensions: int = 0  # "more time" granted so far this session
    countdown: int = 0  # seconds left on the timeout warning
    covered: str | None = None  # the overlay the timeout warning covers ("help"), restored by "more time"
    volume_changed: bool = False
    reopen_closed: bool = False  # the reopen grace period after closing the door is over
    # returns (kioskd.flows.returns): item tags are labels on keys and crates, not secrets
    purpose: str = "pickup"  # what the session opens a locker for: "pickup" or "return"
    loan_outstanding: tuple[str, ...] = ()  # the loan's tags still out
    loan_returned: tuple[str, ...] = ()  # its tags already back
    presented: tuple[str, ...] = ()  # tags counted at the reader this session
    notice: str | None = None  # "wrong_tag" or "already_counted", shown until the next tag
    # staff (kioskd.flows.staff): the badge UID only until its PIN is checked, then its keyed hash
    staff_uid: str | None = None
    staff_badge: str | None = None
    staff_name: str | None = None
    staff_role: str | None = None
    stock: tuple = ()  # reservations waiting to be loaded: ({"id", "names", "size"}, ...)
    collection: tuple = ()  # lockers to empty: ({"locker", "what", "id"}, ...)
    page: int = 0
    staff_notice: dict | None = None  # the last load or emptying, confirmed on the list
    out_of_service: bool = False  # no locker can be released: the kiosk says so instead of inviting
    service: service.ServiceState | None = None  # a technician's service mode (kioskd.flows.service)
    # strong identification (kioskd.flows.strong): no personal data here, only what the screens need
    eid_available: bool = False  # the card reader is up
    online: bool = True  # the town hall answers (itsme needs it); unknown counts as yes until sync says no
    card_present: bool = False
    proving: bool = False  # a strong reservation is chosen and waits for its proof
    token_id: str | None = None  # the QR token that named it, spent with the release
    card_tries: int | None = None  # PIN tries left after a wrong card PIN
    itsme_qr: str | None = None
    itsme_session: str | None = None


Result = tuple[PickupState, list]
Handler = Callable[["PickupFlow", PickupState, object, float], Result]


class PickupFlow:
    def __init__(self, settings: PickupSettings) -> None:
        self.settings = settings

    # ---- entry points ----------------------------------------------------------------------------

    def start(self, qr_available: bool = True, out_of_service: bool = False, eid_available: bool = False) -> Result:
        state = PickupState(lang=self.settings.default_language, qr_available=qr_available,
                            large_text=self.settings.large_text, out_of_service=out_of_service,
                            eid_available=eid_available)
        return state, [fx.SetLanguage(state.lang), fx.SetAudioMode(False), fx.SetLargeText(state.large_text),
                       fx.ResetVolume(), self.view(state), fx.Say("screen")]

    def step(self, state: PickupState, event: object, now: float) -> Result:
        handler = self._handler_for(state, event)
        if handler is None:
            return state, []
        new, effects = handler(self, state, event, now)
        if isinstance(event, Tap) and self._timed(new) and new.overlay != "timeout":
            effects.append(fx.StartTimer(INACTIVITY, self.idle_seconds(new)))
        if (new.phase in SCANS_QR) != (state.phase in SCANS_QR):
            effects.append(fx.SetScanning(new.phase in SCANS_QR))
        before, after = self.view(state), self.view(new)
        if new.lang != state.lang:
            effects.append(fx.SetLanguage(new.lang))
        # the screen's prompt is spoken after the screen is shown, whoever asked for it
        say = fx.Say("screen") in effects
        effects = [e for e in effects if e != fx.Say("screen")]
        if after != before or new.lang != state.lang:
            effects.append(after)
            say = say or after.screen != before.screen or new.lang != state.lang
        if say:
            effects.append(fx.Say("screen"))
        return new, effects

    def _timed(self, s: PickupState) -> bool:
        """Whether silence on this screen should end the session: every screen a citizen acts on, and the
        start screen once someone changed its language, text size, volume or audio mode (the next person
        must find the defaults)."""
        return s.phase in IDLE_TIMED or (s.phase is Phase.ATTRACT and self._customised(s))

    def idle_seconds(self, s: PickupState) -> float:
        """How long silence may last before the timeout warning: longer for a technician at work."""
        settings = self.settings
        return settings.service_inactivity_seconds if s.phase in SERVICE_PHASES else settings.inactivity_seconds

    def _customised(self, s: PickupState) -> bool:
        return (s.lang != self.settings.default_language or s.audio or s.volume_changed or s.overlay is not None
                or s.large_text != self.settings.large_text)

    def _handler_for(self, state: PickupState, event: object) -> Handler | None:
        if isinstance(event, Tap) and event.action.startswith("lang:"):
            return PickupFlow._on_language
        if isinstance(event, Tap) and event.action in ("audio", "audio_on", "large_text", "volume"):
            return PickupFlow._on_accessibility
        if isinstance(event, Tap) and event.action == "restart" and state.phase not in DOOR_PHASES | {Phase.CHECKING}:
            return PickupFlow._restart
        if isinstance(event, DeviceStatus):
            return PickupFlow._on_device
        if isinstance(event, CardInserted):
            return strong.card_inserted
        if isinstance(event, CardRemoved):
            return strong.card_removed
        if isinstance(event, Activity):
            return PickupFlow._on_activity
        if state.overlay is not None and isinstance(event, Tap):
            return OVERLAY_TAPS.get(state.overlay)
        if isinstance(event, TimerFired) and event.name in (INACTIVITY, WARNING, TICK):
            return PickupFlow._on_idle_timer
        if isinstance(event, TimerFired) and event.name == REOPEN_GRACE:
            return PickupFlow._reopen_grace_over
        if isinstance(event, Tap) and event.action == "help" and state.phase is not Phase.CHECKING:
            return PickupFlow._open_help
        return TABLE.get((state.phase, type(event)))

    # ---- what the screen shows -------------------------------------------------------------------

    def view(self, s: PickupState) -> fx.Show:
        if s.overlay == "help":
            return fx.Show("help", {"reason": s.error, "locker": s.locker, "in_session": s.phase is not Phase.ATTRACT,
                                    "at_door": s.phase in DOOR_PHASES})
        if s.overlay == "timeout":
            return fx.Show("timeout", {"seconds": s.countdown, "extensions_left": self._extensions_left(s)})
        p = s.phase
        if p is Phase.ATTRACT and s.out_of_service:
            return fx.Show("out_of_service", {})
        if p is Phase.ATTRACT:
            return fx.Show("attract", {"qr_available": s.qr_available, "audio": s.audio, "large_text": s.large_text})
        if p is Phase.METHOD:
            return fx.Show("method", {"qr_available": s.qr_available})
        if p is Phase.PIN:
            return fx.Show("pin", {"entered": len(s.code), "length": self.settings.pin_length})
        if p is Phase.SCAN:
            return fx.Show("scan", {})
        if p in (Phase.CHECKING, Phase.RELEASING):
            return fx.Show("checking", {})
        if p is Phase.WAIT_OPEN:
            return fx.Show("locker_open", {"locker": s.locker, "retry": s.retried, "purpose": s.purpose,
                                           **self._card_reminder(s)})
        if p is Phase.WAIT_CLOSE:
            return fx.Show("close_door", {"locker": s.locker, "reminder": s.reminder, "purpose": s.purpose,
                                          "can_extend": s.reminder and self._extensions_left(s) > 0})
        if p is Phase.THANKS:
            return fx.Show("thanks", {"locker": s.locker, "can_reopen": self._can_reopen(s),
                                      "reopen_seconds": int(self.settings.reopen_grace_seconds),
                                      **self._card_reminder(s)})
        if p is Phase.ERROR:
            tries = {"tries_left": s.card_tries} if s.error == "card_wrong_pin" else {}
            return fx.Show("error", {"reason": s.error, "locked_seconds": s.locked_seconds, "locker": s.locker,
                                     **tries})
        if p in (Phase.PROVE, Phase.EID_INSERT, Phase.EID_READING, Phase.ITSME):
            return strong.view(self, s)
        if p in STAFF_PHASES:
            return staff.view(s)
        if p in SERVICE_PHASES:
            return service.view(self, s)
        if p is Phase.RETURN_IDENTIFY:
            return fx.Show("return_identify", {"qr_available": s.qr_available})
        if p is Phase.RETURN_TAGS:
            # counted against what is still out: items returned on an earlier visit are not asked for again
            return fx.Show("return_tags", {"presented": len(s.presented), "product": "", "notice": s.notice,
                                           "total": len(s.loan_outstanding)})
        return fx.Show("return_done", {"returned": len(s.presented), "locker": s.locker,
                                       "outstanding": len(s.loan_outstanding) - len(s.presented)})

    @staticmethod
    def _card_reminder(s: PickupState) -> dict:
        """An eID card still in the reader once the locker opens: the citizen is reminded to take it."""
        return {"take_card": True} if s.card_present and s.method and s.method.endswith("+eid") else {}

    # ---- shared transitions ----------------------------------------------------------------------

    def _can_reopen(self, s: PickupState) -> bool:
        return s.reopens < self.settings.max_reopens and not s.reopen_closed

    def _extensions_left(self, s: PickupState) -> int:
        return max(0, self.settings.max_extensions - s.extensions)

    def _end_session(self, state: PickupState) -> Result:
        """Back to the start for the next person: default language, text size and volume, audio mode off."""
        fresh = PickupState(lang=self.settings.default_language, qr_available=state.qr_available,
                            large_text=self.settings.large_text, out_of_service=state.out_of_service,
                            eid_available=state.eid_available, online=state.online,
                            card_present=state.card_present)
        effects: list = [*service.leave(state), fx.CancelAllTimers(), fx.ResetVolume()]
        if state.phase is Phase.ITSME:
            effects.append(fx.CancelItsme())
        if state.audio:
            effects.append(fx.SetAudioMode(False))
        if state.large_text != fresh.large_text:
            effects.append(fx.SetLargeText(fresh.large_text))
        return fresh, effects

    def _restart(self, s: PickupState, e: Tap, now: float) -> Result:
        return self._end_session(s)

    # the names other phase modules (kioskd.flows.returns) use
    def fail(self, s: PickupState, reason: str, locked_seconds: int | None = None) -> Result:
        return self._fail(s, reason, locked_seconds)

    def to_start(self, s: PickupState) -> Result:
        return self._to_start(s)

    def end_session(self, s: PickupState) -> Result:
        return self._end_session(s)

    def _to_start(self, s: PickupState) -> Result:
        """"Back" to the start screen: the session and its choices (language, audio mode) go on."""
        return replace(s, phase=Phase.ATTRACT, overlay=None, code="", error=None, locked_seconds=None,
                       reservation_id=None, locker=None, release_id=None, method=None, purpose="pickup",
                       proving=False, token_id=None, card_tries=None, itsme_qr=None, itsme_session=None,
                       loan_outstanding=(), loan_returned=(), presented=(), notice=None), []

    def _on_language(self, s: PickupState, e: Tap, now: float) -> Result:
        lang = e.action.split(":", 1)[1]
        return (replace(s, lang=lang) if lang in self.settings.languages else s), []

    def _on_accessibility(self, s: PickupState, e: Tap, now: float) -> Result:
        if e.action == "volume":
            return replace(s, volume_changed=True), [fx.ChangeVolume(+1), fx.Say("hint.volume")]
        if e.action == "large_text":
            return replace(s, large_text=not s.large_text), [fx.SetLargeText(not s.large_text)]
        if e.action == "audio_on" and s.audio:  # the long press again: reassure, change nothing
            return s, [fx.Say("hint.audio_on")]
        if s.phase is not Phase.ATTRACT:
            return s, []
        audio = True if e.action == "audio_on" else not s.audio
        # the attract prompt is said again in the new mode: with audio on it explains the keys
        return replace(s, audio=audio, overlay=None), [fx.SetAudioMode(audio), fx.Say("screen")]

    def _on_activity(self, s: PickupState, e: Activity, now: float) -> Result:
        """A key that moved focus, without a tap: the citizen is still there, so idle time restarts."""
        if self._timed(s) and s.overlay != "timeout":
            return s, [fx.StartTimer(INACTIVITY, self.idle_seconds(s))]
        return s, []

    def _on_device(self, s: PickupState, e: DeviceStatus, now: float) -> Result:
        shown = service.device(s)  # service mode shows every device change at once
        if e.device == "locks":
            return replace(s, out_of_service=not e.ok), shown
        if e.device in ("cards", "sync"):
            new = replace(s, eid_available=e.ok) if e.device == "cards" else replace(s, online=e.ok)
            lost = {"cards": (Phase.EID_INSERT,), "sync": (Phase.ITSME,)}[e.device]
            if not e.ok and s.phase in (*lost, Phase.PROVE) and s.overlay is None:
                effects = [fx.CancelItsme()] if s.phase is Phase.ITSME else []
                new, more = strong.choose(self, new)  # the other method, or "not possible right now"
                return new, [*shown, *effects, *more]
            return new, shown
        if e.device != "camera":
            return s, shown
        new = replace(s, qr_available=e.ok)
        if not e.ok and s.phase is Phase.SCAN:
            new = replace(new, phase=Phase.METHOD)
        return new, shown

    def _on_idle_timer(self, s: PickupState, e: TimerFired, now: float) -> Result:
        warning = self.settings.timeout_warning_seconds
        if e.name == INACTIVITY and self._timed(s) and s.overlay != "timeout":
            return replace(s, overlay="timeout", covered=s.overlay, countdown=math.ceil(warning)), [
                fx.Tone("warning"), fx.StartTimer(WARNING, warning), fx.StartTimer(TICK, 1)]
        if e.name == TICK and s.overlay == "timeout":
            left = max(0, s.countdown - 1)
            return replace(s, countdown=left), ([fx.StartTimer(TICK, 1)] if left > 1 else [])
        if e.name == WARNING and s.overlay == "timeout":
            return self._end_session(s)
        return s, []

    def _open_help(self, s: PickupState, e: Tap, now: float) -> Result:
        effects = [] if s.phase in DOOR_PHASES | {Phase.THANKS} else [
            fx.StartTimer(INACTIVITY, self.settings.inactivity_seconds)]
        return replace(s, overlay="help"), effects

    def _on_help_tap(self, s: PickupState, e: Tap, now: float) -> Result:
        # while a locker is released the session must live on until the door is settled, or the
        # collection would never be recorded: there the help screen offers only "back" (restart is
        # handled before overlays everywhere else)
        if e.action in ("back", "restart"):
            return replace(s, overlay=None), []
        return s, []

    def _on_timeout_tap(self, s: PickupState, e: Tap, now: float) -> Result:
        more_time = [fx.CancelTimer(WARNING), fx.CancelTimer(TICK), fx.StartTimer(INACTIVITY, self.idle_seconds(s))]
        if e.action == "extend" and self._extensions_left(s) > 0:
            # back to the screen the warning covered (help stays open if it was), with a full period
            return replace(s, overlay=s.covered, covered=None, extensions=s.extensions + 1), [
                *more_time, fx.Say("screen")]
        if e.action == "restart":
            return self._end_session(s)
        if e.action == "help":
            return replace(s, overlay="help", covered=None), more_time
        return s, []

    def _fail(self, s: PickupState, reason: str, locked_seconds: int | None = None) -> Result:
        new = replace(s, phase=Phase.ERROR, error=reason, locked_seconds=locked_seconds, code="")
        return new, [fx.StartTimer(INACTIVITY, self.settings.inactivity_seconds)]

    def _check_qr(self, s: PickupState, e: QrScanned, now: float) -> Result:
        if not s.qr_available or (s.phase is Phase.ATTRACT and s.out_of_service):
            return s, []
        return replace(s, phase=Phase.CHECKING, method="qr", code="", overlay=None), [
            fx.CancelTimer(INACTIVITY), fx.VerifyQr(e.text, for_return=s.purpose == "return")]

    # ---- identification --------------------------------------------------------------------------

    def _attract_tap(self, s: PickupState, e: Tap, now: float) -> Result:
        if s.out_of_service:
            return s, []
        if e.action == "pickup":
            return replace(s, phase=Phase.METHOD), []
        if e.action == "return":
            return returns.start_return(self, s)
        return s, []

    def _method_tap(self, s: PickupState, e: Tap, now: float) -> Result:
        if e.action == "method:pin":
            return replace(s, phase=Phase.PIN, code=""), []
        if e.action == "method:qr" and s.qr_available:
            return replace(s, phase=Phase.SCAN), []
        if e.action == "back":
            return self._to_start(s)
        return s, []

    def _pin_tap(self, s: PickupState, e: Tap, now: float) -> Result:
        action = e.action
        if action.startswith("digit:") and action[6:].isdecimal() and len(action) == 7:
            if len(s.code) < self.settings.pin_length:
                code = s.code + action[6:]
                if len(code) < self.settings.pin_length:
                    return replace(s, code=code), []
                # full length: a distinct tone, and in audio mode what to do next; never the digits
                said = [fx.Say("hint.code_complete")] if s.audio else []
                return replace(s, code=code), [fx.Tone("complete"), *said]
            return s, [fx.Tone("error")]
        if action == "erase":
            return replace(s, code=s.code[:-1]), ([fx.Say("hint.code_erased")] if s.audio and s.code else [])
        if action == "ok" and s.code:
            return replace(s, phase=Phase.CHECKING, method="pin", code=""), [
                fx.CancelTimer(INACTIVITY), fx.VerifyPin(s.code)]
        if action == "back":
            back = Phase.RETURN_IDENTIFY if s.purpose == "return" else Phase.METHOD
            return replace(s, phase=back, code=""), []
        return s, []

    def _scan_tap(self, s: PickupState, e: Tap, now: float) -> Result:
        return (replace(s, phase=Phase.METHOD), []) if e.action == "back" else (s, [])

    def _identified(self, s: PickupState, e: Identified, now: float) -> Result:
        r = e.reservation
        if s.staff_badge is not None:  # the QR on an order's envelope, scanned while loading
            return staff.load_scanned(self, s, r.id)
        if s.purpose == "return":  # the code named a loan: fetch its items
            return replace(s, reservation_id=r.id, method=e.method), [fx.FindLoan(r.id)]
        s = replace(s, reservation_id=r.id, locker=r.locker, method=e.method)
        refusal = {"collected": "already_collected", "on_loan": "already_collected",
                   "partially_returned": "already_collected", "returned": "already_collected",
                   "closed": "already_collected", "cancelled": "cancelled", "expired": "expired",
                   "awaiting_stock": "not_ready"}.get(r.status)
        if refusal is None and r.expires_at is not None and r.expires_at <= now:
            refusal = "expired"
        if refusal is None and r.locker is None:
            refusal = "not_ready"
        if refusal:
            return self._fail(s, refusal)
        if r.identification != "code":  # a personal document: the code said which, now prove who
            return strong.begin(self, s, r, e)
        return replace(s, phase=Phase.RELEASING, retried=False, reopens=0, collected=False), [
            fx.ReleaseLocker(r.id, r.locker, "pickup", e.method, e.token_id)]

    def _identification_failed(self, s: PickupState, e: IdentificationFailed, now: float) -> Result:
        if s.staff_uid is not None:
            return staff.refused(self, s, e, now)
        locked = math.ceil(e.locked_until - now) if e.locked_until else None
        return self._fail(s, e.reason, locked)

    # ---- the door ----------------------------------------------------------------------------------

    def _release_started(self, s: PickupState, e: ReleaseStarted, now: float) -> Result:
        new = replace(s, phase=Phase.WAIT_OPEN, release_id=e.release_id, locker=e.locker, reminder=False)
        # someone who cannot see the bank needs longer to find the door and pull it before we call it stuck
        wait = self.settings.door_open_timeout_seconds * (AUDIO_DOOR_WAIT_FACTOR if s.audio else 1)
        return new, [fx.StartTimer(DOOR_OPEN, wait)]

    def _release_refused(self, s: PickupState, e: ReleaseRefused, now: float) -> Result:
        s = replace(s, proving=False)  # e.g. a strong reservation that expired during its proof: let it go
        if s.retried and s.release_id is not None:
            # the retry of a door that did not open was refused: close that release and tell staff
            new, effects = self._fail(s, "door_not_opened")
            return replace(new, overlay="help"), [
                fx.RecordReleaseOutcome(s.release_id, "unopened"),
                fx.RaiseAlarm("door_not_opened", s.locker, s.reservation_id), *effects]
        return self._fail(s, e.reason)

    def _door_opened(self, s: PickupState, e: DoorOpened, now: float) -> Result:
        if e.locker != s.locker:
            return s, []
        return replace(s, phase=Phase.WAIT_CLOSE, overlay=None), [
            fx.CancelTimer(DOOR_OPEN), fx.StartTimer(CLOSE_REMINDER, self.settings.door_close_reminder_seconds)]

    def _wait_open_timer(self, s: PickupState, e: TimerFired, now: float) -> Result:
        if e.name != DOOR_OPEN:
            return s, []
        if not s.retried:
            if s.purpose == "return":
                return replace(s, phase=Phase.RELEASING, retried=True), returns.retry(s)
            if s.purpose in ("load", "take_out"):
                return replace(s, phase=Phase.RELEASING, retried=True), staff.retry(s)
            reason = "reopen" if s.collected else "retry"  # a reopen is retried as a reopen
            return replace(s, phase=Phase.RELEASING, retried=True), [
                fx.ReleaseLocker(s.reservation_id, s.locker, reason, s.method or "pin")]
        new, effects = self._fail(s, "door_not_opened")
        return replace(new, overlay="help"), [
            fx.RecordReleaseOutcome(s.release_id, "unopened"),
            fx.RaiseAlarm("door_not_opened", s.locker, s.reservation_id), *effects]

    def _door_closed(self, s: PickupState, e: DoorClosed, now: float) -> Result:
        if e.locker != s.locker:
            return s, []
        if s.purpose in ("load", "take_out"):
            new, effects = staff.door_closed(self, s)
            return new, [fx.CancelTimer(CLOSE_REMINDER), fx.CancelTimer(DOOR_ALARM), *effects]
        if s.purpose == "return":
            return replace(s, phase=Phase.RETURN_DONE, overlay=None), [
                fx.CancelTimer(CLOSE_REMINDER), fx.CancelTimer(DOOR_ALARM), *returns.door_closed_effects(s),
                fx.StartTimer(INACTIVITY, self.settings.inactivity_seconds)]
        effects: list = [fx.CancelTimer(CLOSE_REMINDER), fx.CancelTimer(DOOR_ALARM),
                         fx.StartTimer(REOPEN_GRACE, self.settings.reopen_grace_seconds),
                         fx.StartTimer(INACTIVITY, self.settings.inactivity_seconds)]
        if not s.collected:
            effects.insert(0, fx.RecordCollected(s.reservation_id, s.release_id))
        return replace(s, phase=Phase.THANKS, collected=True, overlay=None, reopen_closed=False), effects

    def _wait_close_timer(self, s: PickupState, e: TimerFired, now: float) -> Result:
        if e.name == CLOSE_REMINDER:
            rest = max(self.settings.door_left_open_alarm_seconds - self.settings.door_close_reminder_seconds, 1)
            # the reminder comes to the front, over help if that was open, and is spoken
            return replace(s, reminder=True, overlay=None), [
                fx.Tone("warning"), fx.StartTimer(DOOR_ALARM, rest), fx.Say("screen")]
        if e.name == DOOR_ALARM:
            effects: list = [fx.RaiseAlarm("door_left_open", s.locker, s.reservation_id),
                             fx.RecordReleaseOutcome(s.release_id, "left_open")]
            if s.purpose == "return":
                effects += returns.door_closed_effects(s)
            elif s.purpose in ("load", "take_out"):
                effects += staff.settle_left_open(s)
            elif not s.collected:
                effects.append(fx.RecordCollected(s.reservation_id, s.release_id, door_left_open=True))
            new, end = self._end_session(s)
            return new, effects + end
        return s, []

    def _wait_close_tap(self, s: PickupState, e: Tap, now: float) -> Result:
        """"More time" on the reminder: the door may stay open longer before staff are alarmed."""
        if e.action != "extend" or not s.reminder or self._extensions_left(s) <= 0:
            return s, []
        return replace(s, reminder=False, extensions=s.extensions + 1), [
            fx.CancelTimer(DOOR_ALARM), fx.StartTimer(CLOSE_REMINDER, self.settings.door_close_reminder_seconds)]

    def _reopen_grace_over(self, s: PickupState, e: TimerFired, now: float) -> Result:
        """The reopen window is fixed from the moment the door closed: activity does not stretch it, so
        the next person at the kiosk cannot open the previous citizen's locker."""
        return replace(s, reopen_closed=True), []

    def _thanks_tap(self, s: PickupState, e: Tap, now: float) -> Result:
        if e.action == "reopen" and self._can_reopen(s):
            return replace(s, phase=Phase.RELEASING, reopens=s.reopens + 1, retried=False), [
                fx.CancelTimer(INACTIVITY), fx.CancelTimer(REOPEN_GRACE),
                fx.ReleaseLocker(s.reservation_id, s.locker, "reopen", s.method or "pin")]
        if e.action == "done":
            return self._end_session(s)
        return s, []

    def _error_tap(self, s: PickupState, e: Tap, now: float) -> Result:
        if e.action in ("ok", "back"):
            if s.staff_badge is not None:  # a refused load or emptying: back to the staff menu
                return replace(s, phase=Phase.STAFF_MENU, error=None, purpose="staff", page=0), [fx.LoadStaffWork()]
            if s.staff_uid is not None:  # a wrong staff PIN: try again
                return replace(s, phase=Phase.STAFF_PIN, error=None, code=""), []
            if s.proving:  # a proof failed: another try, with the same reservation
                return strong.error_back(self, s)
            back = Phase.RETURN_IDENTIFY if s.purpose == "return" else Phase.METHOD
            return replace(s, phase=back, error=None, locked_seconds=None, notice=None), []
        return s, []


TABLE: dict[tuple[Phase, type], Handler] = {
    (Phase.ATTRACT, Tap): PickupFlow._attract_tap,
    (Phase.METHOD, Tap): PickupFlow._method_tap,
    (Phase.PIN, Tap): PickupFlow._pin_tap,
    (Phase.SCAN, Tap): PickupFlow._scan_tap,
    (Phase.RETURN_IDENTIFY, Tap): returns.identify_tap,
    (Phase.RETURN_TAGS, Tap): returns.tags_tap,
    (Phase.RETURN_DONE, Tap): returns.done_tap,
    **{(phase, TagRead): returns.tag_read for phase in (Phase.ATTRACT, Phase.RETURN_IDENTIFY, Phase.RETURN_TAGS)},
    **{(phase, LoanSeen): returns.loan_seen for phase in (Phase.ATTRACT, Phase.RETURN_IDENTIFY, Phase.CHECKING)},
    **{(phase, TagUnknown): returns.tag_unknown for phase in (Phase.ATTRACT, Phase.RETURN_IDENTIFY)},
    **{(phase, ReturnRefused): returns.return_refused
       for phase in (Phase.ATTRACT, Phase.RETURN_IDENTIFY, Phase.CHECKING, Phase.RELEASING)},
    **{(phase, BadgeSeen): staff.badge_seen for phase in (Phase.ATTRACT, Phase.RETURN_IDENTIFY)},
    (Phase.STAFF_PIN, Tap): staff.pin_tap,
    (Phase.CHECKING, StaffIdentified): staff.identified,
    (Phase.STAFF_MENU, Tap): staff.menu_tap,
    (Phase.STAFF_LOAD, Tap): staff.load_tap,
    (Phase.STAFF_COLLECT, Tap): staff.collect_tap,
    **{(phase, StaffWork): staff.work for phase in (Phase.STAFF_MENU, Phase.STAFF_LOAD, Phase.STAFF_COLLECT)},
    (Phase.CHECKING, Identified): PickupFlow._identified,
    (Phase.CHECKING, IdentificationFailed): PickupFlow._identification_failed,
    (Phase.RELEASING, ReleaseStarted): PickupFlow._release_started,
    (Phase.RELEASING, ReleaseRefused): PickupFlow._release_refused,
    (Phase.WAIT_OPEN, DoorOpened): PickupFlow._door_opened,
    (Phase.WAIT_OPEN, TimerFired): PickupFlow._wait_open_timer,
    (Phase.WAIT_CLOSE, DoorClosed): PickupFlow._door_closed,
    (Phase.WAIT_CLOSE, TimerFired): PickupFlow._wait_close_timer,
    (Phase.WAIT_CLOSE, Tap): PickupFlow._wait_close_tap,
    (Phase.THANKS, Tap): PickupFlow._thanks_tap,
    (Phase.ERROR, Tap): PickupFlow._error_tap,
    # strong identification (kioskd.flows.strong)
    (Phase.PROVE, Tap): strong.prove_tap,
    (Phase.EID_INSERT, Tap): strong.insert_tap,
    (Phase.EID_READING, CardRead): strong.card_read,
    (Phase.EID_READING, IdentityChecked): strong.identity_checked,
    (Phase.EID_READING, TimerFired): strong.card_read_timer,
    (Phase.ITSME, Tap): strong.itsme_tap,
    (Phase.ITSME, ItsmeStarted): strong.itsme_started,
    (Phase.ITSME, ItsmeResult): strong.itsme_result,
    (Phase.ITSME, IdentityChecked): strong.identity_checked,
    (Phase.ITSME, TimerFired): strong.itsme_timer,
    **{(phase, QrScanned): PickupFlow._check_qr for phase in (*ACCEPTS_QR, Phase.STAFF_LOAD)},
    # service mode (kioskd.flows.service): the tests' readings, live doors, the technician's taps
    (Phase.SERVICE_HOME, Tap): service.home_tap,
    (Phase.SERVICE_LOCKERS, Tap): service.lockers_tap,
    (Phase.SERVICE_LOCKER, Tap): service.locker_tap,
    (Phase.SERVICE_CONFIRM, Tap): service.confirm_tap,
    (Phase.SERVICE_TESTS, Tap): service.tests_tap,
    (Phase.SERVICE_RFID, Tap): service.device_test_tap,
    (Phase.SERVICE_CAMERA, Tap): service.device_test_tap,
    (Phase.SERVICE_LOG, Tap): service.log_tap,
    (Phase.SERVICE_RFID, TagRead): service.tag_read,
    (Phase.SERVICE_CAMERA, QrScanned): service.qr_seen,
    **{(phase, event): handler for phase in SERVICE_PHASES for event, handler in (
        (ServiceStatus, service.status), (ServiceResult, service.result), (TimerFired, service.timer),
        (DoorOpened, service.door), (DoorClosed, service.door), (ReleaseStarted, service.release_started),
        (ReleaseRefused, service.release_refused))},
}

OVERLAY_TAPS: dict[str, Handler] = {
    "help": PickupFlow._on_help_tap,
    "timeout": PickupFlow._on_timeout_tap,
}
