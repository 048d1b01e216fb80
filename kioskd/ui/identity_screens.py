"""Strong identification: the screens that ask a citizen to prove who they are (Belgian eID card or itsme).

A personal document (a passport, a provisional driving licence) opens only for the person it is for, or
someone they authorised (``kioskd.flows.strong``). These screens follow the citizens' rules: three
languages, Back and Start over, help. Their failures are error reasons of the ``error`` screen; they say
what went wrong and what to do, never whose document it is, and the same words serve both proofs where
both can fail alike ("the identity you showed").

``itsme`` shows the town hall's QR code for the itsme app: a square of whole pixels per module, at least
35 mm across (``kioskd.ui.qr``), beside the words on a landscape panel and under them on a portrait one.
A card PIN is typed on the reader's own keypad and never reaches the kiosk, which says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kioskd.ui import qr
from kioskd.ui.frame import Block, Choice, FrameBuilder, Item, Text
from kioskd.ui.messages import N_
from kioskd.ui.model import Arrow, QrCode, Rect, Widget

__all__ = ["IDENTITY_BUILDERS", "IDENTITY_HEADINGS", "IDENTITY_REASONS", "IDENTITY_RETRYABLE", "IDENTITY_SCREENS",
           "IDENTITY_TEXTS", "STRONG_PICKUP_REASONS", "take_card_notice", "tries_left", "wrong_pin_text"]

IDENTITY_SCREENS = ("prove", "eid_insert", "eid_reading", "itsme")
PROOFS = (("eid", N_("prove.eid")), ("itsme", N_("prove.itsme")))

# reasons a strong reservation cannot be collected here at all: under "Collection not possible"
STRONG_PICKUP_REASONS = ("strong_unavailable", "identity_not_on_file")
# a proof that failed: under "Identity not confirmed" unless IDENTITY_HEADINGS says better
IDENTITY_REASONS = ("identity_mismatch", "card_forged", "card_unreadable", "card_expired", "card_wrong_pin",
                    "card_pin_blocked", "card_pin_cancelled", "itsme_rejected", "itsme_expired", "itsme_unavailable")
# another card, the card again, or the other proof can help: the button says "Try again" (back to the choice)
IDENTITY_RETRYABLE = ("identity_mismatch", "card_unreadable", "card_wrong_pin", "card_pin_cancelled",
                      "itsme_rejected", "itsme_expired", "itsme_unavailable")
IDENTITY_TEXTS = {
    "strong_unavailable": N_("error.strong_unavailable"), "identity_not_on_file": N_("error.identity_not_on_file"),
    "identity_mismatch": N_("error.identity_mismatch"), "card_forged": N_("error.card_forged"),
    "card_unreadable": N_("error.card_unreadable"), "card_expired": N_("error.card_expired"),
    "card_wrong_pin": N_("error.card_wrong_pin_any"), "card_pin_blocked": N_("error.card_pin_blocked"),
    "card_pin_cancelled": N_("error.card_pin_cancelled"), "itsme_rejected": N_("error.itsme_rejected"),
    "itsme_expired": N_("error.itsme_expired"), "itsme_unavailable": N_("error.itsme_unavailable"),
}
IDENTITY_HEADINGS = {"card_unreadable": N_("error.heading.card"), "card_wrong_pin": N_("error.heading.card_pin"),
                     "card_pin_blocked": N_("error.heading.card_blocked")}


def tries_left(params: Mapping) -> int | None:
    """The card PIN tries left after a wrong PIN (0 to 3), or None when the reader did not say."""
    value = params.get("tries_left")
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        tries = int(value)
    except ValueError:
        return None
    return tries if 0 <= tries <= 3 else None


def wrong_pin_text(b: FrameBuilder, params: Mapping) -> tuple[str, str]:
    """("Wrong card PIN. You have 2 tries left.", the warning that three wrong ones block the card)."""
    tries = tries_left(params)
    first = (b.t("error.card_wrong_pin_any") if tries is None
             else b.tn("error.card_wrong_pin", "error.card_wrong_pin.plural", tries, tries=tries))
    return first, b.t("error.card_pin_warning")


def take_card_notice(b: FrameBuilder, width: int) -> Block:
    """"Don't forget your eID card in the reader.": the locker screens' last words after an eID proof."""
    return b.icon_text("warning", b.t("locker.take_card"), "notice", width)


# ---- the screens ------------------------------------------------------------------------------


def _prove(b: FrameBuilder, p: Mapping) -> None:
    """eID card or itsme: only the proofs the kiosk can take right now (the flow skips a choice of one)."""
    b.header(help_button=True)
    b.nav_footer()
    area = b.content()
    choices = [Choice(f"prove:{name}", b.t(label)) for name, label in PROOFS if p.get(name)]
    b.stack(area, [Text(b.t("prove.title"), "heading"),
                   b.choices(choices, area[2]) if choices else Text(b.t("error.strong_unavailable"), "body"),
                   Text(b.t("prove.hint"), "hint", drop=1)])


def _eid_insert(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=True)
    b.nav_footer()
    b.stack(b.content(), [Text(b.t("eid_insert.title", place=b.t("eid.reader_place")), "heading"),
                          Text(b.t("eid_insert.how"), "body"),
                          Block(b.m.px(32), lambda r: Arrow(r, "down"))])


def _eid_reading(b: FrameBuilder, p: Mapping) -> None:
    """Transient, like "one moment": nothing to go back to while the card is read (help stays)."""
    b.header(help_button=True)
    items: list[Item] = [Text(b.t("eid_reading.title"), "title")]
    if p.get("pin_pad"):
        items += [Text(b.t("eid_reading.pin"), "heading"), Text(b.t("eid_reading.pin_private"), "body")]
    else:
        items.append(Text(b.t("eid_reading.keep"), "body"))
    b.stack(b.content(), items)


def _qr_block(b: FrameBuilder, text: str, room: int) -> Block:
    side = qr.side_px(text, b.m.px_per_mm, room)

    def make(rect: Rect) -> Widget:
        x, y, w, h = rect
        return QrCode((x + (w - side) // 2, y + (h - side) // 2, side, side), text)

    return Block(side, make)


def _itsme(b: FrameBuilder, p: Mapping) -> None:
    """The town hall's code for the itsme app, or "connecting" until it has come."""
    b.header(help_button=True)
    b.nav_footer()
    area = b.content()
    text = str(p.get("qr") or "")
    try:
        shown = bool(text) and qr.module_count(text) > 0
    except ValueError:  # a code too long to draw is as good as none: the flow's timer ends the wait
        shown = False
    if not shown:
        b.stack(area, [Text(b.t("itsme.connecting"), "title"), Text(b.t("itsme.wait"), "body")])
        return
    words: list[Item | None] = [Text(b.t("itsme.title"), "heading"), Text(b.t("itsme.confirm"), "body")]
    if b.layout.landscape:  # the words left, the code right, as large as the half allows
        text_area, code_area = b.split(area, 0.5)
        b.stack(text_area, words)
        b.stack(code_area, [_qr_block(b, text, min(code_area[2], code_area[3]))])
    else:  # the words above the code
        x, y, w, h = area
        need = b.plan(w, h // 2, words).total
        b.stack(area, [*words, _qr_block(b, text, min(w, h - need - 2 * b.m.gap))])


IDENTITY_BUILDERS: dict[str, Callable[[FrameBuilder, Mapping], None]] = {
    "prove": _prove, "eid_insert": _eid_insert, "eid_reading": _eid_reading, "itsme": _itsme,
}
