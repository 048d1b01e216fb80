"""Build each kiosk screen as a ScreenModel: which words and buttons, for the parameters a flow sends.

Flows name a screen and pass facts (locker number, failure reason); the wording, and which buttons make
sense for those facts, are decided here so flows stay free of presentation. Where things go on the screen
is the frame's business (``kioskd.ui.frame``).

Every screen a citizen can leave has "Back" and "Start over" in the footer. The exceptions are the start
screen, the transient "one moment" screen, the two screens shown while a door stands open (the citizen
must take the item, or put the items in, and close the door, so there is nothing to go back to), the two
thank-you screens (after a pickup and after a return), the timeout warning (its own buttons are "More
time" and "Start over") and the out-of-service screen.

A locker is opened for one of two purposes, a pickup or a return; the two locker screens take a ``purpose``
parameter and say "take your item" or "put the items in" accordingly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from kioskd.ui.frame import Block, Choice, FrameBuilder, Item, Layout, Text, locker_position
from kioskd.ui.messages import N_
from kioskd.ui.model import Arrow, Button, CodeDisplay, LockerMap, Rect, ScreenModel, Tally, Widget
from kioskd.ui.theme import DOOR_ASPECT, SIZE_WEIGHT

__all__ = ["ERROR_REASONS", "NO_BACK_SCREENS", "SCREENS", "Layout", "build_screen", "locker_position"]

SCREENS = ("attract", "method", "pin", "scan", "checking", "locker_open", "close_door", "thanks", "error",
           "help", "timeout", "return_identify", "return_tags", "return_done", "out_of_service")
NO_BACK_SCREENS = ("attract", "checking", "locker_open", "close_door", "thanks", "timeout", "return_done",
                   "out_of_service")
PURPOSES = ("pickup", "return")  # what a locker is opened for (the locker screens' ``purpose``)
TAG_NOTICES = ("wrong_tag", "already_counted")  # what the return_tags screen says about the last tag read
MAX_TALLY = 20  # more items than this are counted in words only: the boxes would be too small to see

CODE_REASONS = ("unknown_code", "locked_out", "forged", "wrong_kiosk", "token_expired", "replayed", "malformed",
                "unknown_tag")
PICKUP_REASONS = ("expired", "already_collected", "cancelled", "not_ready", "strong_required")
RETURN_REASONS = ("nothing_to_return", "not_on_loan")
LOCKER_REASONS = ("door_not_opened", "locker_out_of_service", "no_free_locker")
ERROR_REASONS = CODE_REASONS + PICKUP_REASONS + RETURN_REASONS + LOCKER_REASONS + ("internal",)
# Where trying again can help, the button says so; elsewhere "Try again" would be a false promise.
RETRYABLE_REASONS = ("unknown_code", "forged", "malformed", "unknown_tag", "internal")
ERROR_TEXTS = {
    "unknown_code": N_("error.unknown_code"), "forged": N_("error.forged"), "wrong_kiosk": N_("error.wrong_kiosk"),
    "token_expired": N_("error.token_expired"), "replayed": N_("error.replayed"), "malformed": N_("error.malformed"),
    "expired": N_("error.expired"), "already_collected": N_("error.already_collected"),
    "cancelled": N_("error.cancelled"), "not_ready": N_("error.not_ready"),
    "strong_required": N_("error.strong_required"), "locker_out_of_service": N_("error.locker_out_of_service"),
    "internal": N_("error.internal"), "nothing_to_return": N_("error.nothing_to_return"),
    "not_on_loan": N_("error.not_on_loan"), "no_free_locker": N_("error.no_free_locker"),
    "unknown_tag": N_("error.unknown_tag"),
}
ERROR_HEADINGS = {"code": N_("error.heading.code"), "pickup": N_("error.heading.pickup"),
                  "return": N_("error.heading.return"), "locker": N_("error.heading.locker"),
                  "internal": N_("error.heading.internal")}
# a reason whose group's heading would not fit it: a tag is not a code
REASON_HEADINGS = {"unknown_tag": N_("error.heading.tag")}
TAG_NOTICE_TEXTS = {"wrong_tag": N_("return_tags.wrong_tag"), "already_counted": N_("return_tags.already_counted")}


def param_int(params: Mapping, key: str, default: int | None = None) -> int | None:
    """A whole-number screen parameter; missing or not a number gives ``default`` (screens never crash)."""
    value = params.get(key)
    try:
        return default if value is None else int(value)
    except (TypeError, ValueError):
        return default


def error_group(reason: str) -> str:
    """Which heading an error reason goes under: code, pickup, return, locker or internal."""
    return ("code" if reason in CODE_REASONS else "pickup" if reason in PICKUP_REASONS
            else "return" if reason in RETURN_REASONS else "locker" if reason in LOCKER_REASONS else "internal")


def error_heading(reason: str) -> str:
    """The message id of the heading shown and said above an error's text."""
    return REASON_HEADINGS.get(reason) or ERROR_HEADINGS[error_group(reason)]


