"""What a screen shows, as plain frozen data with no pygame in it.

Screens are built as values so that tests, the harness and (later) the speech and audio-mode code can
ask "which buttons are there, what does it say" without a display, and so that the renderer is the only
place that knows about pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

from kioskd.ui.theme import Metrics

Rect = tuple[int, int, int, int]  # x, y, width, height in screen pixels
LockerPlace = tuple[int, int, int, str]  # number, row (1 = top), column (1 = leftmost), size S/M/L

FILLED_DOT = "●"
EMPTY_DOT = "○"
TICKED_BOX = "☑"
EMPTY_BOX = "☐"


def contains(rect: Rect, x: float, y: float) -> bool:
    rx, ry, rw, rh = rect
    return rx <= x < rx + rw and ry <= y < ry + rh


def overlaps(a: Rect, b: Rect) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def center(rect: Rect) -> tuple[int, int]:
    x, y, w, h = rect
    return x + w // 2, y + h // 2


@dataclass(frozen=True)
class Label:
    """Text the renderer wraps into ``rect``, shrinking the font if it would not fit."""

    text: str
    rect: Rect
    style: str = "body"  # title, heading, alert (red heading), body, notice (red body), hint
    align: str = "center"  # or "left", for the columns of a table such as the opening hours


@dataclass(frozen=True)
class Button:
    """A touch target; ``action`` is what a tap on it tells the flow (``Tap(action)``)."""

    action: str
    label: str
    rect: Rect
    style: str = "primary"  # primary, secondary, digit, lang, toggle
    enabled: bool = True
    # the current language, or a toggle that is on: drawn differently (underline, tick), not only in colour
    selected: bool = False
    icon: str | None = None  # an ICONS name drawn before the words, so a button is more than its colour
    # what the audio mode says for the button when it is not its label (a label with a reservation id in it)
    speech: str | None = None


@dataclass(frozen=True)
class LockerMap:
    """The bank of lockers as seen from the front, so a citizen finds the open door at a glance."""

    rect: Rect
    lockers: tuple[LockerPlace, ...]
    highlight: int | None = None
    highlight_text: str = ""  # e.g. "Locker 3": read out by texts() as the map's only words
    marker: str = "OPEN"  # drawn on the highlighted door so colour is not the only cue


@dataclass(frozen=True)
class CodeDisplay:
    """How many digits are typed so far; deliberately holds no digits, so none can leak to the screen."""

    rect: Rect
    entered: int
    length: int

    def dots(self) -> str:
        filled = max(0, min(self.entered, self.length))
        return FILLED_DOT * filled + EMPTY_DOT * (self.length - filled)


@dataclass(frozen=True)
class Tally:
    """A row of boxes, one per item of a return, ticked for each item recognised so far.

    A ticked box is filled and carries a tick, so the count is seen by shape, not only by colour.
    """

    rect: Rect
    counted: int
    total: int

    def boxes(self) -> str:
        ticked = max(0, min(self.counted, self.total))
        return TICKED_BOX * ticked + EMPTY_BOX * (self.total - ticked)


@dataclass(frozen=True)
class Arrow:
    """A big arrow pointing at something outside the screen (the camera below it)."""

    rect: Rect
    direction: str = "down"  # down, up, left, right


@dataclass(frozen=True)
class QrCode:
    """A QR code for a phone to scan from the screen (itsme): dark modules on light, quiet zone included.

    ``rect`` is the square the whole code takes, quiet zone and all; the frame makes it a whole number of
    pixels per module (``kioskd.ui.qr``), so every module is drawn the same size and a phone reads it at once.
    It has no words: what to do with it is said beside it.
    """

    rect: Rect
    text: str


ICONS = ("alert", "warning", "clock", "speaker", "text_size", "help", "tag", "check")


@dataclass(frozen=True)
class Icon:
    """A drawn sign beside words (a warning beside an error heading), never instead of them."""

    rect: Rect
    name: str  # one of ICONS


Widget = Label | Button | LockerMap | CodeDisplay | Tally | Arrow | Icon | QrCode


@dataclass(frozen=True)
class ScreenModel:
    """One screen: widgets are kept in reading order (top to bottom, left to right)."""

    screen: str
    lang: str
    widgets: tuple[Widget, ...]
    metrics: Metrics | None = None  # the sizes the screen was laid out with; the renderer draws with them

    def texts(self) -> list[str]:
        """Every visible string in reading order: what a test, or a person reading aloud, would see."""
        texts: list[str] = []
        for widget in self.widgets:
            if isinstance(widget, Label):
                texts.append(widget.text)
            elif isinstance(widget, Button):
                texts.append(widget.label)
            elif isinstance(widget, LockerMap):
                if widget.highlight is not None and widget.highlight_text:
                    texts.append(widget.highlight_text)
            elif isinstance(widget, CodeDisplay):
                texts.append(widget.dots())
            elif isinstance(widget, Tally):
                texts.append(widget.boxes())
        return texts

    def buttons(self) -> list[Button]:
        return [w for w in self.widgets if isinstance(w, Button)]

    def button(self, action: str) -> Button | None:
        return next((b for b in self.buttons() if b.action == action), None)

    def button_at(self, x: float, y: float) -> Button | None:
        """The enabled button under a touch; a tap on a disabled button must do nothing."""
        return next((b for b in self.buttons() if b.enabled and contains(b.rect, x, y)), None)
