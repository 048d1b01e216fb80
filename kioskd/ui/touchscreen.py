"""The pygame window: shows screens the flows ask for and turns touches and keys into ``Tap`` events.

It owns the display and is used only from the main loop's thread (SDL wants that). Drawing happens in
``render_if_dirty`` and only after something changed, so an idle kiosk does not burn CPU or wear the
panel. A tap counts when the finger is lifted on the button it went down on, as on phones: a finger
sliding off a button cancels the tap, which forgives a slip.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

import pygame

from kioskd.events import Key, Tap
from kioskd.ui.messages import DEFAULT_LANGUAGE
from kioskd.ui.model import Button, ScreenModel, center
from kioskd.ui.render import Renderer
from kioskd.ui.screens import Layout, build_screen


@dataclass(frozen=True)
class Quit:
    """The window was closed (developer desktop); the main loop stops."""


class Panel(Protocol):
    """A side panel drawn right of the kiosk screen (the simulator's hardware controls)."""

    width: int
    dirty: bool

    def handle_click(self, x: int, y: int) -> object | None: ...

    def draw(self, surface: pygame.Surface) -> None: ...


# A USB numeric keypad (or a keyboard) by key name; docs/accessibility.md shows the layout.
KEY_CODES: dict[str, tuple[int, ...]] = {
    **{str(d): (getattr(pygame, f"K_{d}"), getattr(pygame, f"K_KP{d}")) for d in range(10)},
    "up": (pygame.K_UP,), "down": (pygame.K_DOWN,), "left": (pygame.K_LEFT,), "right": (pygame.K_RIGHT,),
    "enter": (pygame.K_RETURN, pygame.K_KP_ENTER), "back": (pygame.K_KP_MINUS, pygame.K_BACKSPACE, pygame.K_ESCAPE),
    "repeat": (pygame.K_KP_PLUS, pygame.K_F2), "help": (pygame.K_KP_MULTIPLY, pygame.K_F1),
    "volume": (pygame.K_KP_DIVIDE, pygame.K_F3),
}
_KEY_NAMES = {code: name for name, codes in KEY_CODES.items() for code in codes}
# keys with a long-press meaning on some screens (hold 5 on the start screen: audio mode) act on release
# there, so holding them does not also do the short press; everywhere else they act when pressed
LONG_PRESS_KEYS = ("5",)
LONG_PRESS_SCREENS = ("attract", "out_of_service")


class TouchScreen:
    def __init__(self, layout: Layout, *, fullscreen: bool = False, panel: Panel | None = None,
                 title: str = "kioskd", clock: Callable[[], float] = time.monotonic,
                 hold_seconds: float = 2.0, double_strike_seconds: float = 0.0) -> None:
        self.layout = layout
        self._clock = clock
        self._hold_seconds = hold_seconds
        self._held: dict[str, tuple[float, bool]] = {}  # long-press key -> (pressed at, long press sent)
        self._double_strike = double_strike_seconds
        self._last_key: tuple[str, float] = ("", float("-inf"))
        self._focus: str | None = None
        self._touch: tuple[int, int] | None = None  # a finger down outside any button: shown as a ring
        self.audio_mode = False
        self.panel = panel
        pygame.display.init()
        pygame.font.init()
        size = (layout.width + (panel.width if panel is not None else 0), layout.height)
        self.window = pygame.display.set_mode(size, pygame.FULLSCREEN if fullscreen else 0)
        pygame.display.set_caption(title)
        if fullscreen:
            pygame.mouse.set_visible(False)  # a cursor on a touch kiosk only confuses
        self._renderer = Renderer(self.window.subsurface((0, 0, layout.width, layout.height)))
        self._panel_surface = (self.window.subsurface((layout.width, 0, panel.width, layout.height))
                               if panel is not None else None)
        self._language = layout.languages[0] if layout.languages else DEFAULT_LANGUAGE
        self._screen, self._params = "attract", {}
        self._model = build_screen(self._screen, self._params, self._language, layout)
        self._pressed: str | None = None
        self._pointer: object | None = None  # "mouse" or a finger id: the one touch a press belongs to
        self._dirty = True
        self.frames_drawn = 0

    # ---- what the effect runner calls ----------------------------------------------------------

    @property
    def language(self) -> str:
        return self._language

    @property
    def model(self) -> ScreenModel:
        return self._model

    @property
    def current(self) -> tuple[str, dict]:
        """The screen asked for and its parameters, as the flow sent them."""
        return self._screen, dict(self._params)

    @property
    def touch_in_progress(self) -> bool:
        """A finger or key is down: the loop polls at full rate until it is lifted."""
        return self._pointer is not None or self._touch is not None or bool(self._held)

    @property
    def focus(self) -> str | None:
        return self._focus

    def set_focus(self, action: str | None) -> None:
        if action != self._focus:
            self._focus = action
            self._dirty = True

    def set_large_text(self, on: bool) -> None:
        if on != self.layout.large_text:
            self.layout = replace(self.layout, large_text=on)
            self._rebuild()

    def set_audio_mode(self, on: bool) -> None:
        self.audio_mode = on

    def set_language(self, lang: str) -> None:
        if lang != self._language:
            self._language = lang
            self._rebuild()

    def show(self, screen: str, params: Mapping | None = None) -> None:
        if screen != self._screen:
            self._focus = None  # keypad focus starts afresh on a new screen
        self._screen, self._params = screen, dict(params or {})
        self._pressed = self._pointer = self._touch = None  # a press never carries over to the next screen
        self._rebuild()

    def mark_dirty(self) -> None:
        """Ask for a redraw on the next ``render_if_dirty`` (e.g. the side panel changed)."""
        self._dirty = True

    def _rebuild(self) -> None:
        self._model = build_screen(self._screen, self._params, self._language, self.layout)
        self._dirty = True

    # ---- input ------------------------------------------------------------------------------

    def poll(self) -> list[object]:
        """Turn waiting pygame events into kiosk events; never blocks."""
        events: list[object] = []
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                events.append(Quit())
            elif event.type in (pygame.KEYDOWN, pygame.KEYUP):
                self._key_event(event.type == pygame.KEYDOWN, _KEY_NAMES.get(event.key), events)
            elif event.type in (pygame.MOUSEBUTTONDOWN, pygame.MOUSEBUTTONUP):
                if getattr(event, "touch", False) or event.button != 1:
                    continue  # SDL's mouse copy of a touch (handled as FINGER*), or wheel/right button
                self._pointer_event(event.type == pygame.MOUSEBUTTONDOWN, "mouse", event.pos, events)
            elif event.type in (pygame.FINGERDOWN, pygame.FINGERUP):
                w, h = self.window.get_size()
                pos = (int(event.x * w), int(event.y * h))
                self._pointer_event(event.type == pygame.FINGERDOWN, ("finger", event.finger_id), pos, events)
        now = self._clock()
        for name, (since, sent) in list(self._held.items()):
            if not sent and now - since >= self._hold_seconds:
                self._held[name] = (since, True)
                events.append(Key(name, held=True))
        return events

    def _key_event(self, down: bool, name: str | None, events: list[object]) -> None:
        if name is None:
            return
        if down:
            now = self._clock()
            last, at = self._last_key
            if name == last and now - at < self._double_strike:
                return  # a trembling finger's second strike of the same key
            self._last_key = (name, now)
        if name not in LONG_PRESS_KEYS or (down and self._model.screen not in LONG_PRESS_SCREENS):
            if down:
                for pending, (_since, sent) in list(self._held.items()):
                    if not sent:  # a short press still down when the next key comes: it came first
                        self._held[pending] = (_since, True)
                        events.append(Key(pending))
                events.append(Key(name))
            return
        if down:
            self._held.setdefault(name, (self._clock(), False))
            return
        _since, sent = self._held.pop(name, (0.0, True))
        if not sent:
            events.append(Key(name))

    def _pointer_event(self, down: bool, pointer: object, pos: tuple[int, int], events: list[object]) -> None:
        x, y = pos
        if x >= self.layout.width:
            if down and self.panel is not None:
                result = self.panel.handle_click(x - self.layout.width, y)
                if result is not None:
                    events.append(result)
            return
        button = self._model.button_at(x, y)
        if down:
            if self._pointer is None and button is not None:
                self._pressed, self._pointer = button.action, pointer
            elif self._pointer is None:
                self._touch = (x, y)  # not on a button: still show the touch was felt
            self._dirty = True
            return
        if self._touch is not None:
            self._touch = None
            self._dirty = True
        if pointer != self._pointer:
            return  # a second finger lifted, or a release with no press on this screen
        if button is not None and button.action == self._pressed:
            events.append(Tap(button.action))
        self._pressed = self._pointer = None
        self._dirty = True

    # ---- output -----------------------------------------------------------------------------

    def render_if_dirty(self) -> bool:
        """Draw and flip only when the screen or the panel changed; returns whether it drew."""
        panel_dirty = self.panel is not None and self.panel.dirty
        if not (self._dirty or panel_dirty):
            return False
        self._renderer.draw(self._model, self._pressed, focus=self._focus, touch=self._touch)
        if self.panel is not None and self._panel_surface is not None:
            self.panel.draw(self._panel_surface)
        pygame.display.flip()
        self._dirty = False
        self.frames_drawn += 1
        return True

    def screenshot(self, path: str) -> None:
        self.render_if_dirty()
        pygame.image.save(self.window, str(path))

    def center_of(self, action: str) -> tuple[int, int]:
        """Where a test finger should touch to press ``action``."""
        button: Button | None = self._model.button(action)
        if button is None:
            actions = [b.action for b in self._model.buttons()]
            raise KeyError(f"no {action!r} button on screen {self._model.screen!r}; buttons: {actions}")
        return center(button.rect)

    def close(self) -> None:
        pygame.display.quit()
