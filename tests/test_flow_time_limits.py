"""Time limits warn and extend; sessions reset language, audio mode, text size and volume; out of service."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kioskd import effects as fx
from kioskd.events import Activity, DeviceStatus, DoorOpened, QrScanned, ReleaseStarted, Tap, TimerFired
from kioskd.flows.pickup import DOOR_PHASES, IDLE_TIMED, Phase, PickupFlow, PickupSettings, PickupState

SETTINGS = PickupSettings()
FLOW = PickupFlow(SETTINGS)
NOW = 1_800_000_000.0


def timers_started(effects):
    return {e.name: e.seconds for e in effects if isinstance(e, fx.StartTimer)}


@pytest.mark.parametrize("phase", sorted(IDLE_TIMED, key=lambda p: p.value))
def test_every_timed_screen_warns_and_can_be_extended_ten_times_by_at_least_20_s(phase):
    state = replace(PickupState(), phase=phase, locker=3, reservation_id="R-1", release_id=7)
    for extension in range(SETTINGS.max_extensions):
        state, effects = FLOW.step(state, TimerFired("inactivity"), NOW)
        assert state.overlay == "timeout" and state.phase is phase
        assert fx.Tone("warning") in effects  # heard
        show = next(e for e in effects if isinstance(e, fx.Show))  # and seen
        assert show.screen == "timeout" and show.params["extensions_left"] == SETTINGS.max_extensions - extension
        assert timers_started(effects)["warning"] == SETTINGS.timeout_warning_seconds
        state, effects = FLOW.step(state, Tap("extend"), NOW)
        assert state.overlay is None and state.phase is phase
        assert timers_started(effects)["inactivity"] >= 20
    # the eleventh warning no longer offers more time, and then the session ends
    state, effects = FLOW.step(state, TimerFired("inactivity"), NOW)
    assert next(e for e in effects if isinstance(e, fx.Show)).params["extensions_left"] == 0
    assert FLOW.step(state, Tap("extend"), NOW)[0].overlay == "timeout"
    state, _ = FLOW.step(state, TimerFired("warning"), NOW)
    assert state.phase is Phase.ATTRACT


def test_the_warning_counts_down_every_second():
    state, _ = FLOW.step(replace(PickupState(), phase=Phase.PIN), TimerFired("inactivity"), NOW)
    shown = []
    for _ in range(3):
        state, effects = FLOW.step(state, TimerFired("countdown_tick"), NOW)
        shown += [e.params["seconds"] for e in effects if isinstance(e, fx.Show)]
        assert fx.StartTimer("countdown_tick", 1) in effects
        assert not any(isinstance(e, fx.Say) for e in effects)  # the count is shown, not repeated aloud
    assert shown == [14, 13, 12]


def test_a_door_left_open_warns_and_can_be_given_more_time_ten_times():
    state = PickupState(phase=Phase.WAIT_CLOSE, locker=3, reservation_id="R-1", release_id=7)
    for _ in range(SETTINGS.max_extensions):
        state, effects = FLOW.step(state, TimerFired("close_reminder"), NOW)
        assert fx.Tone("warning") in effects and fx.Say("screen") in effects
        reminder = {"locker": 3, "reminder": True, "can_extend": True, "purpose": "pickup"}
        assert fx.Show("close_door", reminder) in effects
        state, effects = FLOW.step(state, Tap("extend"), NOW)
        assert not state.reminder and fx.CancelTimer("door_alarm") in effects
        assert timers_started(effects)["close_reminder"] >= 20
    state, effects = FLOW.step(state, TimerFired("close_reminder"), NOW)
    assert fx.Show("close_door", {"locker": 3, "reminder": True, "can_extend": False, "purpose": "pickup"}) in effects
    state, effects = FLOW.step(state, TimerFired("door_alarm"), NOW)
    assert fx.RaiseAlarm("door_left_open", 3, "R-1") in effects and state.phase is Phase.ATTRACT


def test_key_activity_restarts_idle_time_but_not_during_the_warning():
    state = PickupState(phase=Phase.METHOD)
    assert FLOW.step(state, Activity(), NOW)[1] == [fx.StartTimer("inactivity", SETTINGS.inactivity_seconds)]
    assert FLOW.step(replace(state, overlay="timeout"), Activity(), NOW)[1] == []
    assert FLOW.step(PickupState(phase=Phase.WAIT_OPEN), Activity(), NOW)[1] == []


@pytest.mark.parametrize("phase", [Phase.METHOD, Phase.PIN, Phase.SCAN, Phase.ERROR, Phase.RETURN_IDENTIFY,
                                   Phase.RETURN_TAGS, Phase.THANKS])
def test_start_over_ends_the_session_from_every_citizen_screen(phase):
    state = PickupState(phase=phase, lang="fr", code="123")
    new, effects = FLOW.step(state, Tap("restart"), NOW)
    assert new.phase is Phase.ATTRACT and new.code == "" and new.lang == "nl"
    assert fx.CancelAllTimers() in effects


@pytest.mark.parametrize("phase", sorted(DOOR_PHASES | {Phase.CHECKING}, key=lambda p: p.value))
def test_start_over_cannot_abandon_an_open_door(phase):
    state = PickupState(phase=phase, locker=3, release_id=7)
    assert FLOW.step(state, Tap("restart"), NOW)[0].phase is phase
    # on the help screen at the door it only closes help
    new, _ = FLOW.step(replace(state, overlay="help"), Tap("restart"), NOW)
    assert new.phase is phase and new.overlay is None


def test_audio_mode_and_large_text_are_switched_on_the_start_screen_and_reset_after_the_session():
    state, _ = FLOW.start()
    state, effects = FLOW.step(state, Tap("audio_on"), NOW)
    assert state.audio and fx.SetAudioMode(True) in effects and fx.Say("screen") in effects
    assert fx.Say("hint.audio_on") in FLOW.step(state, Tap("audio_on"), NOW)[1]
    state, effects = FLOW.step(state, Tap("large_text"), NOW)
    assert state.large_text and fx.SetLargeText(True) in effects
    state, _ = FLOW.step(state, Tap("lang:fr"), NOW)
    state, _ = FLOW.step(state, Tap("pickup"), NOW)
    state, effects = FLOW.step(state, Tap("restart"), NOW)
    assert (state.audio, state.large_text, state.lang) == (False, False, "nl")
    assert fx.SetAudioMode(False) in effects and fx.SetLargeText(False) in effects
    assert fx.ResetVolume() in effects and fx.SetLanguage("nl") in effects


def test_the_on_screen_audio_button_toggles():
    state, _ = FLOW.start()
    state, _ = FLOW.step(state, Tap("audio"), NOW)
    assert state.audio
    state, effects = FLOW.step(state, Tap("audio"), NOW)
    assert not state.audio and fx.SetAudioMode(False) in effects


def test_a_full_code_gives_a_distinct_tone_and_in_audio_mode_says_what_next_never_the_digits():
    state = PickupState(phase=Phase.PIN, code="1234567", audio=True)
    state, effects = FLOW.step(state, Tap("digit:8"), NOW)
    assert fx.Tone("complete") in effects and fx.Say("hint.code_complete") in effects
    assert FLOW.step(state, Tap("digit:9"), NOW)[1] == [fx.Tone("error"), fx.StartTimer("inactivity", 45)]
    assert not any(isinstance(e, fx.Say) for e in FLOW.step(PickupState(phase=Phase.PIN), Tap("digit:1"), NOW)[1])


def test_out_of_service_replaces_the_invitation_and_refuses_pickups():
    state, _ = FLOW.start()
    state, effects = FLOW.step(state, DeviceStatus("locks", False, "no locker"), NOW)
    assert fx.Show("out_of_service", {}) in effects
    assert FLOW.step(state, Tap("pickup"), NOW)[0].phase is Phase.ATTRACT
    assert FLOW.step(state, QrScanned("KD1.x.y"), NOW)[0].phase is Phase.ATTRACT
    assert FLOW.step(state, Tap("lang:fr"), NOW)[0].lang == "fr"  # still readable in every language
    state, effects = FLOW.step(state, DeviceStatus("locks", True), NOW)
    assert any(isinstance(e, fx.Show) and e.screen == "attract" for e in effects)


def test_out_of_service_waits_for_a_running_session_to_finish():
    state = PickupState(phase=Phase.WAIT_OPEN, locker=3, release_id=7, reservation_id="R-1")
    state, effects = FLOW.step(state, DeviceStatus("locks", False), NOW)
    assert state.phase is Phase.WAIT_OPEN and not any(isinstance(e, fx.Show) for e in effects)
    state, _ = FLOW.step(state, DoorOpened(3), NOW)
    assert state.phase is Phase.WAIT_CLOSE and state.out_of_service


def test_in_audio_mode_a_released_door_is_given_longer_to_be_found_and_opened():
    released = PickupState(phase=Phase.RELEASING, locker=9, reservation_id="R-1")
    plain = timers_started(FLOW.step(released, ReleaseStarted(7, 9), NOW)[1])["door_open"]
    audio = timers_started(FLOW.step(replace(released, audio=True), ReleaseStarted(7, 9), NOW)[1])["door_open"]
    assert plain == SETTINGS.door_open_timeout_seconds and audio == 3 * plain
