"""The frame every kiosk screen shares, and the arithmetic that places widgets in it.

Positions are computed from the screen's width and height rather than fixed, so one set of screens
serves a landscape 1280×800 panel and a portrait 1080×1920 one. The frame is a header with the language
buttons (and help), a content area, and a footer for "back" and the main action, so a citizen always
finds the same thing in the same place. Text heights here are estimates; the renderer shrinks a font
when a text would not fit its box, so an estimate that is off never makes text spill.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from kioskd.ui.messages import language_name, translate
from kioskd.ui.model import Button, Label, LockerPlace, Rect, ScreenModel, Widget
from kioskd.ui.theme import Metrics


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    lockers: tuple[LockerPlace, ...]
    languages: tuple[str, ...] = ("nl", "fr", "en")
    contact: str = ""

    def __post_init__(self) -> None:
        # config hands in lists; tuples keep the layout hashable and immutable
        object.__setattr__(self, "lockers", tuple(tuple(p) for p in self.lockers))
        object.__setattr__(self, "languages", tuple(self.languages))

    @property
    def landscape(self) -> bool:
        return self.width >= self.height


def locker_position(layout: Layout, locker: int) -> tuple[int, int, int] | None:
    """(row, rows, column) counted 1-based from the top and from the left, as a citizen would count them.

    Ranks among the rows and columns that exist, so a config that numbers from 0 or skips numbers still
    reads naturally.
    """
    rows = sorted({p[1] for p in layout.lockers})
    columns = sorted({p[2] for p in layout.lockers})
    for number, row, column, _size in layout.lockers:
        if number == locker:
            return rows.index(row) + 1, len(rows), columns.index(column) + 1
    return None


# ---- text height estimates --------------------------------------------------------------------

_CHAR_WIDTH = 0.38  # average advance of the bundled bold font, as a fraction of the requested size
_LINE_HEIGHT = 0.78


def _estimate_height(text: str, style: str, width: int, m: Metrics) -> int:
    size = m.font_size(style)
    per_line = max(1, int(width / (size * _CHAR_WIDTH)))
    lines, used = 1, 0
    for word in text.split():
        need = len(word) if used == 0 else used + 1 + len(word)
        if need > per_line and used:
            lines, used = lines + 1, len(word)
        else:
            used = need
    return math.ceil(lines * size * _LINE_HEIGHT + size * 0.15)


# ---- the shared frame -------------------------------------------------------------------------

Item = tuple[str, str] | tuple[int, Callable[[Rect], Widget | list[Widget]]]


class FrameBuilder:
    """Collects widgets for one screen in reading order and knows the frame's regions."""

    def __init__(self, layout: Layout, lang: str) -> None:
        self.layout, self.lang = layout, lang
        self.m = m = Metrics.for_size(layout.width, layout.height)
        self.widgets: list[Widget] = []
        self.left, self.right = m.margin, layout.width - m.margin
        self.top = m.margin + m.bar_height + m.gap
        self.footer_y = layout.height - m.margin - m.bar_height

    def t(self, msgid: str, **params: object) -> str:
        return translate(self.lang, msgid, **params)

    def content(self, *, footer: bool) -> Rect:
        bottom = self.footer_y - self.m.gap if footer else self.layout.height - self.m.margin
        return self.left, self.top, self.right - self.left, bottom - self.top

    def header(self, *, help_button: bool) -> None:
        m, langs = self.m, self.layout.languages
        width = self.right - self.left
        slots = len(langs) + (1 if help_button else 0)
        share = (width - m.gap * (slots - 1)) // max(1, slots)  # on a narrow screen all header buttons share
        help_w = min(round(220 * m.scale), share) if help_button else 0
        if len(langs) > 1:
            room = width - help_w - m.gap * len(langs)
            lang_w = min(round(250 * m.scale), room // len(langs))
            for i, code in enumerate(langs):
                rect = (self.left + i * (lang_w + m.gap), m.margin, lang_w, m.bar_height)
                self.widgets.append(Button(f"lang:{code}", language_name(code), rect, "lang",
                                           selected=code == self.lang))
        if help_button:
            self.widgets.append(Button("help", self.t("common.help"), (self.right - help_w, m.margin, help_w,
                                                                          m.bar_height), "secondary"))

    def footer(self, left: list[tuple[str, str, str]], right: list[tuple[str, str, str]]) -> None:
        """Back-like actions on the left, the main action on the right, as on most terminals."""
        m = self.m
        count = len(left) + len(right)
        width = min(round(380 * m.scale), (self.right - self.left - m.gap * (count - 1)) // max(1, count))
        for i, (action, label, style) in enumerate(left):
            self.widgets.append(Button(action, label, (self.left + i * (width + m.gap), self.footer_y, width,
                                                       m.bar_height), style))
        for i, (action, label, style) in enumerate(right):
            x = self.right - width - (len(right) - 1 - i) * (width + m.gap)
            self.widgets.append(Button(action, label, (x, self.footer_y, width, m.bar_height), style))

    def stack(self, area: Rect, items: list[Item], *, valign: str = "center") -> None:
        """Place labels and fixed-height blocks top to bottom in ``area``, centred as a group.

        When the estimated texts do not fit, only the labels give up height; blocks (buttons, the code
        display) keep theirs so touch targets never shrink.
        """
        x, y, w, h = area
        heights = [_estimate_height(it[0], it[1], w, self.m) if isinstance(it[0], str) else it[0] for it in items]
        fixed = sum(hgt for it, hgt in zip(items, heights, strict=True) if not isinstance(it[0], str))
        flexible = sum(heights) - fixed
        room = h - self.m.gap * (len(items) - 1) - fixed
        if flexible > room > 0:
            heights = [round(hgt * room / flexible) if isinstance(it[0], str) else hgt
                       for it, hgt in zip(items, heights, strict=True)]
        gap = self.m.gap
        if sum(heights) + 2 * gap * (len(items) - 1) <= h:  # breathe when there is room
            gap *= 2
        total = sum(heights) + gap * (len(items) - 1)
        cursor = y + max(0, (h - total) // 2) if valign == "center" else y
        for item, height in zip(items, heights, strict=True):
            rect = (x, cursor, w, height)
            if isinstance(item[0], str):
                self.widgets.append(Label(item[0], rect, item[1]))
            else:
                made = item[1](rect)
                self.widgets.extend(made if isinstance(made, list) else [made])
            cursor += height + gap

    def big_buttons(self, rect: Rect, buttons: list[tuple[str, str, str]]) -> list[Widget]:
        """Side by side on a landscape screen, stacked on a portrait one."""
        m = self.m
        x, y, w, h = rect
        n = len(buttons)
        if self.layout.landscape:
            bw = min(round(460 * m.scale), (w - m.gap * (n - 1)) // n)
            start = x + (w - (bw * n + m.gap * (n - 1))) // 2
            rects = [(start + i * (bw + m.gap), y, bw, m.big_button_height) for i in range(n)]
        else:
            bw = min(w, round(640 * m.scale))
            rects = [(x + (w - bw) // 2, y + i * (m.big_button_height + m.gap), bw, m.big_button_height)
                     for i in range(n)]
        return [Button(a, label, r, style) for (a, label, style), r in zip(buttons, rects, strict=True)]

    def big_buttons_height(self, n: int) -> int:
        m = self.m
        return m.big_button_height if self.layout.landscape else n * m.big_button_height + (n - 1) * m.gap

    def split(self, area: Rect, fraction: float) -> tuple[Rect, Rect]:
        """Text beside the picture on a landscape screen, above it on a portrait one."""
        x, y, w, h = area
        gap = self.m.gap * 2
        if self.layout.landscape:
            first = round((w - gap) * fraction)
            return (x, y, first, h), (x + first + gap, y, w - first - gap, h)
        first = round((h - gap) * fraction)
        return (x, y, w, first), (x, y + first + gap, w, h - first - gap)

    def contact(self) -> tuple[str, str]:
        """The configured contact line as written (it is the town's own wording), or a generic pointer."""
        if self.layout.contact:
            return self.layout.contact, "hint"
        return self.t("common.contact_default"), "hint"

    def model(self, screen: str) -> ScreenModel:
        return ScreenModel(screen, self.lang, tuple(self.widgets))
