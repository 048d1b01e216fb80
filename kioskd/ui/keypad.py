"""The keypad: how keys move focus and act on a screen, for the audio mode and for anyone without touch.

A pure function: ``navigate(key, model, focus, audio=...)`` says where focus goes, which taps the
flow gets and what is said, so every rule here is testable without pygame. The physical keys are
mapped to names in ``kioskd.ui.touchscreen``; ``docs/accessibility.md`` lists them.

Rules a blind citizen can learn in one go: up and down (or 8 and 2) move through the choices, Enter
(or 5) takes the focused one, minus goes back, plus repeats, star is help, slash changes the volume.
On the code screen the digits are the code, so there only the arrows move. Focus never lands on the
on-screen digit keys: speaking their labels would say the code aloud.
"""

from __future__ import annotations

from dataclasses import dataclass

from kioskd import effects as fx
from kioskd.events import Activity, Key, Tap
from kioskd.ui.model import Button, CodeDisplay, ScreenModel

KEY_NAMES = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "up", "down", "left", "right", "enter", "back",
             "repeat", "help", "volume")
# outside the code screen, the digits around 5 steer like a phone's keypad
_DIGIT_MOVES = {"8": "up", "2": "down", "4": "left", "6": "right", "5": "enter"}
# what Enter does when nothing is focused, where a screen has one obvious answer (its prompt says so)
DEFAULT_ACTIONS = ("extend", "ok", "continue")
CODE_SCREENS = ("pin", "staff_pin")  # where the digit keys type a code (and are never spoken)


@dataclass(frozen=True)
class Navigation:
    focus: str | None  # action of the focused button, or None
    events: tuple = ()  # for the flow: Tap, Activity
    effects: tuple = ()  # for the runner: Say, Tone, ChangeVolume


def focus_order(model: ScreenModel) -> list[Button]:
    """Buttons a keypad user can reach: the screen's own choices first, then language and help.

    The header comes last because a visitor who needs another language finds it at the end of
    every list, while everyone else reaches the screen's choice with the first key press.
    """
    buttons = [b for b in model.buttons() if b.enabled and not b.action.startswith("digit:")]
    header = [b for b in buttons if b.action.startswith("lang:") or b.action == "help"]
    return [b for b in buttons if b not in header] + header


def _entered(model: ScreenModel) -> int:
    return next((w.entered for w in model.widgets if isinstance(w, CodeDisplay)), 0)


def navigate(key: Key, model: ScreenModel, focus: str | None, *, audio: bool) -> Navigation:
    name = key.name
    code_screen = model.screen in CODE_SCREENS
    if key.held:
        if name == "5" and model.screen in ("attract", "out_of_service"):
            return Navigation(focus, (Tap("audio_on"),))
        return Navigation(focus)
    if name.isdigit():
        if code_screen:  # the code itself: a tone from the shell, never a word
            return Navigation(None, (Tap(f"digit:{name}"),))
        if not audio and model.screen == "attract":
            return Navigation(focus, (), (fx.Say("hint.hold_five"),))
        name = _DIGIT_MOVES.get(name, name)
        if name.isdigit():
            return Navigation(focus, (), (fx.Say("hint.not_here"),))
    if name in ("up", "down", "left", "right"):
        return _move(model, focus, -1 if name in ("up", "left") else 1, audio)
    if name == "enter":
        return _enter(model, focus, audio, code_screen)
    if name == "back":
        if code_screen and _entered(model) > 0:
            return Navigation(focus, (Tap("erase"),))
        if model.button("back") is not None:
            return Navigation(None, (Tap("back"),))
        return Navigation(focus, (), (fx.Say("hint.not_here"),))
    if name == "repeat":
        return Navigation(focus, (Activity(),), (fx.Say("screen"),))
    if name == "help":
        if model.button("help") is not None:
            return Navigation(None, (Tap("help"),))
        return Navigation(focus, (Activity(),), (fx.Say("screen"),))
    if name == "volume":
        return Navigation(focus, (Tap("volume"),))
    return Navigation(focus)


def _move(model: ScreenModel, focus: str | None, step: int, audio: bool) -> Navigation:
    order = focus_order(model)
    if not order:
        return Navigation(None, (Activity(),))
    actions = [b.action for b in order]
    start = actions.index(focus) + step if focus in actions else (0 if step > 0 else -1)
    index = start % len(actions)  # wraps: the list is a ring
    said = (fx.Say("focus"),) if audio else ()
    return Navigation(actions[index], (Activity(),), said)


def _enter(model: ScreenModel, focus: str | None, audio: bool, code_screen: bool) -> Navigation:
    button = model.button(focus) if focus else None
    if button is not None and button.enabled:
        return Navigation(None, (Tap(button.action),))
    if code_screen:
        return Navigation(None, (Tap("ok"),))
    default = next((model.button(a) for a in DEFAULT_ACTIONS if model.button(a) is not None), None)
    if default is not None and default.enabled:  # "press Enter for more time", "press Enter to try again"
        return Navigation(None, (Tap(default.action),))
    # nothing focused yet: Enter first shows (and says) where focus is, it does not act blindly
    return _move(model, None, 1, audio)
