"""The pickup flow as a table: (state, event) → (state, effects). Pure: no I/O, no clock."""

from dataclasses import replace

import pytest

from kioskd import effects as fx
from kioskd.events import (
    DeviceStatus,
    DoorClosed,
    DoorOpened,
    IdentificationFailed,
    Identified,
    QrScanned,
    ReleaseRefused,
    ReleaseStarted,
    ReservationView,
    Tap,
    TimerFired,
)
from kioskd.flows.pickup import Phase, PickupFlow, PickupSettings, PickupState

SETTINGS = PickupSettings()
FLOW = PickupFlow(SETTINGS)
NOW = 1_800_000_000.0
S0 = PickupState()


def view(status="ready", identification="code", expires_at=NOW + 3600, locker=3):
    return ReservationView("R-1", "room-key", status, locker, expires_at, identification)


AT = {phase: replace(S0, phase=phase) for phase in Phase}
WAITING = replace(S0, phase=Phase.WAIT_OPEN, reservation_id="R-1", locker=3, release_id=7, method="pin")
OPENED = replace(WAITING, phase=Phase.WAIT_CLOSE)

# (name, state, event, phase after, effects that must appear in this order, effects that must not)
CASES = [
    ("pickup starts", AT[Phase.ATTRACT], Tap("pickup"), Phase.METHOD,
     [fx.Show("method", {"qr_available": True}), fx.Say("screen")], []),
    ("return asks for the loan", AT[Phase.ATTRACT], Tap("return"), Phase.RETURN_IDENTIFY,
     [fx.Show("return_identify", {"qr_available": True})], []),
    ("QR on attract checks at once", AT[Phase.ATTRACT], QrScanned("x"), Phase.CHECKING, [fx.VerifyQr("x")], []),
    ("pin pad", AT[Phase.METHOD], Tap("method:pin"), Phase.PIN, [fx.Show("pin", {"entered": 0, "length": 8})], []),
    ("scan", AT[Phase.METHOD], Tap("method:qr"), Phase.SCAN, [fx.Show("scan", {})], []),
    ("back returns to the start, session kept", replace(AT[Phase.METHOD], lang="fr", audio=True), Tap("back"),
     Phase.ATTRACT, [fx.StartTimer("inactivity", 45), fx.Show("attract", {"qr_available": True, "audio": True,
                                                                           "large_text": False})],
     [fx.CancelAllTimers(), fx.SetAudioMode(False)]),
    ("digit counted not shown", AT[Phase.PIN], Tap("digit:4"), Phase.PIN,
     [fx.Show("pin", {"entered": 1, "length": 8})], []),
    ("ok on empty pad does nothing", AT[Phase.PIN], Tap("ok"), Phase.PIN, [], [fx.VerifyPin("")]),
    ("ok verifies", replace(AT[Phase.PIN], code="40213377"), Tap("ok"), Phase.CHECKING,
     [fx.CancelTimer("inactivity"), fx.VerifyPin("40213377")], []),
    ("unknown code", AT[Phase.CHECKING], IdentificationFailed("pin", "unknown_code"), Phase.ERROR,
     [fx.Show("error", {"reason": "unknown_code", "locked_seconds": None, "locker": None})], []),
    ("locked out shows seconds", AT[Phase.CHECKING], IdentificationFailed("pin", "locked_out", NOW + 29.5),
     Phase.ERROR, [fx.Show("error", {"reason": "locked_out", "locked_seconds": 30, "locker": None})], []),
    ("ready reservation released", AT[Phase.CHECKING], Identified(view(), "pin"), Phase.RELEASING,
     [fx.ReleaseLocker("R-1", 3, "pickup", "pin", None)], []),
    ("QR token spent with release", AT[Phase.CHECKING], Identified(view(), "qr", "j1"), Phase.RELEASING,
     [fx.ReleaseLocker("R-1", 3, "pickup", "qr", "j1")], []),
    ("expired refused", AT[Phase.CHECKING], Identified(view(expires_at=NOW - 1), "pin"), Phase.ERROR,
     [fx.Show("error", {"reason": "expired", "locked_seconds": None, "locker": 3})], []),
    ("collected refused", AT[Phase.CHECKING], Identified(view(status="collected"), "pin"), Phase.ERROR,
     [fx.Show("error", {"reason": "already_collected", "locked_seconds": None, "locker": 3})], []),
    ("strong product without eID or itsme", AT[Phase.CHECKING], Identified(view(identification="strong"), "pin"),
     Phase.ERROR, [fx.Show("error", {"reason": "strong_unavailable", "locked_seconds": None, "locker": 3})],
     [fx.ReleaseLocker("R-1", 3, "pickup", "pin", None)]),
    ("awaiting stock refused", AT[Phase.CHECKING], Identified(view(status="awaiting_stock", locker=None), "pin"),
     Phase.ERROR, [fx.Show("error", {"reason": "not_ready", "locked_seconds": None, "locker": None})], []),
    ("release started waits for door", replace(AT[Phase.RELEASING], locker=3), ReleaseStarted(7, 3),
     Phase.WAIT_OPEN, [fx.StartTimer("door_open", 20),
                       fx.Show("locker_open", {"locker": 3, "retry": False, "purpose": "pickup"})], []),
    ("release refused", AT[Phase.RELEASING], ReleaseRefused("replayed"), Phase.ERROR, [], []),
    ("door opened", WAITING, DoorOpened(3), Phase.WAIT_CLOSE,
     [fx.CancelTimer("door_open"), fx.StartTimer("close_reminder", 30)], []),
    ("another door ignored", WAITING, DoorOpened(4), Phase.WAIT_OPEN, [], []),
    ("never opened: one retry", WAITING, TimerFired("door_open"), Phase.RELEASING,
     [fx.ReleaseLocker("R-1", 3, "retry", "pin")], []),
    ("never opened twice: help and alarm", replace(WAITING, retried=True), TimerFired("door_open"), Phase.ERROR,
     [fx.RecordReleaseOutcome(7, "unopened"), fx.RaiseAlarm("door_not_opened", 3, "R-1"),
      fx.Show("help", {"reason": "door_not_opened", "locker": 3, "in_session": True, "at_door": False})],
     [fx.ReleaseLocker("R-1", 3, "retry", "pin")]),
    ("door closed collects", OPENED, DoorClosed(3), Phase.THANKS,
     [fx.RecordCollected("R-1", 7), fx.StartTimer("reopen_grace", 60), fx.StartTimer("inactivity", 45)], []),
    ("reopened door closed does not collect twice", replace(OPENED, collected=True), DoorClosed(3), Phase.THANKS,
     [], [fx.RecordCollected("R-1", 7)]),
    ("reminder", OPENED, TimerFired("close_reminder"), Phase.WAIT_CLOSE,
     [fx.Tone("warning"), fx.StartTimer("door_alarm", 90),
      fx.Show("close_door", {"locker": 3, "reminder": True, "can_extend": True, "purpose": "pickup"}),
      fx.Say("screen")], []),
    ("left open: alarm, collected, session over", OPENED, TimerFired("door_alarm"), Phase.ATTRACT,
     [fx.RaiseAlarm("door_left_open", 3, "R-1"), fx.RecordReleaseOutcome(7, "left_open"),
      fx.RecordCollected("R-1", 7, door_left_open=True)], []),
    ("reopen in grace", replace(OPENED, phase=Phase.THANKS, collected=True), Tap("reopen"), Phase.RELEASING,
     [fx.CancelTimer("inactivity"), fx.ReleaseLocker("R-1", 3, "reopen", "pin")], []),
    ("reopen capped", replace(OPENED, phase=Phase.THANKS, collected=True, reopens=2), Tap("reopen"), Phase.THANKS,
     [], [fx.ReleaseLocker("R-1", 3, "reopen", "pin")]),
    ("grace over warns first", replace(OPENED, phase=Phase.THANKS), TimerFired("inactivity"), Phase.THANKS,
     [fx.Show("timeout", {"seconds": 15, "extensions_left": 10})], []),
    ("warning over thanks ends", replace(OPENED, phase=Phase.THANKS, overlay="timeout"), TimerFired("warning"),
     Phase.ATTRACT, [fx.Show("attract", {"qr_available": True, "audio": False, "large_text": False})], []),
    ("inactivity warns", AT[Phase.PIN], TimerFired("inactivity"), Phase.PIN,
     [fx.Tone("warning"), fx.StartTimer("warning", 15), fx.StartTimer("countdown_tick", 1),
      fx.Show("timeout", {"seconds": 15, "extensions_left": 10})], []),
    ("no inactivity at the door", WAITING, TimerFired("inactivity"), Phase.WAIT_OPEN, [], []),
    ("warning expires", replace(AT[Phase.PIN], overlay="timeout"), TimerFired("warning"), Phase.ATTRACT,
     [fx.CancelAllTimers()], []),
    ("extend", replace(AT[Phase.PIN], overlay="timeout"), Tap("extend"), Phase.PIN,
     [fx.CancelTimer("warning"), fx.StartTimer("inactivity", 45)], []),
    ("language", AT[Phase.METHOD], Tap("lang:fr"), Phase.METHOD, [fx.SetLanguage("fr"), fx.Say("screen")], []),
    ("unknown language ignored", AT[Phase.METHOD], Tap("lang:de"), Phase.METHOD, [], [fx.SetLanguage("de")]),
    ("camera down leaves scan", AT[Phase.SCAN], DeviceStatus("camera", False), Phase.METHOD,
     [fx.Show("method", {"qr_available": False})], []),
    ("QR ignored while door open", OPENED, QrScanned("x"), Phase.WAIT_CLOSE, [], [fx.VerifyQr("x")]),
    ("help at the door: back only closes help", replace(OPENED, overlay="help"), Tap("back"), Phase.WAIT_CLOSE,
     [fx.Show("close_door", {"locker": 3, "reminder": False, "can_extend": False, "purpose": "pickup"})],
     [fx.CancelAllTimers()]),
    ("a reopen that does not open is retried as a reopen", replace(WAITING, collected=True, reopens=1),
     TimerFired("door_open"), Phase.RELEASING, [fx.ReleaseLocker("R-1", 3, "reopen", "pin")], []),
    ("refused retry closes the release and alarms", replace(WAITING, phase=Phase.RELEASING, retried=True),
     ReleaseRefused("not_ready"), Phase.ERROR,
     [fx.RecordReleaseOutcome(7, "unopened"), fx.RaiseAlarm("door_not_opened", 3, "R-1")], []),
    ("help from the timeout warning", replace(AT[Phase.PIN], overlay="timeout"), Tap("help"), Phase.PIN,
     [fx.CancelTimer("warning"),
      fx.Show("help", {"reason": None, "locker": None, "in_session": True, "at_door": False})], []),
    ("help from error", replace(AT[Phase.ERROR], error="expired"), Tap("help"), Phase.ERROR,
     [fx.Show("help", {"reason": "expired", "locker": None, "in_session": True, "at_door": False})], []),
]


