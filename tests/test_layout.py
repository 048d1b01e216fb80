"""Every screen variant, in every language, on both panels, in normal and large text, measured in millimetres.

The sizes come from the configured screens (config/sim.toml: 1280×800 at 331×207 mm; aalter.example.toml:
1080×1920 at 268×476 mm) and from the 96-dpi default a config without a screen size gets. Text sizes are
measured from the bundled font as drawn, not from the numbers the theme asks for.
"""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import dataclasses  # noqa: E402
import html.parser  # noqa: E402
import itertools  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from functools import cache  # noqa: E402
from pathlib import Path  # noqa: E402

import pygame  # noqa: E402
import pytest  # noqa: E402

from kioskd import i18n  # noqa: E402
from kioskd.ui.frame import Layout, opening_groups  # noqa: E402
from kioskd.ui.gallery import LANGUAGES, LAYOUTS, SAMPLE_LOCKERS, sample_screens  # noqa: E402
from kioskd.ui.messages import catalogue  # noqa: E402
from kioskd.ui.model import Icon, Label, overlaps  # noqa: E402
from kioskd.ui.render import Renderer, font_path  # noqa: E402
from kioskd.ui.screens import (  # noqa: E402
    NO_BACK_SCREENS,
    NO_HELP_SCREENS,
    PURPOSES,
    SCREENS,
    TAG_NOTICES,
    build_screen,
)
from kioskd.ui.theme import DEFAULT_PALETTE, MIN_CAP_MM, MIN_TOUCH_MM, contrast_ratio, text_pairs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MAP_STYLES = ("locker", "marker")  # numbers on the drawing of the bank may be smaller than reading text
PANELS = {name: layout for name, layout in LAYOUTS.items()}
PANELS.update({f"{name}-96dpi": dataclasses.replace(layout, screen_mm=None) for name, layout in LAYOUTS.items()})
VARIANTS = {f"{name}-{size}": dataclasses.replace(layout, large_text=size == "large")
            for name, layout in PANELS.items() for size in ("normal", "large")}


@pytest.fixture(scope="module", autouse=True)
def fonts():
    pygame.font.init()
    yield


def px_per_mm(layout: Layout) -> tuple[float, float]:
    if layout.screen_mm is None:
        return 96 / 25.4, 96 / 25.4
    return layout.width / layout.screen_mm[0], layout.height / layout.screen_mm[1]


@cache
def renderer(width: int, height: int) -> Renderer:
    return Renderer(pygame.Surface((width, height)))


@cache
def models() -> list:
    """(id, layout, model) for every sample screen × language × panel × text size."""
    return [(f"{variant} {stem} {lang}", layout, build_screen(screen, params, lang, layout))
            for variant, layout in VARIANTS.items() for stem, screen, params in sample_screens()
            for lang in LANGUAGES]


def problems_of(layout: Layout, model) -> list[str]:
    """Everything wrong with one laid-out screen; the tests below want this empty everywhere."""
    found = []
    px_x, px_y = px_per_mm(layout)
    for text in renderer(layout.width, layout.height).text_report(model):
        if text.truncated:
            found.append(f"cut: {text.text!r} ({text.style}) in {text.box}")
        elif text.cap_height < text.min_cap_height:
            found.append(f"below its minimum: {text.text!r} ({text.style}) {text.cap_height} < {text.min_cap_height}")
        elif text.style not in MAP_STYLES and text.cap_height / px_y < MIN_CAP_MM:
            found.append(f"smaller than {MIN_CAP_MM} mm: {text.text!r} ({text.style}) {text.cap_height / px_y:.2f} mm")
    widgets = [w for w in model.widgets if hasattr(w, "rect")]
    for w in widgets:
        x, y, width, height = w.rect
        if not (x >= 0 and y >= 0 and x + width <= layout.width and y + height <= layout.height and width > 0
                and height > 0):
            found.append(f"off screen: {w}")
    for a, b in itertools.combinations(widgets, 2):
        if overlaps(a.rect, b.rect):
            found.append(f"overlap: {a} and {b}")
    for button in model.buttons():
        if button.rect[2] / px_x < MIN_TOUCH_MM or button.rect[3] / px_y < MIN_TOUCH_MM:
            found.append(f"target under {MIN_TOUCH_MM} mm: {button.action} {button.rect}")
    return found


# ---- the whole matrix -----------------------------------------------------------------------


