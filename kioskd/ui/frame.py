"""The frame every kiosk screen shares, and the arithmetic that places widgets in it.

Positions are computed from the screen's size in pixels and millimetres rather than fixed, so one set of
screens serves a landscape 1280×800 panel and a portrait 1080×1920 one, in normal and in large text. The
frame is a header with the language buttons (and help), a content area, and a footer for "back", "start
over" and the main action, so a citizen always finds the same thing in the same place.

Texts are measured with the renderer's own typesetter, so a box is exactly as high as its words need. When
a screen's words do not fit (large text on a small landscape panel), the stack first leaves out texts
that may be dropped (secondary hints, in the order the screen gives), then sets all texts a little smaller,
never below their style's minimum.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from babel.core import UnknownLocaleError
from babel.dates import get_day_names

from kioskd.config import WEEKDAYS
from kioskd.ui.messages import language_name, translate, translate_plural
from kioskd.ui.model import Button, Icon, Label, LockerPlace, Rect, ScreenModel, Widget
from kioskd.ui.theme import BUTTON_TEXT_STYLES, Metrics, icon_side


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    lockers: tuple[LockerPlace, ...]
    languages: tuple[str, ...] = ("nl", "fr", "en")
    contact: str = ""
    screen_mm: tuple[float, float] | None = None  # visible width and height; None: 96 pixels per inch
    large_text: bool = False
    opening_hours: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (("mon", ("09:00-12:00",)), ...); absent = closed

    def __post_init__(self) -> None:
        # config hands in lists; tuples keep the layout hashable and immutable
        object.__setattr__(self, "lockers", tuple(tuple(p) for p in self.lockers))
        object.__setattr__(self, "languages", tuple(self.languages))
        if self.screen_mm is not None:
            object.__setattr__(self, "screen_mm", (float(self.screen_mm[0]), float(self.screen_mm[1])))
        object.__setattr__(self, "opening_hours", tuple((str(day), tuple(spans)) for day, spans in self.opening_hours))

    @property
    def landscape(self) -> bool:
        return self.width >= self.height

    @property
    def metrics(self) -> Metrics:
        return Metrics.for_screen(self.width, self.height, self.screen_mm, self.large_text)


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


def opening_groups(hours: Sequence[tuple[str, Sequence[str]]]) -> list[tuple[int, int, tuple[str, ...]]]:
    """(first day, last day, ranges) for runs of consecutive days with the same hours; Monday is 0."""
    by_day = {WEEKDAYS.index(day): tuple(spans) for day, spans in hours if day in WEEKDAYS and spans}
    groups: list[tuple[int, int, tuple[str, ...]]] = []
    for day in sorted(by_day):
        if groups and groups[-1][1] == day - 1 and groups[-1][2] == by_day[day]:
            groups[-1] = (groups[-1][0], day, by_day[day])
        else:
            groups.append((day, day, by_day[day]))
    return groups


def day_names(lang: str, width: str) -> dict[int, str]:
    """Weekday names in ``lang`` from the CLDR (Babel), Monday = 0, as written inside a sentence."""
    try:
        names = get_day_names(width, locale=lang)
    except (UnknownLocaleError, ValueError):
        names = get_day_names(width, locale="en")
    return {i: names[i] for i in range(7)}


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


# ---- what a screen asks the frame to place -------------------------------------------------------


@dataclass(frozen=True)
class Text:
    text: str
    style: str = "body"
    # 0: always shown; otherwise left out when the screen has no room (large text), the highest number first
    drop: int = 0
    align: str = "center"


@dataclass(frozen=True)
class Block:
    """Something of a fixed height (buttons, the code display): it keeps its height when space is short."""

    height: int
    make: Callable[[Rect], Widget | list[Widget]]


Item = Text | Block


class Choice(NamedTuple):
    action: str
    label: str
    style: str = "primary"
    icon: str | None = None
    selected: bool = False


@dataclass(frozen=True)
class _Plan:
    items: list[Item]
    heights: list[int]
    gap: int

    @property
    def total(self) -> int:
        return sum(self.heights) + self.gap * max(0, len(self.items) - 1)


# ---- the shared frame -------------------------------------------------------------------------


class FrameBuilder:
    """Collects widgets for one screen in reading order and knows the frame's regions."""

    def __init__(self, layout: Layout, lang: str) -> None:
        self.layout, self.lang = layout, lang
        from kioskd.ui.typeset import typesetter  # pygame, only once a screen is built (not on import)

        self.m = m = layout.metrics
        self.type = typesetter()
        self.widgets: list[Widget] = []
        self.left, self.right = m.margin, layout.width - m.margin
        self.top, self.bottom = m.margin, layout.height - m.margin

    def t(self, msgid: str, **params: object) -> str:
        return translate(self.lang, msgid, **params)

    def tn(self, msgid: str, plural_id: str, n: int, **params: object) -> str:
        return translate_plural(self.lang, msgid, plural_id, n, **params)

    # ---- measuring --------------------------------------------------------------------------

    def text_width(self, text: str, style: str) -> int:
        weight, size, _floor = self.type.sizes(self.m, style)
        return max(self.type.width(weight, size, line) for line in text.split("\n"))

    def text_height(self, text: str, style: str, width: int, shrink: float = 1.0) -> int:
        weight, size, floor = self.type.sizes(self.m, style)
        return self.type.measure(text, weight, max(floor, int(size * shrink)), width)[1]

    def _chrome(self, c: Choice) -> int:
        """Width a button's padding, icon and tick box take beside its words (as the renderer draws them)."""
        side = icon_side(self.m, c.style)
        return 2 * self.m.padding + (side + self.m.gap) * ((c.icon is not None) + (c.style == "toggle")) + 2

    def button_width(self, c: Choice) -> int:
        style = BUTTON_TEXT_STYLES.get(c.style, "button")
        return max(self.m.min_touch, self.text_width(c.label, style) + self._chrome(c))

    def button_height(self, c: Choice, width: int | None = None, minimum: int | None = None) -> int:
        """Tall enough for the words (wrapped into ``width`` if given) and never below a touch target."""
        style = BUTTON_TEXT_STYLES.get(c.style, "button")
        text_w = width - self._chrome(c) if width is not None else 10**6
        needed = self.text_height(c.label, style, text_w) + 2 * self.m.padding_v
        return max(minimum or self.m.bar_height, needed)

    # ---- header, footer, content ------------------------------------------------------------

    def header(self, *, help_button: bool) -> None:
        """Language buttons (each in its own language) on the left, help on the right."""
        m, langs = self.m, self.layout.languages
        help_choice = Choice("help", self.t("common.help"), "header", "help")
        choices = [Choice(f"lang:{code}", language_name(code), "lang", selected=code == self.lang) for code in langs]
        height = max([self.button_height(c) for c in choices] + [self.button_height(help_choice)])
        help_w = self.button_width(help_choice) if help_button else 0
        if len(choices) > 1:
            room = self.right - self.left - (help_w + m.gap if help_button else 0)
            share = (room - m.gap * (len(choices) - 1)) // len(choices)
            lang_w = min(max(self.button_width(c) for c in choices), share)
            for i, c in enumerate(choices):
                rect = (self.left + i * (lang_w + m.gap), self.top, lang_w, height)
                self.widgets.append(Button(c.action, c.label, rect, c.style, selected=c.selected))
        if help_button:
            self.widgets.append(Button("help", help_choice.label, (self.right - help_w, self.top, help_w, height),
                                       "header", icon="help"))
        self.top += height + m.gap

    def footer(self, left: Sequence[Choice | tuple], right: Sequence[Choice | tuple] = ()) -> None:
        """Back-like actions on the left, the main action on the right, as on most terminals."""
        m = self.m
        lefts, rights = [Choice(*c) for c in left], [Choice(*c) for c in right]
        choices = lefts + rights
        if not choices:
            return
        room = self.right - self.left
        # the main action (right) is a little wider than "Back", so it does not look like an afterthought
        widths = [max(self.button_width(c), m.px(32 if i < len(lefts) else 45)) for i, c in enumerate(choices)]
        if sum(widths) + m.gap * (len(choices) - 1) > room:  # too wide for one line each: words wrap
            widths = [(room - m.gap * (len(choices) - 1)) // len(choices)] * len(choices)
        height = max(self.button_height(c, w) for c, w in zip(choices, widths, strict=True))
        y = self.bottom - height
        x = self.left
        for c, w in zip(lefts, widths, strict=False):
            self.widgets.append(Button(c.action, c.label, (x, y, w, height), c.style, icon=c.icon))
            x += w + m.gap
        x = self.right
        for c, w in reversed(list(zip(rights, widths[len(lefts):], strict=True))):
            x -= w
            self.widgets.append(Button(c.action, c.label, (x, y, w, height), c.style, icon=c.icon))
            x -= m.gap
        self.bottom = y - m.gap

    def nav_footer(self, right: Sequence[Choice | tuple] = ()) -> None:
        """"Back" and "Start over" on the left of every screen a citizen can leave; the main action right."""
        self.footer([Choice("back", self.t("common.back"), "secondary"),
                     Choice("restart", self.t("common.restart"), "secondary")], right)

    def content(self) -> Rect:
        """What is left between the header and the footer (call after both)."""
        return self.left, self.top, self.right - self.left, self.bottom - self.top

    # ---- stacking ---------------------------------------------------------------------------

    def _heights(self, items: list[Item], width: int, shrink: float) -> list[int]:
        return [self.text_height(it.text, it.style, width, shrink) if isinstance(it, Text) else it.height
                for it in items]

    def plan(self, width: int, height: int, items: Sequence[Item | None]) -> _Plan:
        """Heights for ``items`` in a column: texts a little smaller, then droppable texts left out, as needed."""
        todo = [it for it in items if it is not None]
        gap = self.m.gap
        while True:
            shrink = 1.0
            heights = self._heights(todo, width, shrink)
            while _Plan(todo, heights, gap).total > height and shrink > 0.6:
                shrink -= 0.02
                heights = self._heights(todo, width, shrink)
            droppable = [i for i, it in enumerate(todo) if isinstance(it, Text) and it.drop]
            if _Plan(todo, heights, gap).total <= height or not droppable:
                break
            del todo[max(droppable, key=lambda i: (todo[i].drop, i))]
        if _Plan(todo, heights, gap).total > height:
            gap = max(2, gap // 3)
        else:  # breathe when there is room, up to a point: a group that belongs together stays together
            gap = max(gap, min(self.m.px(12), (height - sum(heights)) // (len(todo) + 1)))
        return _Plan(todo, heights, gap)

    def place(self, x: int, y: int, width: int, plan: _Plan) -> None:
        cursor = y
        for item, height in zip(plan.items, plan.heights, strict=True):
            rect = (x, cursor, width, height)
            if isinstance(item, Text):
                self.widgets.append(Label(item.text, rect, item.style, item.align))
            else:
                made = item.make(rect)
                self.widgets.extend(made if isinstance(made, list) else [made])
            cursor += height + plan.gap

    def stack(self, area: Rect, items: Sequence[Item | None], *, valign: str = "center") -> None:
        """Place texts and blocks top to bottom in ``area``, centred as a group unless ``valign="top"``."""
        x, y, w, h = area
        plan = self.plan(w, h, items)
        self.place(x, y + (self._lead(h - plan.total) if valign == "center" else 0), w, plan)

    def _lead(self, spare: int) -> int:
        """Space above a centred group: a little less than half on a tall portrait panel, nearer eye level."""
        return max(0, round(spare * (0.5 if self.layout.landscape else 0.4)))

    def columns(self, area: Rect, first: Sequence[Item | None], second: Sequence[Item | None],
                fraction: float = 0.5) -> None:
        """Two columns side by side on a landscape screen, top-aligned and centred as one; one on portrait."""
        if not self.layout.landscape:
            self.stack(area, [*first, *second])
            return
        a, b = self.split(area, fraction)
        plans = [self.plan(a[2], a[3], first), self.plan(b[2], b[3], second)]
        top = area[1] + self._lead(area[3] - max(p.total for p in plans))
        self.place(a[0], top, a[2], plans[0])
        self.place(b[0], top, b[2], plans[1])

    def split(self, area: Rect, fraction: float) -> tuple[Rect, Rect]:
        """Text beside the picture on a landscape screen, above it on a portrait one."""
        x, y, w, h = area
        gap = self.m.gap * 2
        if self.layout.landscape:
            first = round((w - gap) * fraction)
            return (x, y, first, h), (x + first + gap, y, w - first - gap, h)
        first = round((h - gap) * fraction)
        return (x, y, w, first), (x, y + first + gap, w, h - first - gap)

    # ---- building blocks --------------------------------------------------------------------

    def choices(self, choices: Sequence[Choice], width: int, *, big: bool = True) -> Block:
        """Buttons side by side when they fit (big ones only on a landscape screen), stacked otherwise."""
        m = self.m
        n = len(choices)
        natural = max(self.button_width(c) for c in choices)
        minimum = (m.big_button_height if self.layout.landscape else m.px(30)) if big else m.bar_height
        side_w = max(natural, min(m.px(110 if big else 100), (width - m.gap * (n - 1)) // n))
        across = n * side_w + m.gap * (n - 1) <= width and (self.layout.landscape or not big)
        button_w = side_w if across else min(width, max(natural, m.px(150 if big else 120)))
        button_h = max(self.button_height(c, button_w, minimum) for c in choices)
        between = m.gap if across else m.px(5)
        height = button_h if across else n * button_h + (n - 1) * between

        def make(rect: Rect) -> list[Widget]:
            x, y, w, _h = rect
            if across:
                start = x + (w - (button_w * n + m.gap * (n - 1))) // 2
                rects = [(start + i * (button_w + m.gap), y, button_w, button_h) for i in range(n)]
            else:
                rects = [(x + (w - button_w) // 2, y + i * (button_h + between), button_w, button_h) for i in range(n)]
            return [Button(c.action, c.label, r, c.style, selected=c.selected, icon=c.icon)
                    for c, r in zip(choices, rects, strict=True)]

        return Block(height, make)

    def icon_text(self, icon: str, text: str, style: str, width: int) -> Block:
        """A heading with a sign before it (an error, a warning), the pair centred."""
        m = self.m
        side = round(m.cap_px(style) * 2.2)
        room = width - side - 2 * m.gap
        weight, size, _floor = self.type.sizes(m, style)
        text_w, text_h = self.type.measure(text, weight, size, room)
        height = max(side, text_h)

        def make(rect: Rect) -> list[Widget]:
            x, y, w, h = rect
            left = x + (w - (side + 2 * m.gap + text_w)) // 2
            return [Icon((left, y + (h - side) // 2, side, side), icon),
                    Label(text, (left + side + 2 * m.gap, y, text_w, h), style)]

        return Block(height, make)

    def contact(self) -> Text:
        """The configured contact line as written (it is the town's own wording), or a generic pointer."""
        return Text(self.layout.contact or self.t("common.contact_default"), "body")

    def opening_hours(self, width: int) -> list[Item]:
        """The desk's opening hours as a small table, weekday names in the screen's language."""
        groups = opening_groups(self.layout.opening_hours)
        if not groups:
            return []
        m = self.m
        col_gap = m.px(6)
        hours = ["\n".join(span.strip().replace("-", "–") for span in spans) for _first, _last, spans in groups]
        hours_w = max(self.text_width(h, "body") for h in hours)
        for kind in ("wide", "abbreviated"):
            names = day_names(self.lang, kind)
            days = [_capitalised(names[a] if a == b else f"{names[a]}–{names[b]}") for a, b, _spans in groups]
            days_w = max(self.text_width(d, "body") for d in days)
            if days_w + col_gap + hours_w <= width:
                break
        days_w = min(days_w, width - col_gap - hours_w)
        cells = [(self.text_height(d, "body", days_w), self.text_height(h, "body", hours_w))
                 for d, h in zip(days, hours, strict=True)]
        row_gap = m.px(1)

        def make(rect: Rect) -> list[Widget]:
            x, y, w, _h = rect
            left = x + (w - (days_w + col_gap + hours_w)) // 2
            made: list[Widget] = []
            for day, span, (day_h, span_h) in zip(days, hours, cells, strict=True):
                made.append(Label(day, (left, y, days_w, day_h), "body", "left"))
                made.append(Label(span, (left + days_w + col_gap, y, hours_w, span_h), "body", "left"))
                y += max(day_h, span_h) + row_gap
            return made

        table = Block(sum(max(c) for c in cells) + row_gap * (len(cells) - 1), make)
        items: list[Item] = [Text(self.t("hours.title"), "subheading"), table]
        if len({d for a, b, _ in groups for d in range(a, b + 1)}) < 7:
            items.append(Text(self.t("hours.other_days_closed"), "hint", drop=3))
        return items

    def model(self, screen: str) -> ScreenModel:
        return ScreenModel(screen, self.lang, tuple(self.widgets), self.m)