def locker_purpose(params: Mapping) -> str:
    """What a locker screen opens the locker for; anything unknown is a pickup, the screens' old meaning."""
    value = params.get("purpose")
    return value if value in PURPOSES else "pickup"


def tag_notice(params: Mapping) -> str | None:
    value = params.get("notice")
    return value if value in TAG_NOTICES else None


# ---- the screens ------------------------------------------------------------------------------


def _attract(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=True)
    x, y, w, h = b.content()
    start = [Choice("pickup", b.t("attract.pickup")), Choice("return", b.t("attract.return"))]
    toggles = [Choice("audio", b.t("attract.audio"), "toggle", "speaker", bool(p.get("audio"))),
               Choice("large_text", b.t("attract.large_text"), "toggle", "text_size", bool(p.get("large_text")))]
    b.stack((x, y, w, h), [
        Text(b.t("attract.title"), "title"), Text(b.t("attract.subtitle"), "body", drop=1),
        b.choices(start, w), Text(b.t("attract.qr_hint"), "hint", drop=2) if p.get("qr_available") else None,
        b.choices(toggles, w, big=False), Text(b.t("attract.blind_hint"), "body")])


def _method(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=True)
    b.nav_footer()
    choices = [Choice("method:pin", b.t("method.pin"))]
    if p.get("qr_available"):
        choices.append(Choice("method:qr", b.t("method.qr")))
    area = b.content()
    b.stack(area, [Text(b.t("method.title"), "heading"), b.choices(choices, area[2])])


def _pad_size(b: FrameBuilder) -> tuple[int, int, int, int]:
    """(digit key width, key height, width of the Erase/OK column, whole pad width) at the preferred size.

    A portrait panel has room for larger keys than a landscape one, where the pad shares the width with
    the words.
    """
    m = b.m
    side = max(b.button_width(Choice("erase", b.t("pin.erase"), "secondary")),
               b.button_width(Choice("ok", b.t("pin.ok"))), m.px(32))
    key, key_h = (m.px(28), m.px(25)) if b.layout.landscape else (m.px(36), m.px(28))
    return key, key_h, side, 3 * key + 3 * m.gap + side


