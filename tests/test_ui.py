"""The kiosk screens, rendered for real but headless: catalogue, theme, layout, touch path, side panel."""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import itertools  # noqa: E402

import pygame  # noqa: E402
import pytest  # noqa: E402

from kioskd.events import Key, Tap  # noqa: E402
from kioskd.ui.gallery import LAYOUTS, SAMPLE_LOCKERS, sample_screens  # noqa: E402
from kioskd.ui.messages import catalogue, translate  # noqa: E402
from kioskd.ui.model import Button, CodeDisplay, Icon, Label, LockerMap, Tally, overlaps  # noqa: E402
from kioskd.ui.render import NBSP, Renderer, font_path  # noqa: E402
from kioskd.ui.screens import ERROR_REASONS, NO_HELP_SCREENS, SCREENS, Layout, build_screen  # noqa: E402
from kioskd.ui.simpanel import SimAction, SimPanel  # noqa: E402
from kioskd.ui.theme import DEFAULT_PALETTE, MIN_TOUCH_MM, contrast_ratio, text_pairs  # noqa: E402
from kioskd.ui.touchscreen import Quit, TouchScreen  # noqa: E402

LANGS = ("nl", "fr", "en")
LANDSCAPE = LAYOUTS["landscape"]


@pytest.fixture(scope="module", autouse=True)
def fonts():
    pygame.font.init()
    yield


@pytest.fixture
def screen():
    ts = TouchScreen(LANDSCAPE, panel=SimPanel((1, 2, 3), ("R-1001",)))
    pygame.event.clear()
    yield ts
    ts.close()


def post(kind, **attrs):
    pygame.event.post(pygame.event.Event(kind, **attrs))


def click(ts, start, end=None):
    post(pygame.MOUSEBUTTONDOWN, pos=start, button=1)
    post(pygame.MOUSEBUTTONUP, pos=end or start, button=1)
    return ts.poll()


# ---- catalogue --------------------------------------------------------------------------------


def test_translate_fills_params_falls_back_to_english_and_rejects_unknown_ids():
    assert translate("nl", "locker.name", locker=4) == "Kluis 4"
    assert translate("xx", "attract.title") == "Welcome"
    with pytest.raises(KeyError):
        translate("en", "no.such.msgid")


@pytest.mark.parametrize("weight", ["regular", "bold"])
def test_every_character_in_the_catalogue_has_a_glyph_in_the_bundled_font(weight):
    font = pygame.font.Font(str(font_path(weight)), 40)
    missing = font.metrics("\ue000")[0]  # a private-use code point: the font's "missing" box
    assert font.metrics("✓")[0] == missing  # the probe can tell (the font has no check mark)
    chars = {c for lang in LANGS for text in catalogue(lang).values() for c in text.replace(NBSP, " ")}
    chars |= set("éèêëàâçôûïüÉÈÊÀÇ’«»–−…")  # Dutch and French accents and typography, in use or not
    assert not [c for c in sorted(chars) if c != " " and font.metrics(c)[0] in (None, missing)]


def test_the_bundled_font_is_atkinson_hyperlegible_under_the_open_font_licence():
    licence = (font_path("regular").parent / "OFL.txt").read_text(encoding="utf-8")
    assert "SIL OPEN FONT LICENSE Version 1.1" in licence and "Braille Institute" in licence
    assert font_path("bold").exists() and "Hyperlegible" in font_path("regular").name


def test_dutch_and_french_screens_really_differ_from_english():
    texts = {lang: build_screen("attract", {"qr_available": True}, lang, LANDSCAPE).texts() for lang in LANGS}
    for lang in ("nl", "fr"):
        changed = [a for a, b in zip(texts[lang], texts["en"], strict=True) if a != b]
        assert len(changed) >= 5, (lang, texts[lang])
    assert "Ophalen" in texts["nl"] and "Retirer" in texts["fr"] and "Collect" in texts["en"]


# ---- theme ------------------------------------------------------------------------------------


def test_contrast_ratio_follows_wcag():
    assert contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast_ratio((118, 118, 118), (255, 255, 255)) == pytest.approx(4.54, abs=0.01)


