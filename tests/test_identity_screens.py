"""Strong identification's screens: the choice of proof, the eID card, itsme's QR code (scannable), the errors."""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import dataclasses  # noqa: E402
import re  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pygame  # noqa: E402
import pytest  # noqa: E402

from kioskd.drivers.qr_pipeline import DecodePipeline, PipelineSettings  # noqa: E402
from kioskd.events import Key, Tap  # noqa: E402
from kioskd.ui import qr  # noqa: E402
from kioskd.ui.gallery import LAYOUTS, SAMPLE_ITSME_QR, SAMPLE_ITSME_QR_LONG, sample_screens  # noqa: E402
from kioskd.ui.identity_screens import IDENTITY_REASONS, IDENTITY_RETRYABLE, STRONG_PICKUP_REASONS  # noqa: E402
from kioskd.ui.keypad import focus_order, navigate  # noqa: E402
from kioskd.ui.messages import translate  # noqa: E402
from kioskd.ui.model import Icon, QrCode  # noqa: E402
from kioskd.ui.prompts import screen_prompt  # noqa: E402
from kioskd.ui.render import Renderer  # noqa: E402
from kioskd.ui.screens import ERROR_REASONS, NO_BACK_SCREENS, build_screen, error_heading  # noqa: E402

LANGS = ("nl", "fr", "en")
LANDSCAPE, PORTRAIT = LAYOUTS["landscape"], LAYOUTS["portrait"]
PANELS = {f"{name}{'-96dpi' if dpi else ''}-{size}": dataclasses.replace(
    layout, large_text=size == "large", screen_mm=None if dpi else layout.screen_mm)
    for name, layout in LAYOUTS.items() for dpi in (False, True) for size in ("normal", "large")}
NEW_REASONS = (*STRONG_PICKUP_REASONS, *IDENTITY_REASONS)


@pytest.fixture(scope="module", autouse=True)
def fonts():
    pygame.font.init()
    yield


def px_per_mm(layout) -> float:
    return layout.metrics.px_per_mm


def the_code(model) -> QrCode:
    (code,) = [w for w in model.widgets if isinstance(w, QrCode)]
    return code


def frame_of(surface: pygame.Surface) -> np.ndarray:
    """The screen as a camera frame (BGR), as the kiosk's own decoder takes it."""
    rgb = pygame.surfarray.array3d(surface).transpose(1, 0, 2)
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)


# ---- itsme's QR code ----------------------------------------------------------------------------


@pytest.mark.parametrize("panel", sorted(PANELS))
@pytest.mark.parametrize("text", [SAMPLE_ITSME_QR, SAMPLE_ITSME_QR_LONG], ids=["short", "long"])
def test_the_itsme_code_is_at_least_35_mm_with_whole_pixels_per_module(panel, text):
    layout = PANELS[panel]
    for lang in LANGS:
        code = the_code(build_screen("itsme", {"qr": text}, lang, layout))
        x, y, w, h = code.rect
        n = qr.module_count(text)
        assert code.text == text and w == h and w % n == 0  # square, every module the same whole pixels
        assert w / px_per_mm(layout) >= qr.MIN_SIDE_MM, (panel, lang, w)
        assert w // n >= 2  # a module a phone can resolve


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_the_itsme_sample_screen_decodes_to_its_qr_text_with_the_kiosks_decoder(name):
    decoder = DecodePipeline(PipelineSettings(budget_ms=None))
    for stem, screen, params in sample_screens():
        if screen != "itsme" or not params["qr"]:
            continue
        for size in ("normal", "large"):
            layout = dataclasses.replace(LAYOUTS[name], large_text=size == "large")
            renderer = Renderer(pygame.Surface((layout.width, layout.height)))
            renderer.draw(build_screen(screen, params, "fr", layout))
            assert decoder.decode(frame_of(renderer.surface)) == [params["qr"]], (stem, name, size)
            decoder.forget()


