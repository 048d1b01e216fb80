"""Colours, sizes and spacing of the kiosk screens, in one place so accessibility can be checked in one place.

The default theme is dark text on a light background, with every text/background pair at a contrast of at
least 7:1 (WCAG AAA, as EN 301 549 asks of the kiosk). ``text_pairs`` lists every pair the renderer uses so
a test can hold the theme to that.

Sizes are physical: the configured screen size in millimetres gives pixels per millimetre, and every touch
target and every text height is set in millimetres from it. A citizen's eye and finger do not care how many
pixels a panel has: text must subtend 0.7° at a reading distance of 600 mm (a capital H about 7.3 mm
high) and a target must be at least 20 mm across for an unsteady or gloved finger, on a 15" landscape
panel and on a 21" portrait one alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

Color = tuple[int, int, int]

AAA_CONTRAST = 7.0
MIN_TOUCH_MM = 20.0  # every button, both ways
MIN_CAP_MM = 7.3  # capital-H height of citizen-facing text: 0.7° of visual angle at 600 mm
LARGE_TEXT_FACTOR = 1.35  # the large-text variant, chosen by a citizen on the start screen
LARGE_MIN_CAP_MM = 9.2  # large text may shrink to fit, but never back to the normal size
DEFAULT_PX_PER_MM = 96 / 25.4  # when the config does not say how big the screen is


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(color: Color) -> float:
    """WCAG 2.x relative luminance of an sRGB colour."""
    r, g, b = (_channel(v) for v in color[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(fg: Color, bg: Color) -> float:
    """WCAG contrast ratio, from 1 (same colour) to 21 (black on white); order of arguments does not matter."""
    a, b = relative_luminance(fg), relative_luminance(bg)
    light, dark = max(a, b), min(a, b)
    return (light + 0.05) / (dark + 0.05)


@dataclass(frozen=True)
class ButtonColors:
    fill: Color
    text: Color
    border: Color
    pressed_fill: Color
    pressed_text: Color


INK: Color = (20, 24, 31)
PAPER: Color = (250, 250, 247)
WHITE: Color = (255, 255, 255)
BLACK: Color = (0, 0, 0)
NAVY: Color = (11, 61, 145)
NAVY_DARK: Color = (4, 30, 80)
MIST: Color = (226, 232, 240)
MIST_DARK: Color = (176, 189, 206)
AMBER: Color = (255, 176, 0)
AMBER_DARK: Color = (222, 150, 0)
RED: Color = (150, 0, 0)


@dataclass(frozen=True)
class Palette:
    background: Color = PAPER
    text: Color = INK
    hint: Color = (52, 58, 70)
    alert: Color = RED
    buttons: dict[str, ButtonColors] = field(default_factory=lambda: {
        "primary": ButtonColors(NAVY, WHITE, NAVY_DARK, NAVY_DARK, WHITE),
        "secondary": ButtonColors(MIST, INK, INK, MIST_DARK, INK),
        "digit": ButtonColors(WHITE, INK, INK, MIST_DARK, INK),
        "lang": ButtonColors(MIST, INK, (90, 100, 115), MIST_DARK, INK),
        "lang_selected": ButtonColors(NAVY, WHITE, NAVY_DARK, NAVY_DARK, WHITE),
        "toggle": ButtonColors(WHITE, INK, INK, MIST_DARK, INK),
        "toggle_selected": ButtonColors(NAVY, WHITE, NAVY_DARK, NAVY_DARK, WHITE),
        # the service mode's grid of lockers: a plain door, and one that needs a look (open, flagged, a failed
        # test), amber with a thick black border and the reason in words on it
        "cell": ButtonColors(WHITE, INK, INK, MIST_DARK, INK),
        "cell_alert": ButtonColors(AMBER, BLACK, BLACK, AMBER_DARK, BLACK),
    })
    disabled: ButtonColors = ButtonColors((238, 238, 238), (60, 60, 60), (120, 120, 120), (238, 238, 238),
                                          (60, 60, 60))
    shadow: Color = (70, 80, 95)
    locker_fill: Color = (214, 220, 228)
    locker_text: Color = INK
    locker_border: Color = (70, 80, 95)
    highlight_fill: Color = AMBER
    highlight_text: Color = BLACK
    highlight_border: Color = BLACK
    alert_mark: Color = WHITE  # the "!" inside the alert sign
    dot: Color = INK
    code_fill: Color = WHITE
    # a QR code shown for a phone to scan (itsme): black on white, the contrast every scanner expects
    qr_dark: Color = BLACK
    qr_light: Color = WHITE
    # icons drawn beside words: the alert sign in the alert colour, the clock and arrows in ink; a warning
    # triangle is amber with a black "!" (the sign, not its colour, says "attention")
    icon_warning_fill: Color = AMBER
    icon_warning_mark: Color = BLACK
    # keypad focus: a thick black ring with an amber ring inside it, visible on light and dark buttons
    focus_outer: Color = BLACK
    focus_inner: Color = AMBER
    touch_ring: Color = INK
    # the simulator's side panel: dark, so it is never mistaken for part of the kiosk screen
    panel_background: Color = (34, 38, 46)
    panel_text: Color = (240, 240, 240)
    panel_button: Color = (64, 74, 90)
    panel_button_text: Color = WHITE
    panel_lit: Color = AMBER
    panel_lit_text: Color = BLACK

    def button_colors(self, style: str, *, enabled: bool = True, selected: bool = False) -> ButtonColors:
        if not enabled:
            return self.disabled
        if selected and f"{style}_selected" in self.buttons:
            return self.buttons[f"{style}_selected"]
        return self.buttons.get(style, self.buttons["secondary"])


def text_pairs(palette: Palette) -> list[tuple[str, Color, Color]]:
    """Every (name, foreground, background) the renderer and the sim panel draw meaningful marks with.

    Meaningful marks are words and the icons and rings that carry meaning; a shadow or a door's outline
    is decoration and is not listed.
    """
    p = palette
    pairs = [("text", p.text, p.background), ("hint", p.hint, p.background), ("alert", p.alert, p.background),
             ("alert icon", p.alert, p.background), ("alert icon mark", p.alert_mark, p.alert),
             ("icon", p.text, p.background),
             ("warning icon mark", p.icon_warning_mark, p.icon_warning_fill),
             ("warning icon edge", p.icon_warning_mark, p.background),
             ("locker", p.locker_text, p.locker_fill), ("highlight", p.highlight_text, p.highlight_fill),
             ("code dots", p.dot, p.code_fill), ("qr code", p.qr_dark, p.qr_light),
             ("focus ring", p.focus_outer, p.background), ("focus ring inner", p.focus_outer, p.focus_inner),
             ("touch ring", p.touch_ring, p.background),
             ("panel", p.panel_text, p.panel_background),
             ("panel button", p.panel_button_text, p.panel_button),
             ("panel lit", p.panel_lit_text, p.panel_lit),
             ("disabled", p.disabled.text, p.disabled.fill)]
    for style, colors in p.buttons.items():
        pairs.append((f"{style} button", colors.text, colors.fill))
        pairs.append((f"{style} button pressed", colors.pressed_text, colors.pressed_fill))
    return pairs


# ---- sizes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextStyle:
    cap_mm: float  # height of a capital H at the normal size
    weight: str  # "regular" or "bold": the bundled font's two faces
    min_cap_mm: float = MIN_CAP_MM  # the renderer may shrink a text to fit its box, never below this
    grows: bool = True  # larger in the large-text variant
    shrink: float = 0.85  # nor below this fraction of its size, so a title stays larger than the text under it


TEXT_STYLES: dict[str, TextStyle] = {
    "title": TextStyle(10.0, "bold"),
    "heading": TextStyle(8.8, "bold"),
    "alert": TextStyle(8.8, "bold"),  # a heading in the alert colour, always beside an alert icon
    "body": TextStyle(7.6, "regular"),
    "notice": TextStyle(7.6, "bold"),  # body text in the alert colour, bold so it is not colour alone
    "hint": TextStyle(7.6, "regular"),
    "subheading": TextStyle(7.6, "bold"),
    "button": TextStyle(7.6, "bold"),
    "lang": TextStyle(7.6, "bold", grows=False),  # the header stays put when a citizen enlarges the text
    "digit": TextStyle(10.5, "bold", grows=False),  # already as large as large text; the keys stay put
    # on the drawing of the locker bank the door is found by its shape, place and marker; the number may be
    # smaller than reading text when the doors are small
    "locker": TextStyle(9.0, "bold", min_cap_mm=4.0, shrink=0.5),
    "marker": TextStyle(7.6, "bold", min_cap_mm=4.0, shrink=0.5),
}


# the words on a button by its style; header buttons keep their size in large text so the header stays put
BUTTON_TEXT_STYLES = {"lang": "lang", "header": "lang", "digit": "digit"}
SIZE_WEIGHT = {"S": 1.0, "M": 1.5, "L": 2.0}  # relative door heights, so the map looks like the real bank
DOOR_ASPECT = 1.6  # a small door is about 1.6 times as wide as it is high


def px_per_mm(width: int, height: int, screen_mm: tuple[float, float] | None) -> float:
    """Pixels per millimetre; with non-square pixels the denser axis, so millimetres are never short."""
    if not screen_mm:
        return DEFAULT_PX_PER_MM
    return max(width / screen_mm[0], height / screen_mm[1])


@dataclass(frozen=True)
class Metrics:
    """Spacing, touch targets and text heights in pixels for one screen, derived from millimetres."""

    px_per_mm: float
    large_text: bool = False

    @classmethod
    def for_screen(cls, width: int, height: int, screen_mm: tuple[float, float] | None = None,
                   large_text: bool = False) -> Metrics:
        return cls(px_per_mm(width, height, screen_mm), large_text)

    def px(self, mm: float) -> int:
        return round(mm * self.px_per_mm)

    def px_up(self, mm: float) -> int:
        """At least ``mm``: for minimums, where rounding down would fall short."""
        return math.ceil(mm * self.px_per_mm - 1e-9)

    @property
    def margin(self) -> int:
        return self.px(4)

    @property
    def gap(self) -> int:
        return self.px(3)

    @property
    def min_touch(self) -> int:
        return self.px_up(MIN_TOUCH_MM)

    @property
    def bar_height(self) -> int:
        """Header and footer buttons; the frame makes them taller if their words need it."""
        return self.px_up(MIN_TOUCH_MM + 1)

    @property
    def big_button_height(self) -> int:
        return self.px(25)

    @property
    def radius(self) -> int:
        return self.px(3)

    @property
    def border(self) -> int:
        return max(2, self.px(0.7))

    @property
    def padding(self) -> int:
        """Between a button's side and its words."""
        return self.px(4)

    @property
    def padding_v(self) -> int:
        """Between a button's top or bottom and its words."""
        return self.px(2)

    def style(self, name: str) -> TextStyle:
        return TEXT_STYLES.get(name, TEXT_STYLES["body"])

    def cap_px(self, name: str) -> int:
        """The capital-H height a text of this style is set at."""
        s = self.style(name)
        factor = LARGE_TEXT_FACTOR if self.large_text and s.grows else 1.0
        return self.px_up(s.cap_mm * factor)

    def min_cap_px(self, name: str) -> int:
        """The smallest capital-H height the renderer may shrink this style to."""
        s = self.style(name)
        floor = s.min_cap_mm * (LARGE_MIN_CAP_MM / MIN_CAP_MM if self.large_text and s.grows else 1.0)
        cap = self.cap_px(name)
        return min(max(self.px_up(floor), round(cap * s.shrink)), cap)


def icon_side(m: Metrics, button_style: str) -> int:
    """The square an icon or a tick box takes inside a button: in proportion to the button's words."""
    return round(m.cap_px(BUTTON_TEXT_STYLES.get(button_style, "button")) * 1.9)


DEFAULT_PALETTE = Palette()
