"""Gettext catalogues for the kiosk's languages: where they live, how they are compiled and loaded.

The ``.po`` files under ``kioskd/locale/<lang>/LC_MESSAGES/`` are the source of truth, edited by
translators. Message ids name where a text is used (``attract.title``), not what it says, so a wording
change never breaks a caller; ``en.po`` holds the English wording like any other language. The build
(``tools/i18n compile``, run by ``make``) compiles them to ``.mo`` with Babel; a catalogue whose ``.mo``
is missing or older than its ``.po`` is compiled in memory at start, so a fresh checkout never shows ids.
"""

from __future__ import annotations

import gettext
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DOMAIN = "kioskd"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"


class CatalogueError(Exception):
    pass


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(lang: str) -> Path:
    return po_path(lang).with_suffix(".mo")


def available_languages() -> tuple[str, ...]:
    return tuple(sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")))


def read_catalog(lang: str):
    """The Babel catalogue of one language, as translators wrote it."""
    path = po_path(lang)
    try:
        with path.open("rb") as f:
            return read_po(f, locale=lang, domain=DOMAIN)
    except OSError as exc:
        raise CatalogueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CatalogueError(f"{path}: {exc}") from None


def compile_catalog(lang: str) -> Path:
    """Write ``<lang>.mo`` beside its ``.po``; fuzzy entries are left out, as gettext expects."""
    catalog = read_catalog(lang)
    target = mo_path(lang)
    with target.open("wb") as f:
        write_mo(f, catalog, use_fuzzy=False)
    return target


def load_translations(lang: str) -> gettext.GNUTranslations:
    """The compiled catalogue, from ``.mo`` when it is current, otherwise compiled from ``.po`` in memory."""
    po, mo = po_path(lang), mo_path(lang)
    try:
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            with mo.open("rb") as f:
                return gettext.GNUTranslations(f)
    except OSError:
        pass
    buffer = io.BytesIO()
    write_mo(buffer, read_catalog(lang), use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def messages(lang: str) -> dict[str, str]:
    """msgid → text for one language (the header entry and plural entries left out)."""
    catalog = load_translations(lang)._catalog  # noqa: SLF001 - gettext keeps its table here
    return {k: str(v) for k, v in catalog.items() if k and isinstance(k, str)}


def plural_forms(lang: str) -> tuple[dict[str, tuple[str, ...]], object]:
    """singular msgid → its forms, and the language's rule ``n → form index`` (from Plural-Forms)."""
    translations = load_translations(lang)
    catalog = translations._catalog  # noqa: SLF001
    forms: dict[str, list[tuple[int, str]]] = {}
    for key, text in catalog.items():
        if isinstance(key, tuple):
            forms.setdefault(key[0], []).append((key[1], str(text)))
    return {k: tuple(t for _, t in sorted(v)) for k, v in forms.items()}, translations.plural
