"""What the kiosk says: a prompt for every screen in every language, in words, never a digit."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

from kioskd.config import load_config
from kioskd.ui.layouts import layout_from_config
from kioskd.ui.model import Button
from kioskd.ui.prompt_set import all_prompts
from kioskd.ui.prompts import (
    SCREENS_WITH_PROMPTS,
    focus_prompt,
    hint_prompt,
    opening_hours_words,
    screen_prompt,
    spell_digits,
    where_words,
)
from kioskd.ui.screens import SCREENS

ROOT = Path(__file__).resolve().parent.parent
CONFIG = load_config(ROOT / "config" / "sim.toml")
LAYOUT = layout_from_config(CONFIG)
LANGS = ("nl", "fr", "en")
PROMPTS = list(all_prompts(CONFIG))


def test_every_screen_has_a_prompt_in_every_language_and_both_modes():
    """Every sample of every screen (the gallery's), in every language and both modes, has words to say."""
    from kioskd.ui.gallery import sample_screens

    assert set(SCREENS) == set(SCREENS_WITH_PROMPTS)
    samples = list(sample_screens())
    assert {screen for _, screen, _ in samples} == set(SCREENS)
    for _, screen, params in samples:
        for lang in LANGS:
            for keys in (False, True):
                u = screen_prompt(screen, params, lang, LAYOUT, keys=keys)
                assert u.text.strip() and u.lang == lang and not re.search(r"\d", u.text), (screen, lang)
                assert u.prompt_id.startswith(f"screen.{screen}.") and u.prompt_id.endswith(("touch", "keys"))


def test_the_citizen_screens_are_made_in_advance_and_staff_ones_on_first_use():
    made = {u.prompt_id.split(".")[1] for u in PROMPTS if u.prompt_id.startswith("screen.")}
    assert {s for s in SCREENS if not s.startswith(("staff_", "service_"))} <= made
    assert not {s for s in made if s.startswith(("staff_", "service_"))}  # technicians' prompts too


def test_prompts_are_words_in_their_language_and_never_contain_a_digit():
    assert len(PROMPTS) > 500
    for u in PROMPTS:
        assert u.text.strip(), u
        assert not re.search(r"\d", u.text), u  # numbers are spoken as words: no code can leak
        assert re.fullmatch(r"[a-z0-9_.-]+", u.prompt_id), u.prompt_id


def test_one_prompt_id_always_means_the_same_words():
    texts = defaultdict(set)
    for u in PROMPTS:
        texts[(u.prompt_id, u.lang)].add(u.text)
    assert all(len(v) == 1 for v in texts.values())
    by_text = defaultdict(set)
    for u in PROMPTS:
        by_text[u.prompt_id].add(u.lang)
    # the same prompt exists in every language, so a recording set is complete per language
    screen_ids = {pid for pid in by_text if pid.startswith(("screen.", "hint."))}
    assert all(by_text[pid] == set(LANGS) for pid in screen_ids)


def test_the_languages_really_differ():
    for screen in SCREENS:
        texts = {lang: screen_prompt(screen, {"locker": 4}, lang, LAYOUT, keys=False).text for lang in LANGS}
        assert len(set(texts.values())) == 3, texts


@pytest.mark.parametrize("lang,expected", [
    ("en", "Locker four is open, on the left, second row."),
    ("nl", "Kluis vier is open, links, tweede rij."),
    ("fr", "Le casier quatre est ouvert, à gauche, deuxième rangée."),
])
def test_an_open_locker_is_said_with_where_it_is(lang, expected):
    u = screen_prompt("locker_open", {"locker": 4}, lang, LAYOUT, keys=False)
    assert u.text.startswith(expected)
    assert u.prompt_id == "screen.locker_open.4.touch"


def test_where_words_follow_the_bank_layout():
    assert where_words(LAYOUT, 1, "en") == "on the left, top row"
    assert where_words(LAYOUT, 5, "en") == "in the middle, second row"
    assert where_words(LAYOUT, 9, "en") == "on the right, bottom row"
    assert where_words(LAYOUT, 99, "en") == ""


def test_belgian_french_counts_septante():
    u = screen_prompt("error", {"reason": "locked_out", "locked_seconds": 70 * 60}, "fr", LAYOUT, keys=False)
    assert "septante" in u.text


def test_the_code_screen_asks_for_the_length_in_words_and_the_keys_version_explains_privacy():
    touch = screen_prompt("pin", {"entered": 3, "length": 8}, "en", LAYOUT, keys=False)
    keys = screen_prompt("pin", {"entered": 5, "length": 8}, "en", LAYOUT, keys=True)
    assert "eight-digit" in touch.text and "touch OK" in touch.text
    assert "not spoken" in keys.text and "Enter" in keys.text
    # how many digits were typed changes nothing that is said
    assert keys == screen_prompt("pin", {"entered": 0, "length": 8}, "en", LAYOUT, keys=True)


def test_audio_mode_prompts_explain_the_keys_and_touch_prompts_do_not():
    for screen in ("attract", "method", "error", "help"):
        keys = screen_prompt(screen, {"reason": "unknown_code"}, "en", LAYOUT, keys=True).text
        touch = screen_prompt(screen, {"reason": "unknown_code"}, "en", LAYOUT, keys=False).text
        assert "Enter" in keys or "arrows" in keys, screen
        if screen != "help":  # help explains the keys to everyone
            assert keys != touch
    assert "hold down" in screen_prompt("attract", {}, "en", LAYOUT, keys=False).text


def test_help_speaks_contact_and_opening_hours():
    text = screen_prompt("help", {}, "nl", LAYOUT, keys=False).text
    assert "nul negen" in text  # the phone number, digit by digit
    assert "Maandag" in text and "van negen uur tot twaalf uur" in text


def test_opening_hours_group_days_with_equal_hours():
    hours = (("mon", ("09:00-12:00",)), ("tue", ("09:00-12:00",)), ("wed", ("09:00-12:00",)),
             ("fri", ("13:30-16:00",)))
    text = opening_hours_words(hours, "en")
    assert "Monday to Wednesday: from nine a.m. to twelve noon." in text
    assert "Friday: from one thirty p.m. to four p.m." in text
    assert "Thursday" not in text and ".." not in text
    assert "Du lundi au mercredi: de neuf heures à douze heures." in opening_hours_words(hours, "fr")
    assert "de treize heures trente à seize heures" in opening_hours_words(hours, "fr")
    assert "de vingt et une heures" in opening_hours_words((("sun", ("21:00-23:00",)),), "fr")
    assert opening_hours_words((), "en") == ""


def test_focus_on_a_language_button_is_said_in_that_language():
    u = focus_prompt(Button("lang:fr", "Français", (0, 0, 1, 1), "lang"), "nl")
    assert (u.prompt_id, u.lang, u.text) == ("focus.lang.fr", "fr", "Français")


def test_focus_on_a_toggle_says_its_state():
    on = focus_prompt(Button("audio", "Audio guide", (0, 0, 1, 1), selected=True), "en")
    off = focus_prompt(Button("audio", "Audio guide", (0, 0, 1, 1), selected=False), "en")
    assert on.text == "Audio guide, on" and off.text == "Audio guide, off"
    assert on.prompt_id != off.prompt_id


def test_numbers_in_labels_and_free_text_are_spelled():
    u = focus_prompt(Button("reopen", "Open locker 4 again", (0, 0, 1, 1)), "en")
    assert u.text == "Open locker four again" and u.prompt_id == "focus.reopen.4"
    assert spell_digits("Tel. 09 12", "en") == "Tel. zero nine one two"


def test_unknown_screens_and_hints_are_programming_errors():
    with pytest.raises(ValueError):
        screen_prompt("nope", {}, "en", LAYOUT, keys=False)
    with pytest.raises(ValueError):
        hint_prompt("nope", "en")
    assert hint_prompt("hold_five", "fr").text.startswith("Pour utiliser")


# ---- the return of loaned items ---------------------------------------------------------------


@pytest.mark.parametrize("lang,count", [("en", "Two of three items recognised."),
                                        ("nl", "Twee van drie voorwerpen herkend."),
                                        ("fr", "Deux sur trois articles reconnus.")])
def test_a_return_says_the_count_in_words_and_never_the_product(lang, count):
    params = {"presented": 2, "total": 3, "product": "Sleutel zaal 12", "notice": None}
    for keys in (False, True):
        u = screen_prompt("return_tags", params, lang, LAYOUT, keys=keys)
        assert count in u.text and not re.search(r"\d", u.text)
        assert "Sleutel" not in u.text and "sleutel" not in u.prompt_id  # shown on screen, never said
    assert u.prompt_id == "screen.return_tags.2-of-3.keys"
    one = screen_prompt("return_tags", {"presented": 0, "total": 1}, "en", LAYOUT, keys=False).text
    assert one.startswith("Zero of one item recognised.")


@pytest.mark.parametrize("lang,words", [("en", "This tag does not belong to this loan."),
                                        ("nl", "Dit label hoort niet bij deze uitlening."),
                                        ("fr", "Cette étiquette ne fait pas partie de ce prêt.")])
def test_a_tag_of_another_loan_is_said_first_and_nothing_about_whose_it_is(lang, words):
    u = screen_prompt("return_tags", {"presented": 1, "total": 3, "notice": "wrong_tag"}, lang, LAYOUT, keys=False)
    assert u.text.startswith(words) and u.prompt_id == "screen.return_tags.1-of-3.wrong_tag.touch"
    plain = screen_prompt("return_tags", {"presented": 1, "total": 3}, lang, LAYOUT, keys=False)
    assert u.text == f"{words} {plain.text}"
    counted = screen_prompt("return_tags", {"presented": 1, "total": 3, "notice": "already_counted"}, "en", LAYOUT,
                            keys=False)
    assert counted.text.startswith("This item was already counted.")


def test_the_return_prompts_tell_what_to_do_next():
    def text(presented, total, keys=False):
        return screen_prompt("return_tags", {"presented": presented, "total": total}, "en", LAYOUT, keys=keys).text

    assert "right of the screen" in text(0, 2) and "Put in a locker" not in text(0, 2)
    assert "next item" in text(1, 2) and "Touch Put in a locker" in text(1, 2)
    assert "All items recognised." in text(2, 2) and "Touch Put in a locker" in text(2, 2)
    assert "Choose Put in a locker" in text(2, 2, keys=True) and "Enter" in text(2, 2, keys=True)
    identify = screen_prompt("return_identify", {"qr_available": True}, "en", LAYOUT, keys=False).text
    assert "right of the screen" in identify and "Enter a code" in identify and "QR code" in identify
    assert "QR" not in screen_prompt("return_identify", {"qr_available": False}, "en", LAYOUT, keys=True).text


@pytest.mark.parametrize("lang,expected", [
    ("en", "Thank you! You returned two items. Please bring the other item back too."),
    ("nl", "Dank u wel! U hebt twee voorwerpen teruggebracht. Breng ook het andere voorwerp nog terug."),
    ("fr", "Merci ! Vous avez rapporté deux articles. Veuillez aussi rapporter l’autre article."),
])
def test_the_thanks_after_a_partial_return_asks_for_the_rest(lang, expected):
    u = screen_prompt("return_done", {"returned": 2, "outstanding": 1, "locker": 4}, lang, LAYOUT, keys=False)
    assert (u.text, u.prompt_id) == (expected, "screen.return_done.2-1.touch")
    done = screen_prompt("return_done", {"returned": 3, "outstanding": 0}, "en", LAYOUT, keys=False)
    assert done.text == "Thank you! You returned three items."


@pytest.mark.parametrize("lang,expected", [
    ("en", "Locker four is open, on the left, second row. Put the items in the locker and close the door."),
    ("nl", "Kluis vier is open, links, tweede rij. Leg de voorwerpen in de kluis en sluit de deur."),
    ("fr", "Le casier quatre est ouvert, à gauche, deuxième rangée. Déposez les articles dans le casier et "
           "refermez la porte."),
])
def test_a_locker_opened_for_a_return_says_to_put_the_items_in(lang, expected):
    u = screen_prompt("locker_open", {"locker": 4, "purpose": "return"}, lang, LAYOUT, keys=False)
    assert (u.text, u.prompt_id) == (expected, "screen.locker_open.4.return.touch")
    pickup = screen_prompt("locker_open", {"locker": 4, "purpose": "pickup"}, lang, LAYOUT, keys=False)
    assert pickup == screen_prompt("locker_open", {"locker": 4}, lang, LAYOUT, keys=False)
    assert pickup.prompt_id == "screen.locker_open.4.touch" and pickup.text != u.text
    door = screen_prompt("close_door", {"locker": 4, "purpose": "return"}, lang, LAYOUT, keys=False)
    assert door.prompt_id == "screen.close_door.4.return.touch"
    reminder = {"locker": 4, "reminder": True, "can_extend": True}
    assert (screen_prompt("close_door", {**reminder, "purpose": "return"}, lang, LAYOUT, keys=False)
            == screen_prompt("close_door", reminder, lang, LAYOUT, keys=False))  # the same words, the same clip


def test_the_return_errors_are_spoken():
    assert screen_prompt("error", {"reason": "unknown_tag"}, "en", LAYOUT, keys=False).text == (
        "Tag not recognised. This tag is not known. Try another item, or type your code.")
    no_locker = screen_prompt("error", {"reason": "no_free_locker"}, "fr", LAYOUT, keys=False).text
    assert no_locker.startswith("Problème de casier. Il n’y a pas de casier libre")


def test_return_prompts_are_made_in_advance_for_small_loans_and_every_locker():
    ids = {u.prompt_id for u in PROMPTS if u.lang == "en"}
    for total in (1, 2):
        for presented in range(total + 1):
            for notice in ("", ".wrong_tag", ".already_counted"):
                assert f"screen.return_tags.{presented}-of-{total}{notice}.touch" in ids
    assert {"screen.return_done.1-1.keys", "screen.return_done.2-0.touch"} <= ids
    for locker in (p[0] for p in LAYOUT.lockers):
        assert {f"screen.locker_open.{locker}.return.touch", f"screen.close_door.{locker}.return.keys"} <= ids
    assert {"screen.return_identify.qr.touch", "screen.return_identify.keys", "focus.continue"} <= ids


def test_staff_prompts_say_counts_never_ids_or_the_name():
    items = [{"id": "R-1001", "names": {"en": "Room key"}, "size": "S"}, {"id": "R-1002", "names": {"en": "Vouchers"}}]
    u = screen_prompt("staff_load", {"items": items, "page": 0, "pages": 1, "loaded": {"id": "R-7", "locker": 4}}, "en",
                      LAYOUT, keys=False)
    assert u.text.startswith("The item is in locker four. Waiting to be loaded. Two orders are waiting")
    assert "R-" not in u.text and "Room key" not in u.text
    menu = screen_prompt("staff_menu", {"name": "Griet", "to_load": 3, "to_collect": 0}, "nl", LAYOUT, keys=True)
    assert "Griet" not in menu.text and "Drie bestellingen" in menu.text
    ids = {u.prompt_id for u in PROMPTS if u.lang == "fr"}
    assert "screen.error.badge_refused.touch" in ids
    load = screen_prompt("locker_open", {"locker": 4, "purpose": "load"}, "fr", LAYOUT, keys=False)
    assert load.prompt_id == "screen.locker_open.4.load.touch" and "quatre" in load.text


def test_focus_on_a_staff_list_item_says_its_product_or_locker_not_its_id():
    from kioskd.ui.screens import build_screen

    model = build_screen("staff_load", {"items": [{"id": "R-1001", "names": {"fr": "Clé de salle"}, "size": "S"}]},
                         "fr", LAYOUT)
    u = focus_prompt(model.button("load:R-1001"), "fr")
    assert u.text == "Clé de salle, petit" and re.fullmatch(r"[a-z0-9_.-]+", u.prompt_id)
    model = build_screen("staff_collect", {"lockers": [{"locker": 12, "what": "expired", "id": "R-1002"}]}, "en",
                         LAYOUT)
    assert focus_prompt(model.button("take:12"), "en").text == "Locker twelve, expired pickup"
