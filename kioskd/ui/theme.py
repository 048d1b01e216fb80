"""Colours, sizes and spacing of the kiosk screens, in one place so accessibility can be checked in one place.

The default theme is dark text on a light background, with every text/background pair at a contrast of at
least 7:1 (WCAG AAA, as EN 301 549 asks of the kiosk). ``text_pairs`` lists every pair the renderer uses so
a test can hold the theme to that. Sizes scale with the screen's shorter side: a portrait 1080×1920 panel
has the same pixel density as a landscape 1920×1080 one, so its text must not grow with its height.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Color = tuple[int, int, int]

AAA_CONTRAST = 7.0
REFERENCE_SIDE = 800  # the design was drawn for a 1280×800 screen; everything scales from there
MIN_TOUCH_HEIGHT = 110  # at the reference size; EN 301 549 and common sense for gloved fingers


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
NAVY: Color = (11, 61, 145)
NAVY_DARK: Color = (4, 30, 80)
MIST: Color = (226, 232, 240)
MIST_DARK: Color = (176, 189, 206)
AMBER: Color = (255, 176, 0)


@dataclass(frozen=True)
class Palette:
    background: Color = PAPER
    text: Color = INK
    hint: Color = (52, 58, 70)
    alert: Color = (150, 0, 0)
    buttons: dict[str, ButtonColors] = field(default_factory=lambda: {
        "primary": ButtonColors(NAVY, WHITE, NAVY_DARK, NAVY_DARK, WHITE),
        "secondary": ButtonColors(MIST, INK, INK, MIST_DARK, INK),
        "digit": ButtonColors(WHITE, INK, INK, MIST_DARK, INK),
        "lang": ButtonColors(MIST, INK, (90, 100, 115), MIST_DARK, INK),
        "lang_selected": ButtonColors(NAVY, WHITE, NAVY_DARK, NAVY_DARK, WHITE),
    })
    disabled: ButtonColors = ButtonColors((238, 238, 238), (60, 60, 60), (120, 120, 120), (238, 238, 238),
                                          (60, 60, 60))
    locker_fill: Color = (214, 220, 228)
    locker_text: Color = INK
    locker_border: Color = (70, 80, 95)
    highlight_fill: Color = AMBER
    highlight_text: Color = (0, 0, 0)
    highlight_border: Color = (0, 0, 0)
    dot: Color = INK
    # the simulator's side panel: dark, so it is never mistaken for part of the kiosk screen
    panel_background: Color = (34, 38, 46)
    panel_text: Color = (240, 240, 240)
    panel_button: Color = (64, 74, 90)
    panel_button_text: Color = WHITE
    panel_lit: Color = AMBER
    panel_lit_text: Color = (0, 0, 0)

    def button_colors(self, style: str, *, enabled: bool = True, selected: bool = False) -> ButtonColors:
        if not enabled:
            return self.disabled
        if selected and f"{style}_selected" in self.buttons:
            return self.buttons[f"{style}_selected"]
        return self.buttons.get(style, self.buttons["secondary"])


def text_pairs(palette: Palette) -> list[tuple[str, Color, Color]]:
    """Every (name, text colour, background colour) the renderer and the sim panel draw with."""
    p = palette
    pairs = [("text", p.text, p.background), ("hint", p.hint, p.background), ("alert", p.alert, p.background),
             ("locker", p.locker_text, p.locker_fill), ("highlight", p.highlight_text, p.highlight_fill),
             ("panel", p.panel_text, p.panel_background),
             ("panel button", p.panel_button_text, p.panel_button),
             ("panel lit", p.panel_lit_text, p.panel_lit),
             ("disabled", p.disabled.text, p.disabled.fill)]
    for style, colors in p.buttons.items():
        pairs.append((f"{style} button", colors.text, colors.fill))
        pairs.append((f"{style} button pressed", colors.pressed_text, colors.pressed_fill))
    return pairs


# Sizes passed to pygame.font.Font(None, size); the bundled default font draws at about 0.69 of that.
FONT_SIZES = {"title": 88, "heading": 76, "alert": 76, "body": 58, "notice": 58, "hint": 48, "button": 56, "lang": 44,
              "digit": 84, "locker": 56, "marker": 40}


@dataclass(frozen=True)
class Metrics:
    """Spacing and font sizes for one screen size."""

    scale: float
    margin: int
    gap: int
    bar_height: int  # header and footer buttons
    big_button_height: int
    radius: int
    border: int

    @classmethod
    def for_size(cls, width: int, height: int) -> Metrics:
        s = min(width, height) / REFERENCE_SIDE
        return cls(scale=s, margin=round(24 * s), gap=round(18 * s), bar_height=round(116 * s),
                   big_button_height=round(150 * s), radius=round(18 * s), border=max(2, round(3 * s)))

    def font_size(self, style: str) -> int:
        return max(12, round(FONT_SIZES.get(style, FONT_SIZES["body"]) * self.scale))

    @property
    def min_touch_height(self) -> int:
        return round(MIN_TOUCH_HEIGHT * self.scale)


DEFAULT_PALETTE = Palette()
