"""The keypad rules, as a pure function of key, screen and focus."""

from __future__ import annotations

from kioskd import effects as fx
from kioskd.events import Activity, Key, Tap
from kioskd.ui.keypad import focus_order, navigate
from kioskd.ui.model import Button, CodeDisplay, Label, ScreenModel


def model(screen, *actions, entered=0):
    widgets = [Label("title", (0, 0, 10, 10))]
    widgets += [Button(f"lang:{c}", c, (0, 0, 5, 5), "lang") for c in ("nl", "fr", "en")]
    widgets += [Button("help", "Help", (0, 0, 5, 5))]
    if screen == "pin":
        widgets.append(CodeDisplay((0, 0, 5, 5), entered, 8))
        widgets += [Button(f"digit:{d}", str(d), (0, 0, 5, 5), "digit") for d in range(10)]
    widgets += [Button(a, a.title(), (0, 0, 5, 5)) for a in actions]
    return ScreenModel(screen, "en", tuple(widgets))


ATTRACT = model("attract", "pickup", "return", "audio", "large_text")
METHOD = model("method", "method:pin", "method:qr", "back", "restart")
PIN = model("pin", "erase", "ok", "back", "restart")


def test_focus_order_puts_the_screens_choices_first_and_never_the_digit_keys():
    order = [b.action for b in focus_order(PIN)]
    assert order[:4] == ["erase", "ok", "back", "restart"]
    assert order[-4:] == ["lang:nl", "lang:fr", "lang:en", "help"]
    assert not any(a.startswith("digit:") for a in order)


def test_down_moves_focus_and_speaks_it_only_in_audio_mode():
    nav = navigate(Key("down"), METHOD, None, audio=True)
    assert nav.focus == "method:pin" and fx.Say("focus") in nav.effects and Activity() in nav.events
    nav = navigate(Key("down"), METHOD, "method:pin", audio=False)
    assert nav.focus == "method:qr" and nav.effects == ()


def test_focus_wraps_around_both_ways():
    last = focus_order(METHOD)[-1].action
    assert navigate(Key("down"), METHOD, last, audio=True).focus == "method:pin"
    assert navigate(Key("up"), METHOD, "method:pin", audio=True).focus == last
    assert navigate(Key("up"), METHOD, None, audio=True).focus == last


def test_eight_and_two_steer_outside_the_code_screen_and_five_chooses():
    assert navigate(Key("2"), METHOD, None, audio=True).focus == "method:pin"
    assert navigate(Key("8"), METHOD, "method:qr", audio=True).focus == "method:pin"
    assert navigate(Key("5"), METHOD, "method:qr", audio=True).events == (Tap("method:qr"),)


def test_on_the_code_screen_digits_are_the_code_and_are_never_said():
    nav = navigate(Key("2"), PIN, "back", audio=True)
    assert nav.events == (Tap("digit:2"),)
    assert nav.effects == ()  # no speech at all; the shell adds only a tone
    assert nav.focus is None  # so Enter then confirms the code


def test_enter_confirms_the_code_unless_a_button_is_focused():
    assert navigate(Key("enter"), PIN, None, audio=True).events == (Tap("ok"),)
    assert navigate(Key("enter"), PIN, "back", audio=True).events == (Tap("back"),)


def test_back_erases_a_digit_first_then_goes_back():
    assert navigate(Key("back"), model("pin", "erase", "ok", "back", entered=3), None, audio=True).events == (
        Tap("erase"),)
    assert navigate(Key("back"), PIN, None, audio=True).events == (Tap("back"),)
    nav = navigate(Key("back"), ATTRACT, None, audio=True)
    assert nav.events == () and nav.effects == (fx.Say("hint.not_here"),)


def test_enter_with_nothing_focused_takes_the_screens_obvious_answer_or_shows_focus():
    timeout = model("timeout", "extend", "restart")
    assert navigate(Key("enter"), timeout, None, audio=True).events == (Tap("extend"),)
    nav = navigate(Key("enter"), METHOD, None, audio=True)
    assert nav.focus == "method:pin" and not any(isinstance(e, Tap) for e in nav.events)


def test_holding_five_on_the_start_screen_asks_for_audio_mode():
    assert navigate(Key("5", held=True), ATTRACT, None, audio=False).events == (Tap("audio_on"),)
    assert navigate(Key("5", held=True), METHOD, None, audio=True).events == ()


def test_a_key_on_the_start_screen_without_audio_mode_explains_how_to_start_it():
    nav = navigate(Key("7"), ATTRACT, None, audio=False)
    assert nav.effects == (fx.Say("hint.hold_five"),) and nav.events == ()


def test_repeat_help_and_volume():
    assert navigate(Key("repeat"), METHOD, "back", audio=True).effects == (fx.Say("screen"),)
    assert navigate(Key("help"), METHOD, None, audio=True).events == (Tap("help"),)
    no_help = ScreenModel("help", "en", (Button("back", "Back", (0, 0, 1, 1)),))
    assert navigate(Key("help"), no_help, None, audio=True).effects == (fx.Say("screen"),)
    assert navigate(Key("volume"), METHOD, None, audio=True).events == (Tap("volume"),)


def test_disabled_buttons_are_skipped():
    m = ScreenModel("method", "en", (Button("a", "A", (0, 0, 1, 1), enabled=False), Button("b", "B", (0, 0, 1, 1))))
    assert navigate(Key("down"), m, None, audio=True).focus == "b"
