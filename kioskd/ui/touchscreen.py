"""The pygame window: shows screens the flows ask for and turns touches and keys into ``Tap`` events.

It owns the display and is used only from the main loop's thread (SDL wants that). Drawing happens in
``render_if_dirty`` and only after something changed, so an idle kiosk does not burn CPU or wear the
panel. A tap counts when the finger is lifted on the button it went down on, as on phones: a finger
sliding off a button cancels the tap, which forgives a slip.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import pygame

from kioskd.events import Tap
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


_KEY_ACTIONS = {pygame.K_RETURN: "ok", pygame.K_KP_ENTER: "ok", pygame.K_BACKSPACE: "erase",
                pygame.K_ESCAPE: "back"}
_KEY_ACTIONS.update({getattr(pygame, f"K_{d}"): f"digit:{d}" for d in range(10)})
_KEY_ACTIONS.update({getattr(pygame, f"K_KP{d}"): f"digit:{d}" for d in range(10)})


class TouchScreen:
    def __init__(self, layout: Layout, *, fullscreen: bool = False, panel: Panel | None = None,
                 title: str = "kioskd") -> None:
        self.layout = layout
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

    def set_language(self, lang: str) -> None:
        if lang != self._language:
            self._language = lang
            self._rebuild()

    def show(self, screen: str, params: Mapping | None = None) -> None:
        self._screen, self._params = screen, dict(params or {})
        self._pressed = self._pointer = None  # a press never carries over to the next screen
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
            elif event.type == pygame.KEYDOWN:
                action = _KEY_ACTIONS.get(event.key)
                if action is not None:
                    events.append(Tap(action))
            elif event.type in (pygame.MOUSEBUTTONDOWN, pygame.MOUSEBUTTONUP):
                if getattr(event, "touch", False) or event.button != 1:
                    continue  # SDL's mouse copy of a touch (handled as FINGER*), or wheel/right button
                self._pointer_event(event.type == pygame.MOUSEBUTTONDOWN, "mouse", event.pos, events)
            elif event.type in (pygame.FINGERDOWN, pygame.FINGERUP):
                w, h = self.window.get_size()
                pos = (int(event.x * w), int(event.y * h))
                self._pointer_event(event.type == pygame.FINGERDOWN, ("finger", event.finger_id), pos, events)
        return events

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
                self._dirty = True
            return
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
        self._renderer.draw(self._model, self._pressed)
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
