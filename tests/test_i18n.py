"""The gettext catalogues: complete in every language, in step with the code, compiled by Babel."""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kioskd import i18n
from kioskd.ui.messages import catalogue, translate

ROOT = Path(__file__).resolve().parent.parent
LANGS = ("nl", "fr", "en")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def test_the_kiosk_languages_each_have_a_catalogue():
    assert set(LANGS) <= set(i18n.available_languages())


def test_catalogues_match_the_code_and_every_entry_is_translated():
    """`tools/i18n check` extracts ids from the code with Babel and compares them with every .po."""
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "i18n"), "check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_check_notices_an_id_the_code_uses_but_no_catalogue_has(tmp_path):
    source = ROOT / "kioskd" / "ui" / "zz_probe_for_test.py"
    source.write_text('from kioskd.ui.messages import N_\n\nPROBE = N_("probe.only.in.code")\n')
    try:
        result = subprocess.run([sys.executable, str(ROOT / "tools" / "i18n"), "check"], capture_output=True,
                                text=True)
    finally:
        source.unlink()
    assert result.returncode == 1
    assert "nl: probe.only.in.code: missing" in result.stderr


@pytest.mark.parametrize("lang", LANGS)
def test_every_text_keeps_the_placeholders_of_the_english_one(lang):
    english = catalogue("en")
    for msgid, text in catalogue(lang).items():
        assert text.strip(), msgid
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(english[msgid])), (lang, msgid)


def test_babel_compiles_mo_files_that_gettext_reads(tmp_path, monkeypatch):
    locale = tmp_path / "locale"
    shutil.copytree(i18n.LOCALE_DIR, locale, ignore=shutil.ignore_patterns("*.mo"))
    monkeypatch.setattr(i18n, "LOCALE_DIR", locale)
    for lang in LANGS:
        target = i18n.compile_catalog(lang)
        assert target.exists()
        translations = gettext.translation(i18n.DOMAIN, localedir=locale, languages=[lang])
        assert translations.gettext("attract.pickup") == catalogue(lang)["attract.pickup"]
    assert gettext.translation(i18n.DOMAIN, localedir=locale, languages=["fr"]).gettext("attract.pickup") == "Retirer"


def test_a_stale_mo_is_not_trusted(tmp_path, monkeypatch):
    locale = tmp_path / "locale"
    shutil.copytree(i18n.LOCALE_DIR, locale, ignore=shutil.ignore_patterns("*.mo"))
    monkeypatch.setattr(i18n, "LOCALE_DIR", locale)
    i18n.compile_catalog("nl")
    po = i18n.po_path("nl")
    po.write_text(po.read_text(encoding="utf-8").replace('msgstr "Ophalen"', 'msgstr "Afhalen"'), encoding="utf-8")
    assert i18n.messages("nl")["attract.pickup"] == "Afhalen"


def test_a_broken_catalogue_is_reported_with_its_path(tmp_path, monkeypatch):
    locale = tmp_path / "locale"
    (locale / "nl" / "LC_MESSAGES").mkdir(parents=True)
    monkeypatch.setattr(i18n, "LOCALE_DIR", locale)
    with pytest.raises(i18n.CatalogueError, match="kioskd.po"):
        i18n.read_catalog("nl")


def test_translate_fills_params_falls_back_to_english_and_rejects_unknown_ids():
    assert translate("nl", "locker.name", locker=4) == "Kluis 4"
    assert translate("fr", "locker.name", locker=4) == "Casier 4"
    assert translate("xx", "attract.title") == "Welcome"
    with pytest.raises(KeyError):
        translate("en", "no.such.msgid")


@pytest.mark.parametrize("lang,one,many", [
    ("en", "The session ends in one second.", "The session ends in 14 seconds."),
    ("nl", "De sessie stopt over één seconde.", "De sessie stopt over 14 seconden."),
    ("fr", "La session se termine dans une seconde.", "La session se termine dans 14 secondes."),
])
def test_counts_take_the_languages_plural_forms(lang, one, many):
    from kioskd.ui.messages import translate_plural

    assert translate_plural(lang, "timeout.countdown", "timeout.countdown.plural", 1, seconds=1) == one
    assert translate_plural(lang, "timeout.countdown", "timeout.countdown.plural", 14, seconds=14) == many


def test_plural_entries_are_complete_and_keep_their_placeholders():
    for lang in LANGS:
        forms, rule = i18n.plural_forms(lang)
        assert {"timeout.countdown", "error.locked_out_seconds", "thanks.reopen_hint",
                "speech.locked_out_minutes"} <= set(forms)
        for msgid, texts in forms.items():
            assert all(t.strip() for t in texts), (lang, msgid)
            # the many-form names the number; the singular may say it in words ("une seconde")
            assert PLACEHOLDER.findall(texts[rule(5)]), (lang, msgid)
