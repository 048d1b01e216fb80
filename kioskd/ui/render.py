"""Draw a ScreenModel onto a pygame Surface.

This is the only module that turns the screen model into pixels. It shrinks a text's font until the
text fits its box, so a long French sentence on a narrow portrait screen is smaller rather than clipped,
and it marks the open locker by colour, a thick border and the word "OPEN" so colour is never the only cue.
"""

from __future__ import annotations

import pygame

from kioskd.ui.model import Arrow, Button, CodeDisplay, Label, LockerMap, Rect, ScreenModel
from kioskd.ui.theme import DEFAULT_PALETTE, Color, Metrics, Palette

NBSP = "\u00a0"
SIZE_WEIGHT = {"S": 1.0, "M": 1.5, "L": 2.0}  # relative door heights, so the map looks like the real bank
_MIN_SHRINK = 0.45  # never draw a text smaller than this fraction of its style's size


class Renderer:
    """Draws models with one palette; fonts and wrapped texts are cached because screens repeat."""

    def __init__(self, surface: pygame.Surface, palette: Palette = DEFAULT_PALETTE) -> None:
        self.surface = surface
        self.palette = palette
        self.metrics = Metrics.for_size(*surface.get_size())
        self._fonts: dict[int, pygame.font.Font] = {}
        self._fits: dict[tuple[str, int, int, int], tuple[int, list[str]]] = {}

    # ---- text ---------------------------------------------------------------------------------

    def font(self, size: int) -> pygame.font.Font:
        font = self._fonts.get(size)
        if font is None:
            font = self._fonts[size] = pygame.font.Font(None, size)
        return font

    def wrap(self, text: str, font: pygame.font.Font, width: int, *, break_words: bool = True) -> list[str]:
        """Greedy word wrap on ordinary spaces; a no-break space keeps "identifier ?" together.

        A word wider than the box is cut only when ``break_words``: the caller first tries a smaller font.
        """
        lines: list[str] = []
        for paragraph in text.split("\n"):
            line = ""
            for word in paragraph.split(" "):
                candidate = f"{line} {word}" if line else word
                if not line or self._width(font, candidate) <= width:
                    line = candidate
                    continue
                lines.append(line)
                line = word
            lines.append(line)
        if not break_words:
            return lines
        cut_lines: list[str] = []
        for line in lines:
            while self._width(font, line) > width and len(line) > 1:
                cut = len(line) - 1
                while cut > 1 and self._width(font, line[:cut]) > width:
                    cut -= 1
                cut_lines.append(line[:cut])
                line = line[cut:]
            cut_lines.append(line)
        return cut_lines

    @staticmethod
    def _width(font: pygame.font.Font, text: str) -> int:
        return font.size(text.replace(NBSP, " "))[0]

    def fit(self, text: str, width: int, height: int, size: int) -> tuple[int, list[str]]:
        """The largest font size, up to ``size``, at which ``text`` wraps into the box, and its lines.

        If even the smallest allowed size does not fit, the text is cut with "…" rather than drawn
        over its neighbours.
        """
        key = (text, width, height, size)
        cached = self._fits.get(key)
        if cached is not None:
            return cached
        floor = max(12, int(size * _MIN_SHRINK))
        current = size
        while True:
            font = self.font(current)
            lines = self.wrap(text, font, width, break_words=current <= floor)
            fits = len(lines) * font.get_linesize() <= height and all(self._width(font, x) <= width for x in lines)
            if fits or current <= floor:
                break
            current = max(floor, int(current * 0.92))
        room = max(1, height // font.get_linesize())
        if len(lines) > room:
            lines = lines[:room]
            lines[-1] = lines[-1].rstrip(" .") + "…"
        self._fits[key] = (current, lines)
        return current, lines

    def draw_text(self, text: str, rect: Rect, size: int, color: Color) -> pygame.Rect:
        """Wrapped lines centred in ``rect``; returns the area the text covers."""
        x, y, w, h = rect
        size, lines = self.fit(text, w, h, size)
        font = self.font(size)
        line_h = font.get_linesize()
        top = y + (h - line_h * len(lines)) // 2
        covered = pygame.Rect(x + w // 2, top, 0, 0)
        for i, line in enumerate(lines):
            image = font.render(line.replace(NBSP, " "), True, color)
            box = image.get_rect(centerx=x + w // 2, top=top + i * line_h)
            self.surface.blit(image, box)
            covered.union_ip(box)
        return covered

    # ---- widgets ------------------------------------------------------------------------------

    def draw(self, model: ScreenModel, pressed: str | None = None) -> None:
        self.surface.fill(self.palette.background)
        lang_size = self._common_size([b for b in model.buttons() if b.style == "lang"], "lang")
        for widget in model.widgets:
            if isinstance(widget, Label):
                self._label(widget)
            elif isinstance(widget, Button):
                self._button(widget, widget.action == pressed, lang_size if widget.style == "lang" else None)
            elif isinstance(widget, LockerMap):
                self._locker_map(widget)
            elif isinstance(widget, CodeDisplay):
                self._code(widget)
            elif isinstance(widget, Arrow):
                self._arrow(widget)

    def _label(self, label: Label) -> None:
        p = self.palette
        color = {"hint": p.hint, "alert": p.alert, "notice": p.alert}.get(label.style, p.text)
        self.draw_text(label.text, label.rect, self.metrics.font_size(label.style), color)

    def _inner(self, rect: pygame.Rect) -> Rect:
        pad = round(12 * self.metrics.scale)
        return rect.x + pad, rect.y + pad // 2, rect.w - 2 * pad, rect.h - pad

    def _common_size(self, buttons: list[Button], style: str) -> int | None:
        """One font size for a row of alike buttons, so "Nederlands" is not smaller than "English"."""
        size = self.metrics.font_size(style)
        sizes = [self.fit(b.label, *self._inner(pygame.Rect(b.rect))[2:], size)[0] for b in buttons]
        return min(sizes, default=None)

    def _button(self, button: Button, pressed: bool, size: int | None = None) -> None:
        m = self.metrics
        colors = self.palette.button_colors(button.style, enabled=button.enabled, selected=button.selected)
        rect = pygame.Rect(button.rect)
        sink = round(4 * m.scale) if pressed else 0
        if not pressed:  # a shadow under a raised key; pressing sinks the key onto it
            pygame.draw.rect(self.surface, self.palette.locker_border, rect.move(0, round(4 * m.scale)),
                             border_radius=m.radius)
        face = rect.move(0, sink)
        pygame.draw.rect(self.surface, colors.pressed_fill if pressed else colors.fill, face, border_radius=m.radius)
        border = m.border * (2 if button.selected or pressed else 1)
        pygame.draw.rect(self.surface, colors.border, face, width=border, border_radius=m.radius)
        style = {"lang": "lang", "digit": "digit"}.get(button.style, "button")
        text_color = colors.pressed_text if pressed else colors.text
        covered = self.draw_text(button.label, self._inner(face), size or m.font_size(style), text_color)
        if button.selected:  # the current language is underlined too, not only coloured
            thick = max(3, round(5 * m.scale))
            pygame.draw.rect(self.surface, text_color, (covered.x, covered.bottom + thick // 2, covered.w, thick))

    def locker_rects(self, widget: LockerMap) -> dict[int, Rect]:
        """Each door's rectangle: columns share the width, rows get heights by their largest door."""
        if not widget.lockers:
            return {}
        x, y, w, h = widget.rect
        rows = sorted({p[1] for p in widget.lockers})
        columns = sorted({p[2] for p in widget.lockers})
        weight = {r: max(SIZE_WEIGHT.get(str(p[3]).upper(), 1.0) for p in widget.lockers if p[1] == r) for r in rows}
        total = sum(weight.values())
        # a small door is about 1.6 times as wide as it is high; keep that shape, fitted into the rect
        unit = min(h / total, w / (len(columns) * 1.6))
        bank_w, bank_h = unit * 1.6 * len(columns), unit * total
        left, top = x + (w - bank_w) / 2, y + (h - bank_h) / 2
        row_top, cursor = {}, top
        for r in rows:
            row_top[r] = cursor
            cursor += weight[r] * unit
        gap = max(2, round(6 * self.metrics.scale))
        rects: dict[int, Rect] = {}
        for number, row, column, _size in widget.lockers:
            cx = left + columns.index(column) * unit * 1.6
            rects[number] = (round(cx) + gap // 2, round(row_top[row]) + gap // 2,
                             round(unit * 1.6) - gap, round(weight[row] * unit) - gap)
        return rects

    def _locker_map(self, widget: LockerMap) -> None:
        p, m = self.palette, self.metrics
        rects = self.locker_rects(widget)
        if not rects:
            return
        frame = pygame.Rect(next(iter(rects.values()))).unionall([pygame.Rect(r) for r in rects.values()])
        pad = round(8 * m.scale)
        pygame.draw.rect(self.surface, p.locker_border, frame.inflate(2 * pad, 2 * pad), border_radius=m.radius // 2)
        for number, rect in rects.items():
            r = pygame.Rect(rect)
            lit = number == widget.highlight
            pygame.draw.rect(self.surface, p.highlight_fill if lit else p.locker_fill, r)
            handle = pygame.Rect(0, 0, max(3, r.w // 24), max(8, r.h // 4))
            handle.midright = (r.right - max(4, r.w // 14), r.centery)
            if lit:
                thick = max(4, round(8 * m.scale))
                pygame.draw.rect(self.surface, p.highlight_border, r, width=thick)
                inner = r.inflate(-2 * (thick + 2), -2 * (thick + 2))
                split = inner.h * 11 // 20
                self.draw_text(str(number), (inner.x, inner.y, inner.w, split), m.font_size("digit"), p.highlight_text)
                self.draw_text(widget.marker, (inner.x, inner.y + split, inner.w, inner.h - split),
                               m.font_size("marker"), p.highlight_text)
            else:
                pygame.draw.rect(self.surface, p.locker_border, r, width=max(1, round(2 * m.scale)))
                pygame.draw.rect(self.surface, p.locker_border, handle)
                inner = r.inflate(-2 * (handle.w + r.w // 14), -8)
                self.draw_text(str(number), tuple(inner), m.font_size("locker"), p.locker_text)

    def _code(self, widget: CodeDisplay) -> None:
        p, m = self.palette, self.metrics
        rect = pygame.Rect(widget.rect)
        pygame.draw.rect(self.surface, (255, 255, 255), rect, border_radius=m.radius)
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