@pytest.mark.parametrize("name, fg, bg", text_pairs(DEFAULT_PALETTE), ids=lambda v: v if isinstance(v, str) else "")
def test_every_text_colour_pair_reaches_aaa_contrast(name, fg, bg):
    assert contrast_ratio(fg, bg) >= 7.0, name


# ---- every screen, every language, both layouts -----------------------------------------------


def check_geometry(model, layout):
    px_per_mm = model.metrics.px_per_mm
    widgets = [w for w in model.widgets if hasattr(w, "rect")]
    for w in widgets:
        x, y, width, height = w.rect
        assert x >= 0 and y >= 0 and x + width <= layout.width and y + height <= layout.height, w
        assert width > 0 and height > 0, w
    for a, b in itertools.combinations(widgets, 2):
        assert not overlaps(a.rect, b.rect), (model.screen, a, b)
    for button in model.buttons():
        assert min(button.rect[2:]) >= MIN_TOUCH_MM * px_per_mm - 1, button


@pytest.mark.parametrize("layout_name", sorted(LAYOUTS))
@pytest.mark.parametrize("stem, name, params", list(sample_screens()), ids=lambda v: v if isinstance(v, str) else "")
def test_screen_builds_renders_and_lays_out_cleanly(layout_name, stem, name, params):
    layout = LAYOUTS[layout_name]
    renderer = Renderer(pygame.Surface((layout.width, layout.height)))
    for lang in LANGS:
        model = build_screen(name, params, lang, layout)
        assert model.texts() and all(model.texts()), (stem, lang)
        check_geometry(model, layout)
        actions = [b.action for b in model.buttons()]
        assert actions[:3] == ["lang:nl", "lang:fr", "lang:en"]
        assert ("help" in actions) == (name not in NO_HELP_SCREENS)
        renderer.draw(model)


def test_gallery_covers_every_screen_and_error_reason():
    samples = list(sample_screens())
    assert {name for _, name, _ in samples} == set(SCREENS)
    assert {p["reason"] for _, name, p in samples if name == "error"} == set(ERROR_REASONS)


def test_missing_params_get_defaults_and_unknown_screen_is_refused():
    for name in SCREENS:
        assert build_screen(name, {}, "en", LANDSCAPE).texts()
    with pytest.raises(ValueError, match="unknown screen"):
        build_screen("lobby", {}, "en", LANDSCAPE)


def test_screen_specific_buttons():
    def actions(name, **params):
        return {b.action for b in build_screen(name, params, "en", LANDSCAPE).buttons()}

    assert {"pickup", "return"} <= actions("attract")
    assert "method:qr" in actions("method", qr_available=True)
    assert "method:qr" not in actions("method", qr_available=False)
    assert {f"digit:{d}" for d in range(10)} | {"erase", "ok", "back"} <= actions("pin", entered=0, length=8)
    assert "reopen" in actions("thanks", locker=3, can_reopen=True)
    assert "reopen" not in actions("thanks", locker=3, can_reopen=False)
    assert {"extend", "restart"} <= actions("timeout", seconds=15, extensions_left=1)
    assert "extend" not in actions("timeout", seconds=15, extensions_left=0)
    assert actions("checking") == actions("out_of_service") == {"lang:nl", "lang:fr", "lang:en"}
    service = {s for s in SCREENS if s.startswith("service_")}
    assert set(NO_HELP_SCREENS) == {"help", "checking", "out_of_service"} | service
    header = {"lang:nl", "lang:fr", "lang:en", "help"}
    assert actions("return_identify", qr_available=True) == header | {"method:pin", "back", "restart"}
    assert actions("return_tags", presented=0, total=2) == header | {"back", "restart"}
    assert actions("return_tags", presented=1, total=2) == header | {"continue", "back", "restart"}
    assert actions("return_done", returned=2, outstanding=0, locker=4) == header | {"done"}


def _return_tags(lang="en", **params):
    return build_screen("return_tags", {"presented": 0, "total": 3, "product": "", "notice": None, **params}, lang,
                        LANDSCAPE)


def test_return_identify_says_where_the_reader_is_and_offers_qr_only_with_a_camera():
    with_qr = build_screen("return_identify", {"qr_available": True}, "en", LANDSCAPE)
    without = build_screen("return_identify", {"qr_available": False}, "en", LANDSCAPE)
    place = translate("en", "return.reader_place")
    assert any(place in t for t in with_qr.texts())
    assert any("QR code" in t for t in with_qr.texts()) and not any("QR code" in t for t in without.texts())
    assert "tag" in [w.name for w in with_qr.widgets if isinstance(w, Icon)]
    assert with_qr.button("method:pin").label == "Enter a code"


