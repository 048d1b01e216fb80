"""A blind citizen's visit, keys only: audio mode from the keypad, a language, a PIN pickup, a QR pickup,
a return, help, and more time. Assertions are on what was spoken; no PIN digit is ever said.

The harness drives the real daemon: keys are pygame key events through the touchscreen's input path,
the flow, the keypad navigator and the effect runner; nothing here touches the screen.
"""

from __future__ import annotations

import re

from conftest import NOW, reservation

PIN = "40213377"


def said_since(k, mark):
    return k.spoken[mark:]


def last(k):
    return k.spoken[-1]


def focus_to(k, action, key="down", limit=12):
    """Move keypad focus until it is on ``action``, as a blind user would by listening."""
    for _ in range(limit):
        if k.focus == action:
            return
        k.key(key)
    raise AssertionError(f"focus never reached {action}: at {k.focus}")


def audio_mode_on(k):
    k.key("5", hold=2.0)
    prompt_id, lang, text = last(k)
    assert prompt_id == "screen.attract.keys" and lang == k.language
    return text


def test_blind_pin_pickup_with_keys_only(kiosk):
    k = kiosk
    k.load([reservation(locker=4, pin=PIN)])
    assert k.screen == "attract" and k.language == "nl"

    # a key pressed on the start screen tells how to start the audio guide
    k.key("7")
    assert last(k)[0] == "hint.hold_five"
    assert k.screen == "attract"

    # holding the 5 (with its raised dot) for two seconds starts the audio guide, in Dutch
    text = audio_mode_on(k)
    assert "Audiobegeleiding aan" in text

    # the languages are at the end of the ring: up from the start reaches them
    k.key("up")
    assert last(k) == ("focus.help", "nl", "Hulp")
    k.key("up")
    assert last(k) == ("focus.lang.en", "en", "English")  # said in English by the English voice
    k.key("enter")
    assert k.language == "en"
    assert last(k)[:2] == ("screen.attract.keys", "en")

    focus_to(k, "pickup")
    assert last(k) == ("focus.pickup", "en", "Collect")
    k.key("enter")
    assert k.screen == "method"
    assert last(k)[0] == "screen.method.qr.keys"

    focus_to(k, "method:pin")
    k.key("enter")
    assert k.screen == "pin"
    assert last(k)[0] == "screen.pin.8.keys" and "eight-digit" in last(k)[2]

    mark = len(k.spoken)
    tones = len(k.tones)
    for digit in PIN[:-1]:
        k.key(digit)
    assert k.spoken[mark:] == []  # nothing at all is said while the code is typed
    assert k.tones[tones:] == ["key"] * 7  # each key is heard as a tone
    k.key("back")  # minus erases the last digit, and says so without saying which
    assert last(k)[0] == "hint.code_erased"
    k.key(PIN[-2])
    k.key(PIN[-1])
    assert last(k)[0] == "hint.code_complete" and "complete" in k.tones
    k.key("enter")

    assert k.screen == "locker_open"
    assert k.released == [(4, NOW + 2.0)]
    prompt_id, lang, text = last(k)
    assert prompt_id == "screen.locker_open.4.keys" and lang == "en"
    assert text.startswith("Locker four is open, on the left, second row.")

    k.open_door(4)
    k.close_door(4)
    assert k.screen == "thanks" and last(k)[0].startswith("screen.thanks")
    focus_to(k, "done")
    k.key("enter")

    # the session is over: default language and touch mode for the next person
    assert k.screen == "attract" and k.language == "nl"
    assert last(k)[:2] == ("screen.attract.touch", "nl")
    assert [e["type"] for e in k.outbox()] == ["pickup.collected"]

    everything = " ".join(text for _, _, text in k.spoken)
    assert PIN not in everything
    assert not re.search(r"\d", everything)  # not one digit was spoken, the PIN's or any other