def _subsequence(expected, actual):
    it = iter(actual)
    return all(any(e == a for a in it) for e in expected)


@pytest.mark.parametrize("name,state,event,phase,present,absent", CASES, ids=[c[0] for c in CASES])
def test_transition(name, state, event, phase, present, absent):
    new, effects = FLOW.step(state, event, NOW)
    assert new.phase is phase
    assert _subsequence(present, effects), effects
    for effect in absent:
        assert effect not in effects


def test_start_shows_attract_in_default_language():
    state, effects = PickupFlow(PickupSettings(default_language="fr")).start(qr_available=False)
    assert state.lang == "fr"
    assert effects == [fx.SetLanguage("fr"), fx.SetAudioMode(False), fx.SetLargeText(False), fx.ResetVolume(),
                       fx.Show("attract", {"qr_available": False, "audio": False, "large_text": False}),
                       fx.Say("screen")]


def test_session_end_restores_default_language():
    state = replace(AT[Phase.THANKS], lang="en")
    new, effects = FLOW.step(state, Tap("done"), NOW)
    assert new.lang == "nl" and fx.SetLanguage("nl") in effects


def test_pin_never_longer_than_configured():
    state = replace(AT[Phase.PIN], code="1" * 8)
    new, effects = FLOW.step(state, Tap("digit:9"), NOW)
    assert new.code == "1" * 8 and not any(isinstance(e, fx.Show) for e in effects)


def test_digits_never_spoken():
    state = AT[Phase.PIN]
    for digit in "40213377":
        state, effects = FLOW.step(state, Tap(f"digit:{digit}"), NOW)
        assert not any(isinstance(e, fx.Say) for e in effects)


def test_flow_is_pure_same_input_same_output():
    a = FLOW.step(AT[Phase.CHECKING], Identified(view(), "qr", "j"), NOW)
    b = FLOW.step(AT[Phase.CHECKING], Identified(view(), "qr", "j"), NOW)
    assert a == b