def test_return_tags_counts_in_words_and_boxes():
    some = _return_tags(presented=1, total=3)
    assert "1 of 3 items recognised" in some.texts()
    assert "Hold the next item’s tag against the reader." in some.texts()
    (tally,) = [w for w in some.widgets if isinstance(w, Tally)]
    assert (tally.counted, tally.total, tally.boxes()) == (1, 3, "☑☐☐")
    assert "0 of 1 item recognised" in _return_tags(presented=0, total=1).texts()
    assert "0 van 1 voorwerp herkend" in _return_tags("nl", presented=0, total=1).texts()
    assert "2 sur 3 articles reconnus" in _return_tags("fr", presented=2, total=3).texts()
    done = _return_tags(presented=3, total=3)
    assert "All items recognised." in done.texts() and done.button("continue").style == "primary"
    first = _return_tags(presented=0, total=2)
    assert any(translate("en", "return.reader_place") in t for t in first.texts())
    # counts past what the flow could mean are clamped; too many items to draw are counted in words only
    assert "3 of 3 items recognised" in _return_tags(presented=9, total=3).texts()
    many = _return_tags(presented=25, total=40)
    assert "25 of 40 items recognised" in many.texts() and not [w for w in many.widgets if isinstance(w, Tally)]


def test_return_tags_notices_are_clear_and_not_colour_alone():
    wrong = _return_tags(presented=1, notice="wrong_tag")
    alert = next(w for w in wrong.widgets if isinstance(w, Label) and w.style == "alert")
    assert alert.text == "This tag does not belong to this loan."
    assert [w.name for w in wrong.widgets if isinstance(w, Icon)] == ["alert"]
    counted = _return_tags(presented=2, notice="already_counted")
    assert "This item was already counted." in counted.texts()
    assert [w.name for w in counted.widgets if isinstance(w, Icon)] == ["warning"]
    assert _return_tags(presented=1, notice="nonsense").texts() == _return_tags(presented=1).texts()


def test_return_tags_shows_the_product_when_the_flow_names_it():
    assert "Feestmateriaal" in _return_tags(presented=1, product="Feestmateriaal").texts()
    assert "" not in _return_tags(presented=1, product="").texts()