def test_the_code_is_drawn_dark_on_light_with_its_quiet_zone_and_made_once():
    layout = LANDSCAPE
    renderer = Renderer(pygame.Surface((layout.width, layout.height)))
    model = build_screen("itsme", {"qr": SAMPLE_ITSME_QR}, "en", layout)
    renderer.draw(model)
    x, y, w, _h = the_code(model).rect
    module = w // qr.module_count(SAMPLE_ITSME_QR)
    quiet = [tuple(renderer.surface.get_at((x + i, y + j)))[:3] for i in range(0, qr.QUIET_ZONE_MODULES * module)
             for j in range(0, w, 7)]
    assert set(quiet) == {renderer.palette.qr_light}
    finder = tuple(renderer.surface.get_at((x + qr.QUIET_ZONE_MODULES * module, y + qr.QUIET_ZONE_MODULES * module)))
    assert finder[:3] == renderer.palette.qr_dark  # the top-left finder pattern's corner
    made = dict(renderer._qr_images)
    renderer.draw(model)
    renderer.draw(build_screen("itsme", {"qr": SAMPLE_ITSME_QR}, "nl", layout))
    assert renderer._qr_images.keys() == made.keys() and all(renderer._qr_images[k] is v for k, v in made.items())


def test_while_itsme_connects_there_is_no_code_and_the_screen_says_so():
    for lang in LANGS:
        model = build_screen("itsme", {"qr": ""}, lang, PORTRAIT)
        assert not [w for w in model.widgets if isinstance(w, QrCode)]
        assert translate(lang, "itsme.connecting") in model.texts()
        assert {"back", "restart", "help"} <= {b.action for b in model.buttons()}
    assert "Connecting to itsme…" in build_screen("itsme", {}, "en", LANDSCAPE).texts()


# ---- the choice, the card -----------------------------------------------------------------------


def test_the_choice_offers_only_the_proofs_available():
    def actions(**params):
        return {b.action for b in build_screen("prove", params, "en", LANDSCAPE).buttons()}

    assert {"prove:eid", "prove:itsme", "back", "restart"} <= actions(eid=True, itsme=True)
    assert "prove:itsme" not in actions(eid=True, itsme=False) and "prove:eid" in actions(eid=True, itsme=False)
    assert "prove:eid" not in actions(eid=False, itsme=True)
    texts = build_screen("prove", {"eid": True, "itsme": True}, "nl", PORTRAIT).texts()
    assert "Belgische eID-kaart" in texts and "itsme-app" in texts
    assert "Dit is een persoonlijk document. Bewijs wie u bent:" in texts


def test_the_keypad_reaches_the_proofs_first():
    model = build_screen("prove", {"eid": True, "itsme": True}, "fr", LANDSCAPE)
    order = [b.action for b in focus_order(model)]
    assert {"prove:eid", "prove:itsme"} <= set(order[:4])  # before the languages and help
    nav = navigate(Key("down"), model, "prove:eid", audio=True)
    assert nav.focus == "prove:itsme"
    assert navigate(Key("enter"), model, "prove:itsme", audio=True).events == (Tap("prove:itsme"),)


def test_the_card_screens():
    insert = build_screen("eid_insert", {}, "en", LANDSCAPE)
    assert "Insert your eID card in the card reader under the screen" in insert.texts()
    assert {"back", "restart", "help"} <= {b.action for b in insert.buttons()}
    assert "eid_reading" in NO_BACK_SCREENS
    plain = build_screen("eid_reading", {"pin_pad": False}, "en", LANDSCAPE)
    assert {b.action for b in plain.buttons()} == {"lang:nl", "lang:fr", "lang:en", "help"}
    assert "Do not remove the card." in plain.texts() and not any("PIN" in t for t in plain.texts())
    pad = build_screen("eid_reading", {"pin_pad": True}, "fr", LANDSCAPE).texts()
    assert "La borne ne voit jamais votre code PIN." in pad


# ---- the errors -------------------------------------------------------------------------------


def test_every_new_reason_has_words_a_heading_and_the_right_button():
    assert "strong_required" not in ERROR_REASONS and set(NEW_REASONS) <= set(ERROR_REASONS)
    for reason in NEW_REASONS:
        for lang in LANGS:
            model = build_screen("error", {"reason": reason}, lang, LANDSCAPE)
            texts = model.texts()
            assert translate(lang, error_heading(reason)) in texts, (reason, lang)
            assert [w.name for w in model.widgets if isinstance(w, Icon)] == ["alert"]
            ok = model.button("ok").label
            retry = translate(lang, "common.try_again")
            assert (ok == retry) == (reason in IDENTITY_RETRYABLE), (reason, lang)
            if reason not in IDENTITY_RETRYABLE:
                assert LANDSCAPE.contact in texts, reason  # whom to ask


