"""The kiosk's words in Dutch, French and English, looked up from the gettext catalogues.

Texts live in ``kioskd/locale/<lang>/LC_MESSAGES/kioskd.po`` (see ``kioskd.i18n``); callers name a
text by its id, ``translate("nl", "locker.name", locker=4)``. Ids used with a computed name are
listed with ``N_`` so that extraction (``tools/i18n extract``) still finds them. French uses a
no-break space (U+00A0) before ``? ! : ;`` as French typography wants; the renderer keeps such a pair
on one line and draws it as an ordinary space.
"""

from __future__ import annotations

from functools import cache

from kioskd import i18n

DEFAULT_LANGUAGE = "en"

# Endonyms: a visitor looks for their own language's name, whatever language the screen is in.
LANGUAGE_NAMES: dict[str, str] = {"nl": "Nederlands", "fr": "Français", "en": "English", "de": "Deutsch"}


def N_(msgid: str) -> str:  # noqa: N802 - the gettext convention extraction looks for
    """Mark an id for extraction where it is used by a computed name; returns it unchanged."""
    return msgid


@cache
def catalogue(lang: str) -> dict[str, str]:
    """msgid → text of one language; an unknown language has an empty catalogue."""
    if lang not in i18n.available_languages():
        return {}
    return i18n.messages(lang)


def translate(lang: str, msgid: str, **params: object) -> str:
    """Look up and fill in a text; an id no catalogue knows is a programming error and raises KeyError.

    An unknown language, or a text missing from one language, falls back to English rather than
    failing, because a config typo must not leave a citizen in front of a blank screen.
    """
    text = catalogue(lang).get(msgid) or catalogue(DEFAULT_LANGUAGE)[msgid]
    return text.format(**params) if params else text


@cache
def _plurals(lang: str):
    if lang not in i18n.available_languages():
        return {}, (lambda n: int(n != 1))
    return i18n.plural_forms(lang)


def translate_plural(lang: str, msgid: str, plural_id: str, n: int, **params: object) -> str:
    """The form of ``msgid`` for the count ``n`` ("1 second", "2 seconds"), filled in like ``translate``.

    ``plural_id`` names the plural entry for extraction (gettext's msgid_plural); the forms and the rule
    choosing among them come from the language's catalogue, so French "0 seconde" and Dutch "0 seconden"
    are each right. A singular form may leave the number out ("une seconde") to get the gender right.
    """
    forms, rule = _plurals(lang)
    if msgid not in forms:
        forms, rule = _plurals(DEFAULT_LANGUAGE)
        if msgid not in forms:
            raise KeyError(msgid)
    chosen = forms[msgid]
    text = chosen[min(rule(n), len(chosen) - 1)]
    return text.format(n=n, **params)


def language_name(lang: str) -> str:
    """The name a speaker of ``lang`` would look for on the language buttons."""
    return LANGUAGE_NAMES.get(lang, lang.upper())