def test_the_tally_ticks_counted_boxes_so_the_count_is_seen_by_shape():
    model = _return_tags(presented=1, total=2)
    (tally,) = [w for w in model.widgets if isinstance(w, Tally)]
    renderer = Renderer(pygame.Surface((LANDSCAPE.width, LANDSCAPE.height)))
    renderer.draw(model)
    x, y, w, h = tally.rect
    ink, paper = DEFAULT_PALETTE.dot, DEFAULT_PALETTE.code_fill

    def share(half):  # of ink and of white paper among the pixels of one box's half of the row
        pixels = [tuple(renderer.surface.get_at((px, py)))[:3] for px in range(x + half * w // 2,
                                                                                 x + (half + 1) * w // 2)
                  for py in range(y, y + h)]
        return pixels.count(ink) / len(pixels), pixels.count(paper) / len(pixels)

    (ticked_ink, ticked_paper), (empty_ink, empty_paper) = share(0), share(1)
    assert ticked_ink > 0.4 and ticked_paper > 0.02  # a filled box with a white tick in it
    assert empty_ink < 0.2 and empty_paper > 0.4  # an outlined box, empty


def test_return_done_thanks_with_the_count_and_asks_for_the_rest():
    def texts(lang, **params):
        return build_screen("return_done", {"locker": 4, **params}, lang, LANDSCAPE).texts()

    assert "Thank you! You returned one item." in texts("en", returned=1, outstanding=0)
    assert "Thank you! You returned 2 items." in texts("en", returned=2, outstanding=1)
    assert "Please bring the other item back too." in texts("en", returned=2, outstanding=1)
    assert "Please bring the other 3 items back too." in texts("en", returned=1, outstanding=3)
    assert not any("bring" in t for t in texts("en", returned=3, outstanding=0))
    assert "Breng ook de andere 3 voorwerpen nog terug." in texts("nl", returned=1, outstanding=3)
    assert "Merci\u00a0! Vous avez rapporté 1 article." in texts("fr", returned=1, outstanding=0)
    assert "Veuillez aussi rapporter les 2 autres articles." in texts("fr", returned=1, outstanding=2)


@pytest.mark.parametrize("lang", LANGS)
def test_locker_screens_say_take_or_put_in_by_purpose(lang):
    def texts(screen, **params):
        return build_screen(screen, {"locker": 4, **params}, lang, LANDSCAPE).texts()

    take, place = translate(lang, "locker_open.take"), translate(lang, "locker_open.place")
    assert take in texts("locker_open") and take in texts("locker_open", purpose="pickup")
    assert place in texts("locker_open", purpose="return") and take not in texts("locker_open", purpose="return")
    assert texts("locker_open", purpose="nonsense") == texts("locker_open")
    title = translate(lang, "close_door.title", locker=4)
    assert title in texts("close_door", purpose="return") and title in texts("close_door")
    assert translate(lang, "close_door.place") in texts("close_door", purpose="return")
    assert texts("close_door", reminder=True, purpose="return") == texts("close_door", reminder=True)


def test_error_messages_are_specific():
    def text(**params):
        return " ".join(build_screen("error", params, "en", LANDSCAPE).texts())

    assert "Try again in 3 min" in text(reason="locked_out", locked_seconds=150)
    assert "Try again in 45 seconds" in text(reason="locked_out", locked_seconds=45)
    assert "locker 7 did not open" in text(reason="door_not_opened", locker=7)
    assert "eID card or itsme" in text(reason="strong_unavailable") and LANDSCAPE.contact in text(
        reason="strong_unavailable")
    assert "You have 2 tries left" in text(reason="card_wrong_pin", tries_left=2) and "Try again" in text(
        reason="card_wrong_pin", tries_left=2)
    assert text(reason="strong_required") == text(reason="internal")  # the flow no longer refuses this way
    assert "Tag not recognised" in text(reason="unknown_tag") and "Try again" in text(reason="unknown_tag")
    assert "Return not possible" in text(reason="nothing_to_return")
    assert "already been returned" in text(reason="nothing_to_return")
    assert "not been collected yet" in text(reason="not_on_loan")
    no_locker = text(reason="no_free_locker")
    assert "no free locker" in no_locker and LANDSCAPE.contact in no_locker and "Try again" not in no_locker
    assert text(reason="no_such_reason") == text(reason="internal")
    assert "Something went wrong" in text(reason="no_such_reason")


def test_locker_open_says_where_the_locker_is():
    texts = build_screen("locker_open", {"locker": 8, "retry": True}, "en", LANDSCAPE).texts()
    assert "Locker 8 is open" in texts
    assert any("Row 3 of 3" in t and "column 2" in t for t in texts)
    assert "We are trying again to open the door." in texts
    assert "Locker 8" in texts  # the map's only words: the highlighted locker


def test_code_display_shows_dots_never_digits():
    few = build_screen("pin", {"entered": 3, "length": 8}, "en", LANDSCAPE)
    more = build_screen("pin", {"entered": 4, "length": 8}, "en", LANDSCAPE)
    (display,) = [w for w in more.widgets if isinstance(w, CodeDisplay)]
    assert display.dots() == "●●●●○○○○"
    assert not any(c.isdigit() for c in display.dots())
    changed = [(a, b) for a, b in zip(few.texts(), more.texts(), strict=True) if a != b]
    assert changed == [("●●●○○○○○", "●●●●○○○○")]


def test_highlighted_locker_changes_the_pixels_there(tmp_path):
    renderer = Renderer(pygame.Surface((LANDSCAPE.width, LANDSCAPE.height)))
    model = build_screen("locker_open", {"locker": 5}, "en", LANDSCAPE)
    (locker_map,) = [w for w in model.widgets if isinstance(w, LockerMap)]
    x, y, w, h = renderer.locker_rects(locker_map, model.metrics)[5]
    probe = (x + 12, y + h // 2)  # inside the thick border, left of the number and the marker

    def colour_at(locker):
        renderer.draw(build_screen("locker_open", {"locker": locker}, "en", LANDSCAPE))
        path = tmp_path / f"open-{locker}.png"
        pygame.image.save(renderer.surface, str(path))
        return tuple(pygame.image.load(str(path)).get_at(probe))[:3]

    assert colour_at(5) == DEFAULT_PALETTE.highlight_fill
    assert colour_at(4) == DEFAULT_PALETTE.locker_fill


def test_layouts_count_rows_and_columns_from_one_whatever_the_config_uses():
    zero_based = Layout(1280, 800, tuple((n, r - 1, c - 1, s) for n, r, c, s in SAMPLE_LOCKERS))
    texts = build_screen("locker_open", {"locker": 1}, "en", zero_based).texts()
    assert any("Row 1 of 3" in t and "column 1" in t for t in texts)


# ---- the touch path ---------------------------------------------------------------------------


def test_press_and_release_on_a_button_is_a_tap(screen):
    screen.show("attract", {"qr_available": True})
    assert click(screen, screen.center_of("pickup")) == [Tap("pickup")]


def test_press_on_one_button_and_release_on_another_is_nothing(screen):
    screen.show("attract", {})
    assert click(screen, screen.center_of("pickup"), screen.center_of("return")) == []


def test_touch_events_use_normalised_coordinates_and_synthetic_mouse_copies_are_ignored(screen):
    screen.show("attract", {})
    x, y = screen.center_of("return")
    width, height = screen.window.get_size()
    post(pygame.FINGERDOWN, x=x / width, y=y / height, finger_id=0, touch_id=1, dx=0, dy=0, pressure=1)
    post(pygame.MOUSEBUTTONDOWN, pos=(x, y), button=1, touch=True)
    post(pygame.MOUSEBUTTONUP, pos=(x, y), button=1, touch=True)
    post(pygame.FINGERUP, x=x / width, y=y / height, finger_id=0, touch_id=1, dx=0, dy=0, pressure=0)
    assert screen.poll() == [Tap("return")]


def test_keys_map_to_actions_and_closing_the_window_quits(screen):
    for key in (pygame.K_7, pygame.K_KP3, pygame.K_RETURN, pygame.K_BACKSPACE, pygame.K_ESCAPE, pygame.K_a):
        post(pygame.KEYDOWN, key=key, mod=0, unicode="", scancode=0)
    post(pygame.QUIT)
    assert screen.poll() == [Key("7"), Key("3"), Key("enter"), Key("back"), Key("back"), Quit()]


def test_center_of_an_absent_button_names_the_buttons_on_screen(screen):
    screen.show("checking", {})
    with pytest.raises(KeyError, match="lang:nl"):
        screen.center_of("pickup")


def test_render_only_when_something_changed_and_show_the_press(screen):
    screen.show("attract", {})
    assert screen.render_if_dirty() is True
    assert screen.render_if_dirty() is False
    frames = screen.frames_drawn
    x, y, w, h = screen.model.button("pickup").rect
    probe = (x + w // 8, y + h // 2)
    before = screen.window.get_at(probe)
    post(pygame.MOUSEBUTTONDOWN, pos=(x + w // 2, y + h // 2), button=1)
    assert screen.poll() == []
    assert screen.render_if_dirty() is True
    assert screen.window.get_at(probe) != before  # pressed looks pressed
    assert screen.frames_drawn == frames + 1
    screen.set_language("fr")
    assert screen.language == "fr" and "Retirer" in screen.model.texts()
    assert screen.render_if_dirty() is True and screen.render_if_dirty() is False


def test_screenshot_writes_a_png_of_the_whole_window(screen, tmp_path):
    screen.show("pin", {"entered": 2, "length": 8})
    path = tmp_path / "pin.png"
    screen.screenshot(str(path))
    assert pygame.image.load(str(path)).get_size() == (LANDSCAPE.width + 360, LANDSCAPE.height)


# ---- the simulator's side panel ---------------------------------------------------------------


def test_simpanel_door_button_returns_its_action():
    panel = SimPanel((1, 2, 3), ("R-1001", "R-1002"))
    x, y = panel.center_of(SimAction("door", "3"))
    assert panel.handle_click(x, y) == SimAction("door", "3")
    assert panel.handle_click(*panel.center_of(SimAction("qr", None))) == SimAction("qr", None)
    assert panel.handle_click(*panel.center_of(SimAction("tag", "0A1B2C3D4E"))) == SimAction("tag", "0A1B2C3D4E")
    assert panel.handle_click(2, 2) is None


def test_simpanel_redraws_only_after_a_change():
    panel = SimPanel((1, 2), ())
    panel.draw(pygame.Surface((panel.width, 800)))
    assert panel.dirty is False
    panel.set_door(2, False)
    assert panel.dirty is False
    panel.set_relay(2, True)
    assert panel.dirty is True


def test_clicks_in_the_panel_area_come_back_as_panel_actions(screen):
    screen.render_if_dirty()
    px, py = screen.panel.center_of(SimAction("qr", "R-1001"))
    assert click(screen, (LANDSCAPE.width + px, py)) == [SimAction("qr", "R-1001")]
    screen.panel.set_door(1, True)
    assert screen.render_if_dirty() is True


def test_disabled_buttons_cannot_be_tapped():
    from kioskd.ui.model import ScreenModel

    model = ScreenModel("x", "en", (Button("ok", "OK", (0, 0, 100, 100), enabled=False),))
    assert model.button_at(50, 50) is None and model.button("ok") is not None


def test_staff_screens_send_the_flows_actions():
    from kioskd.ui.gallery import STAFF_ITEMS, STAFF_LOCKERS

    def actions(screen, **params):
        return {b.action for b in build_screen(screen, params, "en", LANDSCAPE).buttons()}

    header = {"lang:nl", "lang:fr", "lang:en", "help"}
    assert actions("staff_pin", entered=2) == header | {f"digit:{d}" for d in range(10)} | {"erase", "ok", "restart"}
    assert actions("staff_menu", name="An", to_load=2, to_collect=0) == header | {"load", "collect", "restart"}
    items = [dict(i) for i in STAFF_ITEMS]
    assert actions("staff_load", items=items, page=0, pages=2) == header | {
        "load:R-1001", "load:R-1002", "load:R-1003", "load:R-1004", "next", "back", "restart"}
    assert {"prev", "next"} <= actions("staff_load", items=items, page=1, pages=3)
    assert actions("staff_collect", lockers=list(STAFF_LOCKERS), page=1, pages=2) == header | {
        "take:4", "take:9", "take:1", "take:8", "prev", "back", "restart"}


def test_staff_screens_show_ids_names_sizes_and_confirmations_but_never_pin_digits():
    from kioskd.ui.gallery import STAFF_ITEMS

    load = build_screen("staff_load", {"items": [dict(STAFF_ITEMS[0])], "loaded": {"id": "R-9", "locker": 4}}, "nl",
                        LANDSCAPE)
    assert load.button("load:R-1001").label == "R-1001 · S (klein)\nZaalsleutel"
    assert "R-9 ligt in kluis 4." in load.texts() and "check" in [w.name for w in load.widgets if isinstance(w, Icon)]
    assert "Nothing is waiting to be loaded." in build_screen("staff_load", {"items": []}, "en", LANDSCAPE).texts()
    collect = build_screen("staff_collect", {"lockers": [{"locker": 4, "what": "returned", "id": "L-1"}],
                                             "emptied": 7}, "en", LANDSCAPE)
    assert collect.button("take:4").label == "Locker 4 · returned items (L-1)"
    assert "Locker 7 is empty again." in collect.texts()
    pin = build_screen("staff_pin", {"entered": 5}, "en", LANDSCAPE)
    assert "●●●●●○○○○○○○" in pin.texts()  # twelve places: the PIN's length is not shown either
    assert build_screen("staff_menu", {"name": "Griet", "to_load": 1, "to_collect": 2}, "en",
                        LANDSCAPE).button("load").label == "Load lockers\n1 order waiting"


def test_staff_lists_hold_the_flows_page_on_every_panel():
    from kioskd.ui.gallery import layout_variant
    from kioskd.ui.screens import staff_page_size

    for name in ("landscape", "portrait"):
        for size in ("normal", "large"):
            assert staff_page_size(layout_variant(name, size)) >= 2
    assert staff_page_size(layout_variant("portrait")) > staff_page_size(layout_variant("landscape", "large"))