def test_blind_qr_pickup_return_and_help_with_keys_only(kiosk):
    k = kiosk
    k.load([reservation(rid="R-2", locker=9, pin="51515151")])
    audio_mode_on(k)

    # help from the start screen: door problems, contact and opening hours, and the keys
    k.key("help")
    assert k.screen == "help"
    help_text = last(k)[2]
    assert "toetsenblok" in help_text and "Maandag" in help_text
    k.key("back")
    assert k.screen == "attract"

    # a return: the return screen is read out, and minus goes back
    focus_to(k, "return")
    k.key("enter")
    assert k.screen == "return_identify" and last(k)[0] == "screen.return_identify.qr.keys"
    k.key("back")  # back to the start screen: the session, and its audio mode, go on
    assert k.screen == "attract" and last(k)[0] == "screen.attract.keys"

    # QR: choose scanning by keys, then hold the code to the camera
    focus_to(k, "pickup")
    k.key("enter")
    focus_to(k, "method:qr")
    k.key("enter")
    assert k.screen == "scan" and last(k)[0] == "screen.scan.keys"
    k.show_qr(k.token_for("R-2"))
    assert k.screen == "locker_open"
    assert last(k)[2].startswith("Kluis negen is open, rechts, onderste rij.")
    assert [locker for locker, _ in k.released] == [9]


def test_time_running_out_is_heard_and_enter_gives_more_time(kiosk):
    k = kiosk
    audio_mode_on(k)
    focus_to(k, "pickup")
    k.key("enter")
    k.advance(k.config.pickup.inactivity_seconds)
    assert k.screen == "timeout"
    assert "warning" in k.tones
    prompt_id, _, text = last(k)
    assert prompt_id.startswith("screen.timeout.") and prompt_id.endswith(".keys") and "Enter" in text
    k.key("enter")  # the prompt says: press Enter for more time
    assert k.screen == "method"
    k.advance(k.config.pickup.inactivity_seconds - 1)
    assert k.screen == "method"  # a full period again


def test_arrow_keys_move_focus_while_the_session_stays_alive(kiosk):
    k = kiosk
    audio_mode_on(k)
    focus_to(k, "pickup")
    k.key("enter")
    for _ in range(4):  # moving around counts as being there
        k.advance(k.config.pickup.inactivity_seconds - 5)
        k.key("down")
    assert k.screen == "method"


def test_repeat_says_the_screen_again_and_volume_cycles_and_resets(kiosk):
    k = kiosk
    audio_mode_on(k)
    before = k.parts.speaker.volume
    k.key("repeat")
    assert last(k)[0] == "screen.attract.keys"
    k.key("volume")
    assert last(k)[0] == "hint.volume"
    assert k.parts.speaker.volume != before
    focus_to(k, "pickup")
    k.key("enter")
    focus_to(k, "restart")  # start over ends the session
    k.key("enter")
    assert k.screen == "attract" and last(k)[0] == "screen.attract.touch"
    assert k.parts.speaker.volume == before


def test_a_changed_start_screen_times_out_to_the_defaults(kiosk):
    k = kiosk
    audio_mode_on(k)
    k.key("up")
    k.key("up")
    k.key("enter")  # English
    k.key("volume")
    assert (k.language, k.kiosk.state.audio) == ("en", True)
    k.advance(k.config.pickup.inactivity_seconds)
    assert k.screen == "timeout" and last(k)[0].startswith("screen.timeout")
    k.advance(k.config.pickup.timeout_warning_seconds)
    assert k.screen == "attract" and k.language == "nl" and not k.kiosk.state.audio
    assert k.parts.speaker.volume == 0.4  # the night volume: it is 02:34 in Brussels


def test_double_strike_guard_ignores_a_trembling_second_press(kiosk):
    k = kiosk
    k.parts.screen._double_strike = 0.5  # ui.double_strike_seconds, EN 301 549 5.8
    k.press("pickup")
    k.press("method:pin")
    k.key("3")
    k.key("3")  # same key, no time in between: ignored
    assert k.kiosk.state.code == "3"
    k.advance(0.6)
    k.key("3")
    k.key("7")  # another key is never held back
    assert k.kiosk.state.code == "337"


def test_the_five_key_is_a_plain_digit_on_the_code_screen_even_when_held(kiosk):
    k = kiosk
    k.press("pickup")
    k.press("method:pin")
    k.key("4")
    k.key("5", hold=2.5)  # a slow finger: still the digit 5, at once, and only once
    k.key("2")
    assert k.kiosk.state.code == "452"
    assert not k.kiosk.state.audio


def test_a_failing_voice_never_stops_the_kiosk(kiosk):
    k = kiosk

    def broken(*args, **kwargs):
        raise RuntimeError("sound card gone")

    k.parts.speaker.tone = broken
    k.key("down")  # the keypad path
    k.press("pickup")  # the touch path
    assert k.screen == "attract"  # the session was abandoned cleanly, the loop lives on
    k.parts.speaker.tone = lambda name: None
    k.press("pickup")
    assert k.screen == "method"