def test_every_screen_fits_in_every_language_panel_and_text_size():
    """No text cut or below its minimum, nothing off screen or overlapping, every target ≥ 20 mm."""
    found = [f"{ident}: {problem}" for ident, layout, model in models() for problem in problems_of(layout, model)]
    assert not found, f"{len(found)} problems, e.g.:\n" + "\n".join(found[:15])


def test_the_check_can_fail_on_a_screen_too_small_for_its_words():
    """A 1280×800 panel only 200 mm wide cannot hold the help screen's words at 7.3 mm: the check says so."""
    small = dataclasses.replace(LAYOUTS["landscape"], screen_mm=(200, 125), large_text=True)
    model = build_screen("help", {"locker": 5}, "fr", small)
    assert problems_of(small, model)


def test_the_fit_cuts_and_reports_a_text_that_cannot_fit():
    r = renderer(1280, 800)
    m = LAYOUTS["landscape"].metrics
    fits = r.fit("Hello", (0, 0, 400, 200), "body", m)
    assert not fits.truncated and fits.lines == ("Hello",)
    cut = r.fit("A rather long sentence that cannot possibly fit here", (0, 0, 300, 40), "body", m)
    assert cut.truncated and cut.lines[-1].endswith("…")
    assert cut.cap_height >= m.min_cap_px("body")  # cut, but never smaller than the minimum


def test_every_screen_a_citizen_can_leave_has_back_and_start_over():
    assert set(NO_BACK_SCREENS) < set(SCREENS)
    for ident, _layout, model in models():
        actions = {b.action for b in model.buttons()}
        if model.screen not in NO_BACK_SCREENS:
            assert "back" in actions, ident
            # help at an open door closes with "back" only: the door must be settled before starting over
            assert "restart" in actions or "at-door" in ident, ident
        assert ("help" in actions) == (model.screen not in NO_HELP_SCREENS), ident


# ---- sizes from the font as drawn -------------------------------------------------------------


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_body_text_capital_height_is_at_least_0_7_degrees_at_600_mm(variant):
    layout = VARIANTS[variant]
    model = build_screen("help", {"locker": 5}, "en", layout)
    sizes = {t.size for t in renderer(layout.width, layout.height).text_report(model) if t.style == "body"}
    font = pygame.font.Font(str(font_path("regular")), min(sizes))  # the smallest body text on the screen
    glyph = font.render("H", True, (0, 0, 0), (255, 255, 255))
    cap_mm = _ink_rect(glyph).h / px_per_mm(layout)[1]
    assert cap_mm >= MIN_CAP_MM, (variant, cap_mm)
    if layout.large_text:
        normal = dataclasses.replace(layout, large_text=False)
        assert layout.metrics.cap_px("body") >= 1.3 * normal.metrics.cap_px("body")


def _ink_rect(surface: pygame.Surface) -> pygame.Rect:
    """The box of the non-white pixels of an opaque rendering."""
    w, h = surface.get_size()
    rows = [y for y in range(h) if any(surface.get_at((x, y))[:3] != (255, 255, 255) for x in range(w))]
    cols = [x for x in range(w) if any(surface.get_at((x, y))[:3] != (255, 255, 255) for y in range(h))]
    return pygame.Rect(min(cols), min(rows), max(cols) - min(cols) + 1, max(rows) - min(rows) + 1)


def test_large_text_is_larger_on_every_screen():
    for variant, layout in VARIANTS.items():
        if layout.large_text:
            continue
        large = dataclasses.replace(layout, large_text=True)
        normal_size = renderer(layout.width, layout.height).type.sizes(layout.metrics, "body")[1]
        large_size = renderer(layout.width, layout.height).type.sizes(large.metrics, "body")[1]
        assert large_size >= normal_size * 1.3, variant


@pytest.mark.parametrize("name, fg, bg", text_pairs(DEFAULT_PALETTE), ids=lambda v: v if isinstance(v, str) else "")
def test_every_colour_pair_reaches_7_to_1(name, fg, bg):
    assert contrast_ratio(fg, bg) >= 7.0, name


# ---- what the screens say ---------------------------------------------------------------------


@pytest.mark.parametrize("lang, words", [("nl", ("maandag", "ma")), ("fr", ("lundi", "lun.")),
                                         ("en", ("monday", "mon"))])
def test_help_shows_the_opening_hours_with_weekday_names_in_the_screens_language(lang, words):
    for layout in LAYOUTS.values():
        texts = [t.lower() for t in build_screen("help", {}, lang, layout).texts()]
        assert any(t.startswith(words) for t in texts), (lang, texts)
        assert any("09:00–12:00" in t for t in texts) and any("14:00–19:00" in t for t in texts)
        assert layout.contact.lower() in texts