def test_errors_never_say_whose_document_it_is():
    for lang in LANGS:
        text = " ".join(build_screen("error", {"reason": "identity_mismatch"}, lang, LANDSCAPE).texts())
        assert "eID" not in text and "itsme" not in text  # one wording for both proofs
    text = " ".join(build_screen("error", {"reason": "identity_mismatch"}, "en", LANDSCAPE).texts())
    assert "does not match this reservation" in text and "someone they authorised" in text


@pytest.mark.parametrize("lang,screen_words,spoken", [
    ("en", "Wrong card PIN. You have 2 tries left.", "Wrong card PIN. You have two tries left."),
    ("nl", "Foute pincode. U hebt nog 2 pogingen.", "Foute pincode. U hebt nog twee pogingen."),
    ("fr", "Code PIN incorrect. Il vous reste 2 essais.", "Code PIN incorrect. Il vous reste deux essais."),
])
def test_a_wrong_card_pin_shows_the_tries_left_and_says_them_in_words(lang, screen_words, spoken):
    params = {"reason": "card_wrong_pin", "tries_left": 2}
    texts = " ".join(build_screen("error", params, lang, LANDSCAPE).texts())
    assert screen_words in texts and translate(lang, "error.card_pin_warning") in texts
    for keys in (False, True):
        u = screen_prompt("error", params, lang, LANDSCAPE, keys=keys)
        assert spoken in u.text and not re.search(r"\d", u.text)
    assert u.prompt_id == "screen.error.card_wrong_pin.2.keys"
    one = screen_prompt("error", {"reason": "card_wrong_pin", "tries_left": 1}, "en", LANDSCAPE, keys=False)
    assert "You have one try left." in one.text
    unknown = build_screen("error", {"reason": "card_wrong_pin"}, "en", LANDSCAPE).texts()
    assert "Wrong card PIN." in unknown and any(t.startswith("After three wrong PINs") for t in unknown)


# ---- the card left in the reader ------------------------------------------------------------------


@pytest.mark.parametrize("screen", ["locker_open", "thanks"])
def test_the_card_left_in_the_reader_is_shown_and_said(screen):
    params = {"locker": 5, "can_reopen": True, "reopen_seconds": 60}
    for lang in LANGS:
        words = translate(lang, "locker.take_card")
        assert words in build_screen(screen, {**params, "take_card": True}, lang, LANDSCAPE).texts()
        assert words not in build_screen(screen, params, lang, LANDSCAPE).texts()
        said = screen_prompt(screen, {**params, "take_card": True}, lang, LANDSCAPE, keys=False)
        assert words in said.text and "take-card" in said.prompt_id
        assert words not in screen_prompt(screen, params, lang, LANDSCAPE, keys=False).text


# ---- what is said -----------------------------------------------------------------------------


def test_the_itsme_prompt_explains_the_app_and_the_card_and_never_says_the_code():
    for keys in (False, True):
        u = screen_prompt("itsme", {"qr": SAMPLE_ITSME_QR}, "en", LANDSCAPE, keys=keys)
        assert "smartphone" in u.text and "eID card" in u.text and "balie" not in u.text
        assert u.prompt_id == f"screen.itsme.code.{'keys' if keys else 'touch'}"
    assert "Minus goes back" in screen_prompt("itsme", {"qr": ""}, "en", LANDSCAPE, keys=True).text
    assert screen_prompt("itsme", {"qr": "other"}, "nl", LANDSCAPE, keys=False) == screen_prompt(
        "itsme", {"qr": SAMPLE_ITSME_QR}, "nl", LANDSCAPE, keys=False)  # one clip, whatever the code


def test_the_prompts_of_the_choice_and_the_card():
    both = screen_prompt("prove", {"eid": True, "itsme": True}, "fr", LANDSCAPE, keys=True)
    assert "carte eID belge" in both.text and "application itsme" in both.text and "Entrée" in both.text
    eid = screen_prompt("prove", {"eid": True, "itsme": False}, "en", LANDSCAPE, keys=False)
    assert "itsme" not in eid.text and eid.prompt_id == "screen.prove.eid.touch"
    pad = screen_prompt("eid_reading", {"pin_pad": True}, "nl", LANDSCAPE, keys=True)
    assert "toetsenbord van de kaartlezer" in pad.text and pad.prompt_id == "screen.eid_reading.pin-pad.keys"
    assert "chip first" in screen_prompt("eid_insert", {}, "en", LANDSCAPE, keys=False).text.lower()