def _pad(b: FrameBuilder, area: Rect) -> list[Widget]:
    """The number pad as on a Belgian payment terminal: digits in telephone order, Erase and OK on the right."""
    m = b.m
    x, y, w, h = area
    key, key_h, side, _ = _pad_size(b)
    key = max(m.min_touch, min(key, (w - side - 3 * m.gap) // 3))
    key_h = max(m.min_touch, min(key_h, (h - 3 * m.gap) // 4))
    left = x + (w - (3 * key + 3 * m.gap + side)) // 2
    top = y + (h - (4 * key_h + 3 * m.gap)) // 2
    places = [(d, (d - 1) % 3, (d - 1) // 3) for d in range(1, 10)] + [(0, 1, 3)]
    keys: list[Widget] = [Button(f"digit:{d}", str(d), (left + col * (key + m.gap), top + row * (key_h + m.gap),
                                                         key, key_h), "digit") for d, col, row in places]
    side_x, tall = left + 3 * (key + m.gap), 2 * key_h + m.gap
    keys.append(Button("erase", b.t("pin.erase"), (side_x, top, side, tall), "secondary"))
    keys.append(Button("ok", b.t("pin.ok"), (side_x, top + tall + m.gap, side, tall), "primary"))
    return keys


def _pin(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=True)
    b.nav_footer()
    m = b.m
    length = max(1, param_int(p, "length", 8) or 8)
    entered = max(0, min(length, param_int(p, "entered", 0) or 0))
    code_h = m.px(20)

    def code(rect: Rect) -> Widget:
        x, y, w, _h = rect
        cw = min(w, length * m.px(14))
        return CodeDisplay((x + (w - cw) // 2, y, cw, code_h), entered, length)

    items: list[Item] = [Text(b.t("pin.instruction", length=length), "heading"), Block(code_h, code),
                         Text(b.t("pin.hint"), "hint", drop=1)]
    x, y, w, h = b.content()
    _key, key_h, _side, pad_w = _pad_size(b)
    if b.layout.landscape:  # the words left, the pad right
        pad_w = min(pad_w, w // 2)
        text_w = w - pad_w - 2 * m.gap
        b.stack((x, y, text_w, h), items)
        b.widgets.extend(_pad(b, (x + text_w + 2 * m.gap, y, pad_w, h)))
    else:  # the words above the pad, the two centred as one group
        b.stack((x, y, w, h), [*items, Block(4 * key_h + 3 * m.gap, lambda r: _pad(b, r))])


def _scan(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=True)
    b.nav_footer()
    b.stack(b.content(), [Text(b.t("scan.instruction"), "heading"), Text(b.t("scan.hint"), "body", drop=1),
                          Block(b.m.px(32), lambda r: Arrow(r, "down"))])


def _checking(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=False)
    b.stack(b.content(), [Text(b.t("checking.wait"), "title")])


def _locker_screen(b: FrameBuilder, locker: int | None, texts: list[Item]) -> None:
    """Words on one side, the bank of lockers with the door marked on the other."""
    area = b.content()
    if not b.layout.lockers:
        b.stack(area, texts)
        return
    name = b.t("locker.name", locker=locker) if locker is not None else ""

    def bank(rect: Rect) -> Widget:
        return LockerMap(rect, b.layout.lockers, locker, name, b.t("locker.open_marker"))

    if b.layout.landscape:
        text_area, map_area = b.split(area, 0.56)
        b.stack(text_area, texts)
        b.widgets.append(bank(map_area))
    else:  # the words above the drawing of the bank, which gets what they leave, up to its natural shape
        x, y, w, h = area
        need = b.plan(w, round(h * 0.6), texts).total
        b.stack(area, [*texts, Block(min(h - need - 4 * b.m.gap, _bank_height(b.layout, w)), bank)])


def _bank_height(layout: Layout, width: int) -> int:
    """The height the drawing of the bank takes at ``width`` (doors keep their shape; see the renderer)."""
    rows = {p[1]: max(SIZE_WEIGHT.get(str(q[3]).upper(), 1.0) for q in layout.lockers if q[1] == p[1])
            for p in layout.lockers}
    columns = len({p[2] for p in layout.lockers})
    return round(width / (columns * DOOR_ASPECT) * sum(rows.values()))


def _locker_open(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=True)
    locker = param_int(p, "locker", None)
    texts: list[Item] = [Text(b.t("locker_open.title", locker=locker if locker is not None else ""), "title")]
    where = locker_position(b.layout, locker) if locker is not None else None
    if where is not None:
        texts.append(Text(b.t("locker.where", row=where[0], rows=where[1], column=where[2]), "body"))
    returning = locker_purpose(p) == "return"
    texts.append(Text(b.t("locker_open.place") if returning else b.t("locker_open.take"), "body"))
    if p.get("retry"):
        texts.append(Text(b.t("locker_open.retry"), "notice"))
    _locker_screen(b, locker, texts)


def _close_door(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=True)
    locker = param_int(p, "locker", None)
    shown = locker if locker is not None else ""
    if p.get("reminder") and p.get("can_extend"):
        b.footer([], [Choice("extend", b.t("close_door.extend"))])
    width = b.content()[2] if not b.layout.landscape else b.split(b.content(), 0.56)[0][2]
    if p.get("reminder"):
        texts: list[Item] = [b.icon_text("warning", b.t("close_door.reminder", locker=shown), "alert", width)]
    else:
        texts = [Text(b.t("close_door.title", locker=shown), "heading")]
        if locker_purpose(p) == "return":
            texts.append(Text(b.t("close_door.place"), "body"))
    _locker_screen(b, locker, texts)


def _thanks(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=True)
    locker = param_int(p, "locker", None)
    can_reopen = bool(p.get("can_reopen")) and locker is not None
    left = [Choice("reopen", b.t("thanks.reopen", locker=locker), "secondary")] if can_reopen else []
    b.footer(left, [Choice("done", b.t("common.finish"))])
    items: list[Item] = [Text(b.t("thanks.title"), "title")]
    if can_reopen:
        seconds = param_int(p, "reopen_seconds", 60)
        items.append(Text(b.tn("thanks.reopen_hint", "thanks.reopen_hint.plural", seconds, seconds=seconds), "body"))
    b.stack(b.content(), items)


def _error_message(b: FrameBuilder, reason: str, p: Mapping) -> str:
    if reason == "locked_out":
        seconds = param_int(p, "locked_seconds", None)
        if seconds is None or seconds <= 0:
            return b.t("error.locked_out_later")
        if seconds < 60:
            return b.tn("error.locked_out_seconds", "error.locked_out_seconds.plural", seconds, seconds=seconds)
        return b.t("error.locked_out_minutes", minutes=math.ceil(seconds / 60))
    if reason == "door_not_opened":
        locker = param_int(p, "locker", None)
        return b.t("error.door_not_opened_any") if locker is None else b.t("error.door_not_opened", locker=locker)
    return b.t(ERROR_TEXTS[reason])


def _error(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=True)
    reason = str(p.get("reason") or "internal")
    if reason not in ERROR_REASONS:
        reason = "internal"
    label = b.t("common.try_again") if reason in RETRYABLE_REASONS else b.t("common.ok")
    b.nav_footer([Choice("ok", label)])
    area = b.content()
    items: list[Item] = [b.icon_text("alert", b.t(error_heading(reason)), "alert", area[2]),
                         Text(_error_message(b, reason, p), "body")]
    if reason not in RETRYABLE_REASONS and reason != "locked_out":
        items.append(b.contact())
    b.stack(area, items)


def _help(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=False)
    if p.get("at_door"):  # a released door must be settled before the session can end: only "back"
        b.footer([Choice("back", b.t("common.back"), "secondary")], [])
    else:
        b.nav_footer()
    locker = param_int(p, "locker", None)
    # the citizen's own problem first; the other tip gives way first when space is short, then the keypad
    tips = [Text(b.t("help.door"), "body"), Text(b.t("help.code"), "body", drop=2)]
    if p.get("reason") in CODE_REASONS:
        tips = [Text(b.t("help.code"), "body"), Text(b.t("help.door"), "body", drop=2)]
    area = b.content()
    width = b.split(area, 0.5)[1][2] if b.layout.landscape else area[2]
    first: list[Item | None] = [Text(b.t("help.title"), "title"),
                                Text(b.t("help.locker", locker=locker), "body") if locker is not None else None,
                                tips[0], tips[1], Text(b.t("help.keypad"), "body", drop=1)]
    b.columns(area, first, [b.contact(), *b.opening_hours(width)])


def _timeout(b: FrameBuilder, p: Mapping) -> None:
    seconds = param_int(p, "seconds", 15) or 0
    b.header(help_button=True)
    left = param_int(p, "extensions_left", 1) or 0
    choices = [Choice("extend", b.t("timeout.extend"))] if left > 0 else []
    choices.append(Choice("restart", b.t("common.restart"), "secondary"))
    area = b.content()
    b.stack(area, [b.icon_text("clock", b.t("timeout.title"), "title", area[2]),
                   Text(b.tn("timeout.countdown", "timeout.countdown.plural", seconds, seconds=seconds), "body"),
                   Text(b.t("timeout.no_extension"), "body") if left <= 0 else None,
                   b.choices(choices, area[2])])


def _return_identify(b: FrameBuilder, p: Mapping) -> None:
    """Which loan: an item's tag at the reader, the code from the loan message, or its QR code."""
    b.header(help_button=True)
    b.nav_footer()
    area = b.content()
    place = b.t("return.reader_place")
    b.stack(area, [Text(b.t("return.title"), "title", drop=2),  # the way to go on matters more than the title
                   b.icon_text("tag", b.t("return_identify.tag", place=place), "heading", area[2]),
                   Text(b.t("return_identify.code"), "body"),
                   Text(b.t("return_identify.qr"), "body", drop=1) if p.get("qr_available") else None,
                   b.choices([Choice("method:pin", b.t("method.pin"))], area[2])])


def _tally(b: FrameBuilder, presented: int, total: int) -> Block | None:
    """The boxes of the items, ticked as they are recognised (like the dots of the code screen)."""
    if not 1 <= total <= MAX_TALLY:
        return None
    m = b.m
    height = m.px(14)

    def make(rect: Rect) -> Widget:
        x, y, w, _h = rect
        tw = min(w, total * m.px(17))
        return Tally((x + (w - tw) // 2, y, tw, height), presented, total)

    return Block(height, make)


def _return_tags(b: FrameBuilder, p: Mapping) -> None:
    """Each item's tag counted against the loan; a partial return may go on to a locker."""
    b.header(help_button=True)
    total = max(0, param_int(p, "total", 0) or 0)
    presented = max(0, min(total, param_int(p, "presented", 0) or 0))
    notice = tag_notice(p)
    b.nav_footer()
    area = b.content()
    product = str(p.get("product") or "").strip()
    if notice == "wrong_tag":
        said: Item | None = b.icon_text("alert", b.t(TAG_NOTICE_TEXTS[notice]), "alert", area[2])
    elif notice == "already_counted":
        said = b.icon_text("warning", b.t(TAG_NOTICE_TEXTS[notice]), "subheading", area[2])
    else:
        said = None
    if presented >= total:
        next_step: list[Item | None] = [Text(b.t("return_tags.all"), "body")]
    elif presented == 0:
        next_step = [Text(b.t("return_tags.first", place=b.t("return.reader_place")), "body")]
    else:
        next_step = [Text(b.t("return_tags.next"), "body"), Text(b.t("return_tags.partial"), "hint", drop=1)]
    b.stack(area, [Text(product, "subheading", drop=2) if product else None,
                   Text(b.tn("return_tags.count", "return_tags.count.plural", total, presented=presented,
                             total=total), "heading"),
                   _tally(b, presented, total), said, *next_step,
                   b.choices([Choice("continue", b.t("return_tags.continue"))], area[2]) if presented >= 1 else None])


def _return_done(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=True)
    b.footer([], [Choice("done", b.t("common.finish"))])
    returned = max(0, param_int(p, "returned", 0) or 0)
    outstanding = max(0, param_int(p, "outstanding", 0) or 0)
    items: list[Item] = [Text(b.tn("return_done.title", "return_done.title.plural", returned, returned=returned),
                              "title")]
    if outstanding > 0:
        items.append(Text(b.tn("return_done.outstanding", "return_done.outstanding.plural", outstanding,
                               outstanding=outstanding), "body"))
    b.stack(b.content(), items)


def _out_of_service(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=False)
    area = b.content()
    width = b.split(area, 0.5)[0][2] if b.layout.landscape else area[2]
    first = [b.icon_text("warning", b.t("out_of_service.title"), "heading", width),
             Text(b.t("out_of_service.text"), "body")]
    b.columns(area, first, [b.contact(), *b.opening_hours(width)])


_BUILDERS: dict[str, Callable[[FrameBuilder, Mapping], None]] = {
    "attract": _attract, "method": _method, "pin": _pin, "scan": _scan, "checking": _checking,
    "locker_open": _locker_open, "close_door": _close_door, "thanks": _thanks, "error": _error, "help": _help,
    "timeout": _timeout, "return_identify": _return_identify, "return_tags": _return_tags,
    "return_done": _return_done, "out_of_service": _out_of_service,
}


def build_screen(screen: str, params: Mapping | None, lang: str, layout: Layout) -> ScreenModel:
    """The model of one screen; an unknown screen name is a programming error (ValueError)."""
    try:
        fill = _BUILDERS[screen]
    except KeyError:
        raise ValueError(f"unknown screen {screen!r}; known: {', '.join(SCREENS)}") from None
    builder = FrameBuilder(layout, lang)
    fill(builder, params or {})
    return builder.model(screen)
