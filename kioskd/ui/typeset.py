"""Measure, wrap and fit text in the bundled Atkinson Hyperlegible font, at sizes given as capital heights.

The frame sizes its boxes with the same typesetter the renderer draws with, so what a layout planned is
what gets drawn. Sizes are asked for by the height of a capital H in pixels (the theme derives it from
millimetres), because that is what a reader's eye sees, not the nominal point size of a font.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pygame

from kioskd.ui.theme import Metrics

NBSP = "\u00a0"
ELLIPSIS = "…"
FONT_DIR = Path(__file__).resolve().parent.parent / "data" / "fonts"
FONT_FILES = {"regular": "AtkinsonHyperlegible-Regular.ttf", "bold": "AtkinsonHyperlegible-Bold.ttf"}
LINE_SPACING = 1.2  # the font's ink spans 1.11 of its size (É to g); 1.2 keeps lines apart, and screens short


def font_path(weight: str) -> Path:
    return FONT_DIR / FONT_FILES[weight]


@dataclass(frozen=True)
class Fit:
    """How a text is set in a box: font size in pixels, its lines, and whether it had to be cut."""

    size: int
    lines: tuple[str, ...]
    line_height: int
    cap_height: int
    width: int  # of the widest line
    truncated: bool

    @property
    def height(self) -> int:
        return len(self.lines) * self.line_height


class Typesetter:
    """Fonts by weight and size, capital heights, word wrap and fitting; every result is cached."""

    def __init__(self) -> None:
        if not pygame.font.get_init():
            pygame.font.init()  # needs no display
        self._fonts: dict[tuple[str, int], pygame.font.Font] = {}
        self._caps: dict[tuple[str, int], int] = {}
        self._sizes: dict[tuple[str, int], int] = {}
        self._widths: dict[tuple[str, int, str], int] = {}
        self._fits: dict[tuple, Fit] = {}

    def font(self, weight: str, size: int) -> pygame.font.Font:
        font = self._fonts.get((weight, size))
        if font is None:
            font = self._fonts[weight, size] = pygame.font.Font(str(font_path(weight)), size)
        return font

    def cap_height(self, weight: str, size: int) -> int:
        """Height of a capital H as the font draws it at ``size``."""
        cap = self._caps.get((weight, size))
        if cap is None:
            _minx, _maxx, miny, maxy, _advance = self.font(weight, size).metrics("H")[0]
            cap = self._caps[weight, size] = maxy - miny
        return cap

    def size_for_cap(self, weight: str, cap: int) -> int:
        """The smallest font size whose capital H is at least ``cap`` pixels high."""
        size = self._sizes.get((weight, cap))
        if size is None:
            size = max(4, int(cap / 0.75))
            while self.cap_height(weight, size) < cap:
                size += 1
            while size > 4 and self.cap_height(weight, size - 1) >= cap:
                size -= 1
            self._sizes[weight, cap] = size
        return size

    def sizes(self, m: Metrics, style: str) -> tuple[str, int, int]:
        """(weight, size, smallest size allowed) of a text style under ``m``."""
        weight = m.style(style).weight
        return weight, self.size_for_cap(weight, m.cap_px(style)), self.size_for_cap(weight, m.min_cap_px(style))

    @staticmethod
    def line_height(size: int) -> int:
        return math.ceil(size * LINE_SPACING)

    def width(self, weight: str, size: int, text: str) -> int:
        key = (weight, size, text)
        width = self._widths.get(key)
        if width is None:
            width = self._widths[key] = self.font(weight, size).size(text.replace(NBSP, " "))[0]
        return width

    def wrap(self, text: str, weight: str, size: int, width: int) -> list[str]:
        """Greedy word wrap on ordinary spaces and newlines; a no-break space keeps "identifier ?" together.

        Words are never broken: a word wider than the box makes a line wider than the box, which ``fit``
        treats as not fitting.
        """
        lines: list[str] = []
        for paragraph in text.split("\n"):
            line = ""
            for word in paragraph.split(" "):
                candidate = f"{line} {word}" if line else word
                if not line or self.width(weight, size, candidate) <= width:
                    line = candidate
                else:
                    lines.append(line)
                    line = word
            lines.append(line)
        return lines

    def measure(self, text: str, weight: str, size: int, width: int) -> tuple[int, int]:
        """(widest line, total height) of ``text`` wrapped to ``width`` at ``size``."""
        lines = self.wrap(text, weight, size, width)
        return max(self.width(weight, size, x) for x in lines), len(lines) * self.line_height(size)

    def fit(self, text: str, width: int, height: int, weight: str, size: int, floor: int) -> Fit:
        """The largest size from ``size`` down to ``floor`` at which ``text`` wraps into the box.

        If even ``floor`` does not fit, the text is set at ``floor`` and cut with "…" rather than drawn
        over its neighbours, and the fit says it was truncated.
        """
        key = (text, width, height, weight, size, floor)
        cached = self._fits.get(key)
        if cached is not None:
            return cached
        result = None
        for current in range(size, min(size, floor) - 1, -1):
            lines = self.wrap(text, weight, current, width)
            widest = max(self.width(weight, current, x) for x in lines)
            if len(lines) * self.line_height(current) <= height and widest <= width:
                result = Fit(current, tuple(lines), self.line_height(current), self.cap_height(weight, current),
                             widest, False)
                break
        if result is None:
            result = self._cut(text, width, height, weight, min(size, floor))
        self._fits[key] = result
        return result

    def _cut(self, text: str, width: int, height: int, weight: str, size: int) -> Fit:
        line_h = self.line_height(size)
        wrapped = self.wrap(text, weight, size, width)
        room = max(1, height // line_h)
        lines = []
        for i, line in enumerate(wrapped[:room]):
            if self.width(weight, size, line) <= width and not (i == room - 1 and len(wrapped) > room):
                lines.append(line)
                continue
            while len(line) > 1 and self.width(weight, size, line.rstrip(" .") + ELLIPSIS) > width:
                line = line[:-1]
            lines.append(line.rstrip(" .") + ELLIPSIS)
        widest = max(self.width(weight, size, x) for x in lines)
        return Fit(size, tuple(lines), line_h, self.cap_height(weight, size), widest, True)


_TYPESETTER: Typesetter | None = None


def typesetter() -> Typesetter:
    """The shared typesetter: the frame sizes boxes with it and renderers draw with it."""
    global _TYPESETTER
    if _TYPESETTER is None:
        _TYPESETTER = Typesetter()
    return _TYPESETTER
