"""Draw a ScreenModel onto a pygame Surface, in the bundled Atkinson Hyperlegible font.

This is the only module that turns the screen model into pixels. Text sizes come from the model's
metrics (millimetres on the configured screen); text is measured and wrapped by ``kioskd.ui.typeset``,
which the frame also sizes its boxes with, so what the layout planned is what gets drawn. A text may be set
a little smaller to fit its box, but never below its style's minimum: a text that still does not fit is
cut with "…" and reported as truncated by ``Renderer.text_report``, which the layout tests hold at zero.
The open locker is marked by colour, a thick border and the word "OPEN", and a selected toggle by a tick,
so colour is never the only cue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pygame

from kioskd.ui.model import Arrow, Button, CodeDisplay, Icon, Label, LockerMap, QrCode, Rect, ScreenModel, Tally
from kioskd.ui.qr import modules as qr_modules
from kioskd.ui.theme import (
    BUTTON_TEXT_STYLES,
    DEFAULT_PALETTE,
    DOOR_ASPECT,
    SIZE_WEIGHT,
    Color,
    Metrics,
    Palette,
    icon_side,
)
from kioskd.ui.typeset import NBSP, Fit, font_path, typesetter

if TYPE_CHECKING:
    from kioskd.ui.frame import Layout

__all__ = ["NBSP", "Fit", "Renderer", "TextReport", "font_path", "typesetter"]

@dataclass(frozen=True)
class TextReport:
    """One text as the renderer sets it, for tests: does it fit, and how large is it."""

    text: str
    style: str
    box: Rect
    size: int
    cap_height: int  # pixels, as the bundled font draws a capital H at ``size``
    min_cap_height: int  # the style's minimum under the screen's metrics
    truncated: bool


@dataclass(frozen=True)
class _Placed:
    text: str
    style: str
    box: Rect
    fit: Fit
    weight: str
    min_cap: int
    align: str = "center"


class Renderer:
    """Draws models with one palette, at the sizes each model was laid out with."""

    def __init__(self, surface: pygame.Surface, palette: Palette = DEFAULT_PALETTE,
                 layout: Layout | None = None) -> None:
        self.surface = surface
        self.palette = palette
        self.type = typesetter()
        self.metrics = Metrics.for_screen(*surface.get_size())
        self._qr_images: dict[tuple[str, int], pygame.Surface] = {}  # a code is drawn once, then blitted
        if layout is not None:
            self.set_layout(layout)

    def set_layout(self, layout: Layout) -> None:
        """Sizes for models that carry none (a model built by ``build_screen`` carries its own)."""
        self.metrics = Metrics.for_screen(layout.width, layout.height, layout.screen_mm, layout.large_text)

    def _metrics(self, model: ScreenModel) -> Metrics:
        return model.metrics or self.metrics

    # ---- text placement (shared by drawing and reporting) ---------------------------------------

    def place(self, text: str, box: Rect, style: str, m: Metrics, *, size: int | None = None,
              align: str = "center") -> _Placed:
        weight, nominal, floor = self.type.sizes(m, style)
        fit = self.type.fit(text, max(1, box[2]), max(1, box[3]), weight, size or nominal, floor)
        return _Placed(text, style, box, fit, weight, m.min_cap_px(style), align)

    def fit(self, text: str, box: Rect, style: str, m: Metrics | None = None) -> Fit:
        return self.place(text, box, style, m or self.metrics).fit

    def text_report(self, model: ScreenModel) -> list[TextReport]:
        """Every text of the model as it would be drawn: size, capital height, and whether it was cut."""
        return [TextReport(p.text, p.style, p.box, p.fit.size, p.fit.cap_height, p.min_cap, p.fit.truncated)
                for p in self._texts(model)]

    def _texts(self, model: ScreenModel) -> list[_Placed]:
        m = self._metrics(model)
        lang_size = self._common_size([b for b in model.buttons() if b.style == "lang"], m)
        placed: list[_Placed] = []
        for widget in model.widgets:
            if isinstance(widget, Label):
                placed.append(self.place(widget.text, widget.rect, widget.style, m, align=widget.align))
            elif isinstance(widget, Button):
                placed.append(self._button_text(widget, pygame.Rect(widget.rect), m,
                                                lang_size if widget.style == "lang" else None))
            elif isinstance(widget, LockerMap):
                placed += [text for _, _, texts in self._doors(widget, m) for text in texts]
        return placed

    def _blit(self, placed: _Placed, color: Color, *, left: int | None = None) -> pygame.Rect:
        """Draw placed lines, vertically centred in their box; returns the area the lines cover."""
        x, y, w, h = placed.box
        fit = placed.fit
        font = self.type.font(placed.weight, fit.size)
        top = y + (h - fit.height) // 2
        covered = pygame.Rect(x + w // 2, top, 0, 0)
        for i, line in enumerate(fit.lines):
            image = font.render(line.replace(NBSP, " "), True, color)
            baseline = top + i * fit.line_height + round(fit.line_height * 0.78)
            if left is not None:
                lx = left
            elif placed.align == "left":
                lx = x
            else:
                lx = x + (w - self.type.width(placed.weight, fit.size, line)) // 2
            box = image.get_rect(left=lx, top=baseline - font.get_ascent())
            self.surface.blit(image, box)
            covered.union_ip(pygame.Rect(lx, top + i * fit.line_height, box.w, 0))
            covered.h = baseline - covered.y  # down to the last baseline, where an underline goes
        return covered

    # ---- widgets ------------------------------------------------------------------------------

    def draw(self, model: ScreenModel, pressed: str | None = None, focus: str | None = None,
             touch: tuple[int, int] | None = None) -> None:
        """Draw ``model``; ``pressed`` is the button under a finger (drawn sunk), ``focus`` the keypad's
        focus (drawn with a thick ring), ``touch`` a touch that hit no button (drawn as a small ring)."""
        m = self._metrics(model)
        self.surface.fill(self.palette.background)
        lang_size = self._common_size([b for b in model.buttons() if b.style == "lang"], m)
        p = self.palette
        for widget in model.widgets:
            if isinstance(widget, Label):
                color = {"hint": p.hint, "alert": p.alert, "notice": p.alert}.get(widget.style, p.text)
                self._blit(self.place(widget.text, widget.rect, widget.style, m, align=widget.align), color)
            elif isinstance(widget, Button):
                self._button(widget, m, widget.action == pressed, lang_size if widget.style == "lang" else None)
            elif isinstance(widget, LockerMap):
                self._locker_map(widget, m)
            elif isinstance(widget, CodeDisplay):
                self._code(widget, m)
            elif isinstance(widget, Tally):
                self._tally(widget, m)
            elif isinstance(widget, Arrow):
                self._arrow(widget)
            elif isinstance(widget, Icon):
                self.icon(widget.name, pygame.Rect(widget.rect), p.text, p.background)
            elif isinstance(widget, QrCode):
                self._qr(widget)
        button = model.button(focus) if focus else None
        if button is not None:
            self._focus_ring(pygame.Rect(button.rect), m)
        if touch is not None:
            self._touch_ring(touch, m)

    def _common_size(self, buttons: list[Button], m: Metrics) -> int | None:
        """One font size for a row of alike buttons, so "Nederlands" is not smaller than "English"."""
        sizes = [self._button_text(b, pygame.Rect(b.rect), m).fit.size for b in buttons]
        return min(sizes, default=None)

    def _button_areas(self, button: Button, face: pygame.Rect, m: Metrics) -> tuple[Rect, pygame.Rect | None,
                                                                                      pygame.Rect | None]:
        """(text box, icon square, tick box) inside a button's face."""
        inner = face.inflate(-2 * m.padding, -2 * m.padding_v)
        icon = tick = None
        side = min(inner.h, icon_side(m, button.style))
        if button.style == "toggle":
            tick = pygame.Rect(0, 0, side, side)
            tick.midright = inner.midright
            inner.width -= side + m.gap
        if button.icon:
            icon = pygame.Rect(inner.x, inner.centery - side // 2, side, side)
            inner = pygame.Rect(inner.x + side + m.gap, inner.y, inner.w - side - m.gap, inner.h)
        return (inner.x, inner.y, inner.w, inner.h), icon, tick

    def _button_text(self, button: Button, face: pygame.Rect, m: Metrics, size: int | None = None) -> _Placed:
        box, _icon, _tick = self._button_areas(button, face, m)
        style = BUTTON_TEXT_STYLES.get(button.style, "button")
        return self.place(button.label, box, style, m, size=size)

    def _button(self, button: Button, m: Metrics, pressed: bool, size: int | None = None) -> None:
        p = self.palette
        colors = p.button_colors(button.style, enabled=button.enabled, selected=button.selected)
        rect = pygame.Rect(button.rect)
        drop = max(2, m.px(1))
        if not pressed:  # a shadow under a raised key; pressing sinks the key onto it
            pygame.draw.rect(self.surface, p.shadow, rect.move(0, drop), border_radius=m.radius)
        face = rect.move(0, drop) if pressed else rect
        pygame.draw.rect(self.surface, colors.pressed_fill if pressed else colors.fill, face, border_radius=m.radius)
        border = m.border * (2 if button.selected or pressed else 1)
        pygame.draw.rect(self.surface, colors.border, face, width=border, border_radius=m.radius)
        text_color = colors.pressed_text if pressed else colors.text
        fill = colors.pressed_fill if pressed else colors.fill
        placed = self._button_text(button, face, m, size)
        _box, icon, tick = self._button_areas(button, face, m)
        if icon is not None:  # the icon sits just left of the words, the pair centred in the room they share
            group = icon.w + m.gap + placed.fit.width
            room_x, room_w = icon.x, placed.box[0] + placed.box[2] - icon.x
            left = room_x + (room_w - group) // 2
            icon.x = left
            covered = self._blit(placed, text_color, left=left + icon.w + m.gap)
            self.icon(button.icon or "", icon, text_color, fill)
        else:
            covered = self._blit(placed, text_color)
        if tick is not None:
            self._tick_box(tick, text_color, fill, button.selected, m)
        if button.selected and button.style == "lang":  # the current language is underlined too
            thick = max(3, m.px(1.2))
            y = min(covered.bottom + thick, face.bottom - m.border * 2 - thick)
            pygame.draw.rect(self.surface, text_color, (covered.x, y, covered.w, thick))

    def _tick_box(self, box: pygame.Rect, color: Color, fill: Color, ticked: bool, m: Metrics) -> None:
        pygame.draw.rect(self.surface, fill, box)
        pygame.draw.rect(self.surface, color, box, width=max(2, m.px(0.8)))
        if ticked:
            w = max(3, m.px(1.4))
            points = [(box.x + box.w * 0.2, box.y + box.h * 0.52), (box.x + box.w * 0.42, box.y + box.h * 0.75),
                      (box.x + box.w * 0.82, box.y + box.h * 0.25)]
            pygame.draw.lines(self.surface, color, False, points, w)

    def _focus_ring(self, rect: pygame.Rect, m: Metrics) -> None:
        """Amber inside black, both thick: seen on any button, and by its thickness, not only its colour."""
        inner, outer = max(4, m.px(1.6)), max(3, m.px(1.1))
        pygame.draw.rect(self.surface, self.palette.focus_inner, rect.inflate(2 * inner, 2 * inner), width=inner,
                         border_radius=m.radius + inner)
        pygame.draw.rect(self.surface, self.palette.focus_outer, rect.inflate(2 * (inner + outer), 2 * (inner + outer)),
                         width=outer, border_radius=m.radius + inner + outer)

    def _touch_ring(self, point: tuple[int, int], m: Metrics) -> None:
        radius, width = m.px(6), max(3, m.px(1))
        pygame.draw.circle(self.surface, self.palette.focus_inner, point, radius - width, width=width)
        pygame.draw.circle(self.surface, self.palette.touch_ring, point, radius, width=width)

    # ---- icons --------------------------------------------------------------------------------

    def icon(self, name: str, box: pygame.Rect, color: Color, background: Color) -> None:
        """Draw a sign into a square ``box``: shapes only, in ``color`` on ``background``."""
        p, s = self.palette, self.surface
        side = min(box.w, box.h)
        box = pygame.Rect(0, 0, side, side).move(box.centerx - side // 2, box.centery - side // 2)
        line = max(2, side // 12)
        cx, cy = box.center
        if name == "alert":  # a filled disc with "!": the error sign
            pygame.draw.circle(s, p.alert, box.center, side // 2)
            self._exclamation(box.inflate(-side // 2, -side * 2 // 5), p.alert_mark)
        elif name == "warning":  # a triangle with "!"
            top, bottom = box.y + side // 12, box.bottom - side // 12
            points = [(cx, top), (box.right, bottom), (box.x, bottom)]
            pygame.draw.polygon(s, p.icon_warning_fill, points)
            pygame.draw.polygon(s, p.icon_warning_mark, points, width=line)
            height = bottom - top
            self._exclamation(pygame.Rect(box.x + side // 3, top + height * 0.36, side // 3, height * 0.5),
                              p.icon_warning_mark)
        elif name == "clock":
            pygame.draw.circle(s, color, box.center, side // 2, width=line)
            pygame.draw.line(s, color, box.center, (cx, box.y + side // 5), line)
            pygame.draw.line(s, color, box.center, (cx + side // 4, cy + side // 8), line)
        elif name == "speaker":
            body = [(box.x + side * 0.08, cy - side * 0.14), (box.x + side * 0.28, cy - side * 0.14),
                    (box.x + side * 0.52, cy - side * 0.38), (box.x + side * 0.52, cy + side * 0.38),
                    (box.x + side * 0.28, cy + side * 0.14), (box.x + side * 0.08, cy + side * 0.14)]
            pygame.draw.polygon(s, color, body)
            for k in (1, 2):
                r = side * (0.16 + 0.16 * k)
                arc = pygame.Rect(0, 0, 2 * r, 2 * r)
                arc.center = (round(box.x + side * 0.5), cy)
                pygame.draw.arc(s, color, arc, -0.9, 0.9, line)
        elif name == "text_size":  # a big A with a plus
            font = self.type.font("bold", max(8, round(side * 1.05)))
            image = font.render("A", True, color)
            s.blit(image, image.get_rect(midleft=(box.x, cy + side // 20)))
            arm = side // 5
            px_, py_ = box.right - arm, box.y + arm + line
            pygame.draw.line(s, color, (px_ - arm, py_), (px_ + arm, py_), line + 1)
            pygame.draw.line(s, color, (px_, py_ - arm), (px_, py_ + arm), line + 1)
        elif name == "help":  # a ring with "?"
            pygame.draw.circle(s, color, box.center, side // 2, width=line)
            font = self.type.font("bold", max(8, round(side * 0.8)))
            image = font.render("?", True, color)
            s.blit(image, image.get_rect(center=(cx, cy + side // 30)))
        elif name == "tag":  # a tag with its hole, and the waves of the contactless sign beside it
            card = pygame.Rect(box.x + side * 0.04, box.y + side * 0.18, side * 0.38, side * 0.64)
            pygame.draw.rect(s, color, card, width=line, border_radius=max(2, side // 10))
            pygame.draw.circle(s, color, (card.centerx, card.y + side * 0.17), max(3, round(side * 0.075)),
                               width=max(1, line // 2))
            centre = (card.right - side * 0.06, cy)
            for k in (1, 2, 3):  # each wave a filled band: pygame's thick arcs leave holes
                r = side * (0.1 + 0.14 * k)
                angles = [-0.75 + 1.5 * i / 12 for i in range(13)]
                outer = [(centre[0] + (r + line / 2) * math.cos(a), centre[1] + (r + line / 2) * math.sin(a))
                         for a in angles]
                inner = [(centre[0] + (r - line / 2) * math.cos(a), centre[1] + (r - line / 2) * math.sin(a))
                         for a in reversed(angles)]
                pygame.draw.polygon(s, color, outer + inner)
        elif name == "check":  # a ring with a tick: something done (a locker loaded, a locker emptied)
            pygame.draw.circle(s, color, box.center, side // 2, width=line)
            tick = [(box.x + side * 0.27, cy + side * 0.02), (box.x + side * 0.43, cy + side * 0.18),
                    (box.x + side * 0.74, cy - side * 0.17)]
            pygame.draw.lines(s, color, False, tick, max(2, round(line * 1.4)))

    def _exclamation(self, box: pygame.Rect, color: Color) -> None:
        """A "!" filling ``box`` from top to bottom: a bar, a gap, a dot."""
        w = max(2, round(box.h * 0.16))
        pygame.draw.rect(self.surface, color, (box.centerx - w // 2, box.y, w, round(box.h - 1.9 * w)))
        pygame.draw.rect(self.surface, color, (box.centerx - w // 2, box.bottom - w, w, w))

    # ---- the locker map, the code, the arrow ----------------------------------------------------

    def locker_rects(self, widget: LockerMap, m: Metrics | None = None) -> dict[int, Rect]:
        """Each door's rectangle: columns share the width, rows get heights by their largest door."""
        if not widget.lockers:
            return {}
        m = m or self.metrics
        x, y, w, h = widget.rect
        rows = sorted({p[1] for p in widget.lockers})
        columns = sorted({p[2] for p in widget.lockers})
        weight = {r: max(SIZE_WEIGHT.get(str(p[3]).upper(), 1.0) for p in widget.lockers if p[1] == r) for r in rows}
        total = sum(weight.values())
        # doors keep their shape, fitted into the rect
        pad = m.px(2)
        unit = min((h - 2 * pad) / total, (w - 2 * pad) / (len(columns) * DOOR_ASPECT))
        bank_w, bank_h = unit * DOOR_ASPECT * len(columns), unit * total
        left, top = x + (w - bank_w) / 2, y + (h - bank_h) / 2
        row_top, cursor = {}, top
        for r in rows:
            row_top[r] = cursor
            cursor += weight[r] * unit
        gap = max(2, m.px(1.5))
        rects: dict[int, Rect] = {}
        for number, row, column, _size in widget.lockers:
            cx = left + columns.index(column) * unit * DOOR_ASPECT
            rects[number] = (round(cx) + gap // 2, round(row_top[row]) + gap // 2,
                             round(unit * DOOR_ASPECT) - gap, round(weight[row] * unit) - gap)
        return rects

    def _doors(self, widget: LockerMap, m: Metrics) -> list[tuple[int, pygame.Rect, list[_Placed]]]:
        """Each door with the texts on it: its number, and on the open one also the marker."""
        doors = []
        for number, rect in self.locker_rects(widget, m).items():
            r = pygame.Rect(rect)
            if number == widget.highlight:
                thick = max(4, m.px(2))
                inner = r.inflate(-2 * (thick + 2), -2 * (thick + 2))
                split = inner.h * 11 // 20
                texts = [self.place(str(number), (inner.x, inner.y, inner.w, split), "locker", m),
                         self.place(widget.marker, (inner.x, inner.y + split, inner.w, inner.h - split), "marker", m)]
            else:
                inset = max(4, r.w // 6)
                texts = [self.place(str(number), (r.x + inset, r.y + 4, r.w - 2 * inset, r.h - 8), "locker", m)]
            doors.append((number, r, texts))
        return doors

    def _locker_map(self, widget: LockerMap, m: Metrics) -> None:
        p = self.palette
        doors = self._doors(widget, m)
        if not doors:
            return
        frame = doors[0][1].unionall([r for _, r, _ in doors])
        pad = m.px(2)
        pygame.draw.rect(self.surface, p.locker_border, frame.inflate(2 * pad, 2 * pad), border_radius=m.radius // 2)
        for number, r, texts in doors:
            lit = number == widget.highlight
            pygame.draw.rect(self.surface, p.highlight_fill if lit else p.locker_fill, r)
            if lit:
                pygame.draw.rect(self.surface, p.highlight_border, r, width=max(4, m.px(2)))
            else:
                pygame.draw.rect(self.surface, p.locker_border, r, width=max(1, m.px(0.5)))
                handle = pygame.Rect(0, 0, max(3, r.w // 24), max(8, r.h // 4))
                handle.midright = (r.right - max(4, r.w // 14), r.centery)
                pygame.draw.rect(self.surface, p.locker_border, handle)
            for placed in texts:
                self._blit(placed, p.highlight_text if lit else p.locker_text)

    def _code(self, widget: CodeDisplay, m: Metrics) -> None:
        p = self.palette
        rect = pygame.Rect(widget.rect)
        pygame.draw.rect(self.surface, p.code_fill, rect, border_radius=m.radius)
        pygame.draw.rect(self.surface, p.locker_border, rect, width=m.border, border_radius=m.radius)
        n = max(1, widget.length)
        step = rect.w / n
        radius = max(4, int(min(step * 0.3, rect.h * 0.22)))
        for i in range(n):
            centre = (round(rect.x + step * (i + 0.5)), rect.centery)
            if i < widget.entered:
                pygame.draw.circle(self.surface, p.dot, centre, radius)
            else:
                pygame.draw.circle(self.surface, p.dot, centre, radius, width=max(2, radius // 4))

    def _tally(self, widget: Tally, m: Metrics) -> None:
        """One box per item: filled with a tick when counted, empty otherwise."""
        p = self.palette
        rect = pygame.Rect(widget.rect)
        n = max(1, widget.total)
        step = rect.w / n
        side = max(8, int(min(step - max(4, m.px(1.5)), rect.h)))
        thick, tick = max(2, m.px(0.8)), max(3, m.px(1.4))
        for i in range(widget.total):
            box = pygame.Rect(0, 0, side, side)
            box.center = (round(rect.x + step * (i + 0.5)), rect.centery)
            if i < widget.counted:
                pygame.draw.rect(self.surface, p.dot, box, border_radius=max(2, side // 8))
                points = [(box.x + box.w * 0.2, box.y + box.h * 0.52), (box.x + box.w * 0.42, box.y + box.h * 0.75),
                          (box.x + box.w * 0.82, box.y + box.h * 0.25)]
                pygame.draw.lines(self.surface, p.code_fill, False, points, tick)
            else:
                pygame.draw.rect(self.surface, p.code_fill, box, border_radius=max(2, side // 8))
                pygame.draw.rect(self.surface, p.dot, box, width=thick, border_radius=max(2, side // 8))

    def _arrow(self, widget: Arrow) -> None:
        x, y, w, h = widget.rect
        size = min(w, h)
        cx, cy = x + w // 2, y + h // 2
        half, shaft = size // 2, size // 6
        points = [(0, half), (-half, 0), (-shaft, 0), (-shaft, -half), (shaft, -half), (shaft, 0), (half, 0)]
        turn = {"down": lambda a, b: (a, b), "up": lambda a, b: (a, -b), "right": lambda a, b: (b, a),
                "left": lambda a, b: (-b, a)}[widget.direction]
        pygame.draw.polygon(self.surface, self.palette.text, [(cx + turn(a, b)[0], cy + turn(a, b)[1])
                                                              for a, b in points])

    def _qr(self, widget: QrCode) -> None:
        """The code at whole pixels per module, centred in its square; made once per text and size."""
        rows = qr_modules(widget.text)
        n = len(rows)
        module = max(1, min(widget.rect[2], widget.rect[3]) // n)
        image = self._qr_images.get((widget.text, module))
        if image is None:
            small = pygame.Surface((n, n))
            small.fill(self.palette.qr_light)
            for y, row in enumerate(rows):
                for x, dark in enumerate(row):
                    if dark:
                        small.set_at((x, y), self.palette.qr_dark)
            image = pygame.transform.scale(small, (n * module, n * module))  # whole factor: exact squares
            if len(self._qr_images) >= 4:  # one code at a time is shown; a few sizes at most
                self._qr_images.clear()
            self._qr_images[(widget.text, module)] = image
        self.surface.blit(image, image.get_rect(center=pygame.Rect(widget.rect).center))
