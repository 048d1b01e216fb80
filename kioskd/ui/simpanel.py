"""The simulator's hardware side panel: what a tester would otherwise do with their hands at the machine.

It shows each door and relay and offers buttons to open or close a door, hold a demo QR code up to the
camera, or present an RFID tag. It knows nothing about drivers: a click becomes a ``SimAction`` value
that the simulator's composition root carries out on the Sim twins, so the same panel can sit in front
of any lock bank and the drivers stay free of UI code.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygame

from kioskd.ui.model import Rect, center, contains
from kioskd.ui.theme import DEFAULT_PALETTE, Palette

DEMO_TAG = "0A1B2C3D4E"  # the demo room key's item tag
DEMO_BADGE = "B0B0B0B0B0"  # the demo staff member's badge (PIN printed by the demo)
DEMO_TECHNICIAN_BADGE = "7E7E7E7E7E"  # the demo technician's badge: service mode (PIN printed by the demo)
# the demo passport's holder and a passer-by (valid test national register numbers, nobody's)
DEMO_HOLDER = ("85073003328", "Peeters", "An")
DEMO_STRANGER = ("78051200349", "Maes", "Ilse")


@dataclass(frozen=True)
class SimAction:
    kind: str  # "door" | "qr" | "tag" | "card" | "itsme"
    # door: locker number; qr: reservation id, or None to hide the code; tag: tag id; card: the national number
    # of the test eID card to insert, or None to take it out; itsme: the number confirming in the app, or None
    # to decline
    arg: str | None


@dataclass(frozen=True)
class _PanelButton:
    action: SimAction
    rect: Rect
    label: str


class SimPanel:
    def __init__(self, lockers: tuple[int, ...], reservations: tuple[str, ...], *, width: int = 360,
                 palette: Palette = DEFAULT_PALETTE) -> None:
        self.lockers = tuple(lockers)
        self.reservations = tuple(reservations)
        self.width = width
        self.palette = palette
        self.dirty = True
        self._doors = dict.fromkeys(self.lockers, False)
        self._relays = dict.fromkeys(self.lockers, False)
        self._height = 800  # until the first draw tells the real height
        self._fonts: dict[int, pygame.font.Font] = {}

    # ---- state the simulator mirrors in ---------------------------------------------------------

    def set_door(self, locker: int, open: bool) -> None:
        if self._doors.get(locker) != open:
            self._doors[locker] = open
            self.dirty = True

    def set_relay(self, locker: int, on: bool) -> None:
        if self._relays.get(locker) != on:
            self._relays[locker] = on
            self.dirty = True

    # ---- geometry -----------------------------------------------------------------------------

    def _metrics(self) -> tuple[int, int, int, int]:
        """(margin, title height, section height, row height), rows shrinking to fit many lockers."""
        margin, title_h, section_h = 10, 48, 30
        rows = len(self.lockers) + len(self.reservations) + 4
        room = self._height - title_h - 4 * section_h - 2 * margin
        return margin, title_h, section_h, max(22, min(46, room // max(1, rows)))

    def _layout(self) -> tuple[list[tuple[str, int]], list[_PanelButton], dict[int, Rect]]:
        """Section headings, buttons and locker status rows, top to bottom."""
        margin, title_h, section_h, row_h = self._metrics()
        inner_w = self.width - 2 * margin
        sections: list[tuple[str, int]] = []
        buttons: list[_PanelButton] = []
        status: dict[int, Rect] = {}
        y = margin + title_h
        sections.append(("Lockers", y))
        y += section_h
        door_w = 120
        for number in self.lockers:
            status[number] = (margin, y, inner_w - door_w - 6, row_h - 4)
            label = "Close door" if self._doors.get(number) else "Open door"
            buttons.append(_PanelButton(SimAction("door", str(number)), (self.width - margin - door_w, y, door_w,
                                                                           row_h - 4), label))
            y += row_h
        sections.append(("QR camera", y))
        y += section_h
        for rid in self.reservations:
            buttons.append(_PanelButton(SimAction("qr", rid), (margin, y, inner_w, row_h - 4), f"Show QR {rid}"))
            y += row_h
        buttons.append(_PanelButton(SimAction("qr", None), (margin, y, inner_w, row_h - 4), "Hide QR"))
        y += row_h
        sections.append(("RFID reader", y))
        y += section_h
        third = (inner_w - 12) // 3  # three tags side by side: the panel is as tall as the kiosk screen
        for i, (tag, label) in enumerate(((DEMO_TAG, "Key tag"), (DEMO_BADGE, "Staff badge"),
                                          (DEMO_TECHNICIAN_BADGE, "Technician"))):
            buttons.append(_PanelButton(SimAction("tag", tag), (margin + i * (third + 6), y, third, row_h - 4), label))
        y += row_h
        sections.append(("eID reader and itsme app", y))
        y += section_h
        for row in (((SimAction("card", DEMO_HOLDER[0]), "eID holder"), (SimAction("card", DEMO_STRANGER[0]),
                                                                          "eID other"), (SimAction("card", None),
                                                                                         "Take card")),
                    ((SimAction("itsme", DEMO_HOLDER[0]), "itsme holder"), (SimAction("itsme", DEMO_STRANGER[0]),
                                                                            "itsme other"),
                     (SimAction("itsme", None), "itsme decline"))):
            for i, (action, label) in enumerate(row):
                buttons.append(_PanelButton(action, (margin + i * (third + 6), y, third, row_h - 4), label))
            y += row_h
        return sections, buttons, status

    def handle_click(self, x: int, y: int) -> SimAction | None:
        """The action under a click at panel-relative (x, y), or None."""
        return next((b.action for b in self._layout()[1] if contains(b.rect, x, y)), None)

    def center_of(self, action: SimAction) -> tuple[int, int]:
        """Panel-relative centre of the button for ``action``, for tests and scripted tours."""
        for b in self._layout()[1]:
            if b.action == action:
                return center(b.rect)
        raise KeyError(f"no panel button for {action}")

    # ---- drawing ------------------------------------------------------------------------------

    def _font(self, size: int) -> pygame.font.Font:
        if size not in self._fonts:
            self._fonts[size] = pygame.font.Font(None, size)
        return self._fonts[size]

    def _text(self, surface: pygame.Surface, text: str, size: int, color, rect: Rect, *, left: bool = False):
        image = self._font(size).render(text, True, color)
        x, y, w, h = rect
        box = image.get_rect(midleft=(x, y + h // 2)) if left else image.get_rect(center=(x + w // 2, y + h // 2))
        surface.blit(image, box)

    def draw(self, surface: pygame.Surface) -> None:
        p = self.palette
        self._height = surface.get_height()
        surface.fill(p.panel_background)
        margin, title_h, section_h, row_h = self._metrics()
        text_size = max(18, min(28, row_h - 12))
        self._text(surface, "Simulator", 40, p.panel_text, (margin, margin, self.width, title_h - 8), left=True)
        sections, buttons, status = self._layout()
        for heading, y in sections:
            self._text(surface, heading, 26, p.panel_text, (margin, y, self.width, section_h), left=True)
            pygame.draw.line(surface, p.panel_text, (margin, y + section_h - 4), (self.width - margin,
                                                                                  y + section_h - 4))
        for number, (x, y, w, h) in status.items():
            door_open = self._doors.get(number, False)
            relay_on = self._relays.get(number, False)
            self._text(surface, f"{number:>2}", text_size, p.panel_text, (x, y, 30, h), left=True)
            self._text(surface, "OPEN" if door_open else "closed", text_size, p.panel_text, (x + 34, y, 70, h),
                       left=True)
            lamp = pygame.Rect(x + 110, y + 2, w - 110, h - 4)  # lit and labelled, not colour alone
            if relay_on:
                pygame.draw.rect(surface, p.panel_lit, lamp, border_radius=lamp.h // 2)
                self._text(surface, "relay ON", text_size, p.panel_lit_text, lamp)
            else:  # an unlit lamp is an outline, so it does not look like a button
                pygame.draw.rect(surface, p.panel_text, lamp, width=1, border_radius=lamp.h // 2)
                self._text(surface, "relay off", text_size, p.panel_text, lamp)
        for b in buttons:
            pygame.draw.rect(surface, p.panel_button, b.rect, border_radius=6)
            pygame.draw.rect(surface, p.panel_text, b.rect, width=1, border_radius=6)
            self._text(surface, b.label, text_size, p.panel_button_text, b.rect)
        self.dirty = False