def test_opening_hours_group_consecutive_days_with_the_same_hours():
    hours = (("mon", ("09:00-12:00",)), ("tue", ("09:00-12:00",)), ("wed", ("13:00-16:00",)),
             ("fri", ("09:00-12:00",)))
    assert opening_groups(hours) == [(0, 1, ("09:00-12:00",)), (2, 2, ("13:00-16:00",)), (4, 4, ("09:00-12:00",))]
    layout = Layout(1080, 1920, SAMPLE_LOCKERS, opening_hours=hours, screen_mm=(268, 476))
    texts = build_screen("out_of_service", {}, "nl", layout).texts()
    assert "Maandag–dinsdag" in texts and "Vrijdag" in texts and "Donderdag" not in " ".join(texts)
    assert "Andere dagen gesloten." in texts


def test_help_without_opening_hours_still_shows_the_contact_and_the_keypad():
    layout = Layout(1080, 1920, SAMPLE_LOCKERS, screen_mm=(268, 476))
    texts = build_screen("help", {"in_session": True}, "en", layout).texts()
    assert any(t.startswith("Questions?") for t in texts) and any(t.startswith("Keypad:") for t in texts)
    assert not any("Opening hours" in t for t in texts)


def test_attract_toggles_show_their_state_by_more_than_colour():
    for audio, large in ((False, False), (True, False), (False, True)):
        model = build_screen("attract", {"audio": audio, "large_text": large}, "fr", LAYOUTS["portrait"])
        audio_button, large_button = model.button("audio"), model.button("large_text")
        assert (audio_button.selected, large_button.selected) == (audio, large)
        assert audio_button.label == "Guidage vocal" and large_button.label == "Texte plus grand"
        assert audio_button.icon == "speaker" and large_button.icon == "text_size"
    r = renderer(1080, 1920)
    pixels = []
    for on in (False, True):
        model = build_screen("attract", {"audio": on}, "en", LAYOUTS["portrait"])
        r.draw(model)
        tick = r._button_areas(model.button("audio"), pygame.Rect(model.button("audio").rect), model.metrics)[2]
        pixels.append({tuple(r.surface.get_at((x, y)))[:3] for x in range(tick.x + 6, tick.right - 6)
                       for y in range(tick.y + 6, tick.bottom - 6)})
    assert len(pixels[0]) == 1 and len(pixels[1]) > 1  # an empty box off, a tick drawn in it on


def test_blind_users_are_told_how_to_start_the_audio_guide():
    for lang, word in (("nl", "toets 5"), ("fr", "touche 5"), ("en", "5 key")):
        assert any(word in t for t in build_screen("attract", {}, lang, LAYOUTS["landscape"]).texts())


def test_timeout_offers_more_time_only_while_extensions_are_left():
    def actions(left):
        return {b.action for b in build_screen("timeout", {"seconds": 9, "extensions_left": left}, "en",
                                               LAYOUTS["landscape"]).buttons()}

    assert {"extend", "restart"} <= actions(1)
    assert "extend" not in actions(0) and "restart" in actions(0)
    model = build_screen("timeout", {"seconds": 9, "extensions_left": 0}, "en", LAYOUTS["landscape"])
    assert "The session ends in 9 seconds." in model.texts()
    assert [w.name for w in model.widgets if isinstance(w, Icon)] == ["clock"]


def test_a_door_left_open_offers_more_time_when_the_flow_allows_it():
    def actions(**params):
        return {b.action for b in build_screen("close_door", {"locker": 4, **params}, "nl",
                                               LAYOUTS["portrait"]).buttons()}

    assert "extend" in actions(reminder=True, can_extend=True)
    assert "extend" not in actions(reminder=True, can_extend=False)
    assert "extend" not in actions(reminder=False, can_extend=True)


def test_error_headings_have_an_icon_beside_them():
    for stem, screen, params in sample_screens():
        if screen != "error":
            continue
        model = build_screen(screen, params, "en", LAYOUTS["landscape"])
        (icon,) = [w for w in model.widgets if isinstance(w, Icon)]
        heading = next(w for w in model.widgets if isinstance(w, Label) and w.style == "alert")
        assert icon.name == "alert" and icon.rect[0] + icon.rect[2] <= heading.rect[0], stem
        assert icon.rect[1] < heading.rect[1] + heading.rect[3] and heading.rect[1] < icon.rect[1] + icon.rect[3]


def test_every_catalogue_entry_is_translated():
    english = catalogue("en")
    for lang in ("nl", "fr"):
        theirs = catalogue(lang)
        assert set(english) <= set(theirs), sorted(set(english) - set(theirs))
        assert all(theirs[msgid].strip() for msgid in english), lang
    for msgid in ("common.restart", "attract.audio", "attract.large_text", "attract.blind_hint", "help.keypad",
                  "hours.title", "hours.other_days_closed", "timeout.no_extension", "close_door.extend"):
        assert all(catalogue(lang).get(msgid) for lang in LANGUAGES), msgid
        if any(mark in catalogue("fr")[msgid] for mark in "?!:;"):  # French spacing: a no-break space before
            assert all(catalogue("fr")[msgid][i - 1] == "\u00a0" for i, c in enumerate(catalogue("fr")[msgid])
                       if c in "?!:;"), msgid


def test_french_puts_a_no_break_space_before_double_punctuation_everywhere():
    def wrong(text):
        return any(c in "?!:;" and text[i - 1] != "\u00a0" for i, c in enumerate(text) if i)

    plurals, _rule = i18n.plural_forms("fr")
    texts = {**catalogue("fr"), **{f"{msgid}[{i}]": form for msgid, forms in plurals.items()
                                   for i, form in enumerate(forms)}}
    assert not [msgid for msgid, text in texts.items() if wrong(text)]
    assert len(plurals["return_tags.count"]) == 3  # 0 and 1, millions, the rest


def test_the_gallery_shows_every_return_notice_and_both_locker_purposes():
    samples = list(sample_screens())
    assert {p.get("notice") for _, screen, p in samples if screen == "return_tags"} == {None, *TAG_NOTICES}
    for screen in ("locker_open", "close_door"):
        assert {p.get("purpose", "pickup") for _, name, p in samples if name == screen} == set(PURPOSES)
    counts = {(p["presented"], p["total"]) for _, screen, p in samples if screen == "return_tags"}
    assert any(a == 0 for a, _ in counts) and any(0 < a < b for a, b in counts) and any(a == b for a, b in counts)
    assert any(p["outstanding"] > 0 for _, screen, p in samples if screen == "return_done")


# ---- drawing: focus and touch feedback ----------------------------------------------------------


def test_keypad_focus_and_a_stray_touch_are_drawn():
    layout = LAYOUTS["landscape"]
    r = renderer(layout.width, layout.height)
    model = build_screen("attract", {}, "en", layout)
    x, y, w, h = model.button("pickup").rect
    ring = (x + w // 2, y - max(2, model.metrics.px(0.5)))  # just outside the button's top edge
    r.draw(model)
    plain = tuple(r.surface.get_at(ring))[:3]
    r.draw(model, focus="pickup")
    assert tuple(r.surface.get_at(ring))[:3] != plain == DEFAULT_PALETTE.background
    touch = (layout.width // 2, model.button("pickup").rect[1] - model.metrics.px(12))
    radius = model.metrics.px(6)
    r.draw(model, touch=touch)
    assert tuple(r.surface.get_at((touch[0] + radius - 1, touch[1])))[:3] == DEFAULT_PALETTE.touch_ring


# ---- the screenshot tool ----------------------------------------------------------------------


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.images = set(), set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and not attrs.get("href", "#").startswith("#"):
            self.links.add(attrs["href"])
        if tag == "img":
            self.images.add(attrs["src"])


def test_the_screenshot_tool_draws_pngs_and_a_contact_sheet_linking_each(tmp_path):
    out = tmp_path / "shots"
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "screenshots"), "--screens", "attract,help-door",
                             "--langs", "fr,nl", "--sizes", "normal,large", str(out)],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) == 2 * 2 * 2 * 2  # screens × languages × panels × text sizes
    for name in pngs:
        image = pygame.image.load(str(out / name))
        assert image.get_size() in ((1280, 800), (1080, 1920))
        colours = {tuple(image.get_at((x, y)))[:3] for x in range(0, image.get_width(), 16)
                   for y in range(0, image.get_height(), 16)}
        assert len(colours) > 3, name  # not blank
    sheet = _Links()
    sheet.feed((out / "index.html").read_text(encoding="utf-8"))
    assert sheet.links == set(pngs)
    assert sheet.images == {f"thumbs/{name}" for name in pngs}
    assert all((out / src).exists() for src in sheet.images)
