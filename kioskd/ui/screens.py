"""Build each kiosk screen as a ScreenModel: which words and buttons, for the parameters a flow sends.

Flows name a screen and pass facts (locker number, failure reason); the wording, and which buttons make
sense for those facts, are decided here so flows stay free of presentation. Where things go on the screen
is the frame's business (``kioskd.ui.frame``).

Every screen a citizen can leave has "Back" and "Start over" in the footer. The exceptions are the start
screen, the transient "one moment" screen, the two screens shown while a door stands open (the citizen
must take the item, or put the items in, and close the door, so there is nothing to go back to), the two
thank-you screens (after a pickup and after a return), the timeout warning (its own buttons are "More
time" and "Start over") and the out-of-service screen.

A locker is opened for a pickup or a return by a citizen, or for staff loading an item or taking
everything out; the two locker screens take a ``purpose`` parameter and word the task accordingly.

Staff screens (``staff_pin``, ``staff_menu``, ``staff_load``, ``staff_collect``) follow the citizens' rules:
three languages, the same targets, sizes and footer, "Start over" labelled "Log out" (or "Cancel" while
the PIN is typed). Reservation ids are shown on the buttons but never spoken: a button carries the words
the audio mode says for it instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import NamedTuple

from kioskd.ui.frame import Block, Choice, FrameBuilder, Item, Layout, Text, locker_position
from kioskd.ui.identity_screens import (
    IDENTITY_BUILDERS,
    IDENTITY_HEADINGS,
    IDENTITY_REASONS,
    IDENTITY_RETRYABLE,
    IDENTITY_SCREENS,
    IDENTITY_TEXTS,
    STRONG_PICKUP_REASONS,
    take_card_notice,
    wrong_pin_text,
)
from kioskd.ui.messages import N_
from kioskd.ui.model import Arrow, Button, CodeDisplay, LockerMap, Rect, ScreenModel, Tally, Widget
from kioskd.ui.theme import DOOR_ASPECT, SIZE_WEIGHT

__all__ = ["ERROR_REASONS", "IDENTITY_SCREENS", "NO_BACK_SCREENS", "NO_HELP_SCREENS", "SCREENS", "SERVICE_SCREENS",
           "Layout",
           "build_screen", "locker_position", "staff_page_size"]

# technician service mode (kioskd.flows.service); built in kioskd.ui.service_screens
SERVICE_SCREENS = ("service_home", "service_lockers", "service_locker", "service_confirm", "service_tests",
                   "service_rfid", "service_camera", "service_log")
SCREENS = ("attract", "method", "pin", "scan", "checking", "locker_open", "close_door", "thanks", "error",
           "help", "timeout", "return_identify", "return_tags", "return_done", "out_of_service",
           "staff_pin", "staff_menu", "staff_load", "staff_collect", *IDENTITY_SCREENS, *SERVICE_SCREENS)
NO_BACK_SCREENS = ("attract", "checking", "locker_open", "close_door", "thanks", "timeout", "return_done",
                   "out_of_service", "staff_pin", "staff_menu", "eid_reading", "service_home", "service_confirm")
# screens without a help button: help itself, the transient and out-of-service screens, and service mode
# (technicians have their manual; the header keeps only the languages)
NO_HELP_SCREENS = ("help", "checking", "out_of_service", *SERVICE_SCREENS)
# what a locker is opened for (the locker screens' ``purpose``): a citizen's pickup or return, staff loading
# an item or taking out what is in it (returned items, an expired pickup)
PURPOSES = ("pickup", "return", "load", "take_out")
STAFF_PAGE_SIZE = 4  # items per page of staff_load / staff_collect when the flow does not ask staff_page_size
SIZES = {"S": N_("staff.size.S"), "M": N_("staff.size.M"), "L": N_("staff.size.L")}
COLLECT_TEXTS = {"returned": N_("staff_collect.returned"), "expired": N_("staff_collect.expired")}
TAG_NOTICES = ("wrong_tag", "already_counted")  # what the return_tags screen says about the last tag read
PIN_PLACES = 12  # a staff PIN has 4 to 12 digits: twelve places, so the display does not tell its length
MAX_TALLY = 20  # more items than this are counted in words only: the boxes would be too small to see

CODE_REASONS = ("unknown_code", "locked_out", "forged", "wrong_kiosk", "token_expired", "replayed", "malformed",
                "unknown_tag", "badge_refused")
PICKUP_REASONS = ("expired", "already_collected", "cancelled", "not_ready", *STRONG_PICKUP_REASONS)
RETURN_REASONS = ("nothing_to_return", "not_on_loan")
LOCKER_REASONS = ("door_not_opened", "locker_out_of_service", "no_free_locker")
ERROR_REASONS = CODE_REASONS + PICKUP_REASONS + IDENTITY_REASONS + RETURN_REASONS + LOCKER_REASONS + ("internal",)
# Where trying again can help, the button says so; elsewhere "Try again" would be a false promise.
RETRYABLE_REASONS = ("unknown_code", "forged", "malformed", "unknown_tag", "internal", "badge_refused",
                     *IDENTITY_RETRYABLE)
ERROR_TEXTS = {
    "unknown_code": N_("error.unknown_code"), "forged": N_("error.forged"), "wrong_kiosk": N_("error.wrong_kiosk"),
    "token_expired": N_("error.token_expired"), "replayed": N_("error.replayed"), "malformed": N_("error.malformed"),
    "expired": N_("error.expired"), "already_collected": N_("error.already_collected"),
    "cancelled": N_("error.cancelled"), "not_ready": N_("error.not_ready"),
    "locker_out_of_service": N_("error.locker_out_of_service"),
    "internal": N_("error.internal"), "nothing_to_return": N_("error.nothing_to_return"),
    "not_on_loan": N_("error.not_on_loan"), "no_free_locker": N_("error.no_free_locker"),
    "unknown_tag": N_("error.unknown_tag"), "badge_refused": N_("error.badge_refused"), **IDENTITY_TEXTS,
}
ERROR_HEADINGS = {"code": N_("error.heading.code"), "pickup": N_("error.heading.pickup"),
                  "return": N_("error.heading.return"), "locker": N_("error.heading.locker"),
                  "identity": N_("error.heading.identity"), "internal": N_("error.heading.internal")}
# a reason whose group's heading would not fit it: a tag is not a code
REASON_HEADINGS = {"unknown_tag": N_("error.heading.tag"), "badge_refused": N_("error.heading.staff_pin"),
                   **IDENTITY_HEADINGS}
# what the citizen or staff member does at the open door; on the close-door screen, what must be done first
LOCKER_TASKS = {"pickup": N_("locker_open.take"), "return": N_("locker_open.place"), "load": N_("locker_open.load"),
                "take_out": N_("locker_open.take_out")}
CLOSE_TASKS = {"return": N_("close_door.place"), "load": N_("close_door.load"), "take_out": N_("close_door.take_out")}
TAG_NOTICE_TEXTS = {"wrong_tag": N_("return_tags.wrong_tag"), "already_counted": N_("return_tags.already_counted")}


def param_int(params: Mapping, key: str, default: int | None = None) -> int | None:
    """A whole-number screen parameter; missing or not a number gives ``default`` (screens never crash)."""
    value = params.get(key)
    try:
        return default if value is None else int(value)
    except (TypeError, ValueError):
        return default


def error_group(reason: str) -> str:
    """Which heading an error reason goes under: code, pickup, identity, return, locker or internal."""
    return ("code" if reason in CODE_REASONS else "pickup" if reason in PICKUP_REASONS
            else "identity" if reason in IDENTITY_REASONS else "return" if reason in RETURN_REASONS
            else "locker" if reason in LOCKER_REASONS else "internal")


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


def _code_block(b: FrameBuilder, entered: int, places: int, place_mm: float) -> Block:
    """The dots of a code being typed, centred, ``place_mm`` wide each: never the digits themselves."""
    code_h = b.m.px(20)

    def code(rect: Rect) -> Widget:
        x, y, w, _h = rect
        cw = min(w, places * b.m.px(place_mm))
        return CodeDisplay((x + (w - cw) // 2, y, cw, code_h), entered, places)

    return Block(code_h, code)


def _pin(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=True)
    b.nav_footer()
    length = max(1, param_int(p, "length", 8) or 8)
    entered = max(0, min(length, param_int(p, "entered", 0) or 0))
    items: list[Item] = [Text(b.t("pin.instruction", length=length), "heading"), _code_block(b, entered, length, 14),
                         Text(b.t("pin.hint"), "hint", drop=1)]
    _code_entry(b, items)


def _code_entry(b: FrameBuilder, items: list[Item]) -> None:
    """The words and the code display beside the number pad (landscape) or above it (portrait)."""
    m = b.m
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


def _text_width(b: FrameBuilder) -> int:
    """The width the words of a locker screen get: beside the bank on a landscape panel, all of it on portrait."""
    return b.split(b.content(), 0.56)[0][2] if b.layout.landscape else b.content()[2]


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
        # the drawing of the bank shows it too: the line gives way when a card reminder needs the room
        texts.append(Text(b.t("locker.where", row=where[0], rows=where[1], column=where[2]), "body", drop=1))
    texts.append(Text(b.t(LOCKER_TASKS[locker_purpose(p)]), "body"))
    if p.get("retry"):
        texts.append(Text(b.t("locker_open.retry"), "notice"))
    if p.get("take_card"):
        texts.append(take_card_notice(b, _text_width(b)))
    _locker_screen(b, locker, texts)


def _close_door(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=True)
    locker = param_int(p, "locker", None)
    shown = locker if locker is not None else ""
    if p.get("reminder") and p.get("can_extend"):
        b.footer([], [Choice("extend", b.t("close_door.extend"))])
    if p.get("reminder"):
        texts: list[Item] = [b.icon_text("warning", b.t("close_door.reminder", locker=shown), "alert",
                                         _text_width(b))]
    else:
        texts = [Text(b.t("close_door.title", locker=shown), "heading")]
        task = CLOSE_TASKS.get(locker_purpose(p))
        if task is not None:
            texts.append(Text(b.t(task), "body"))
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
    if p.get("take_card"):
        items.insert(1, take_card_notice(b, b.content()[2]))
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
    items: list[Item] = [b.icon_text("alert", b.t(error_heading(reason)), "alert", area[2])]
    if reason == "card_wrong_pin":  # the tries left stand out from the warning under them
        items += [Text(text, style) for text, style in zip(wrong_pin_text(b, p), ("subheading", "body"), strict=True)]
    else:
        items.append(Text(_error_message(b, reason, p), "body"))
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


# ---- staff ------------------------------------------------------------------------------------


def _staff_footer(b: FrameBuilder, *, back: bool = True) -> None:
    """"Back" to the staff menu and "Log out" (the session's "restart") on the left."""
    left = [Choice("back", b.t("common.back"), "secondary")] if back else []
    b.footer([*left, Choice("restart", b.t("staff.logout"), "secondary")])


def _staff_pin(b: FrameBuilder, p: Mapping) -> None:
    """A badge was presented: its PIN on the number pad. The PIN's length is not shown: twelve places."""
    b.header(help_button=True)
    b.footer([Choice("restart", b.t("staff.cancel"), "secondary")])
    entered = max(0, min(PIN_PLACES, param_int(p, "entered", 0) or 0))
    _code_entry(b, [Text(b.t("staff_pin.title"), "heading"), _code_block(b, entered, PIN_PLACES, 12),
                    Text(b.t("staff_pin.hint"), "hint", drop=1)])


def _staff_menu(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=True)
    _staff_footer(b, back=False)
    to_load = max(0, param_int(p, "to_load", 0) or 0)
    to_collect = max(0, param_int(p, "to_collect", 0) or 0)
    name = str(p.get("name") or "").strip()
    load = "{}\n{}".format(b.t("staff_menu.load"),
                           b.tn("staff_menu.waiting", "staff_menu.waiting.plural", to_load, count=to_load))
    collect = "{}\n{}".format(b.t("staff_menu.collect"),
                              b.tn("staff_menu.to_empty", "staff_menu.to_empty.plural", to_collect,
                                   count=to_collect))
    area = b.content()
    b.stack(area, [Text(b.t("staff_menu.hello", name=name) if name else b.t("staff_menu.hello_anonymous"), "title"),
                   b.choices([Choice("load", load), Choice("collect", collect)], area[2])])


class _Row(NamedTuple):
    action: str
    label: str
    speech: str
    name: str = ""  # the part of the label that may be shortened to fit


def _staff_columns(layout: Layout) -> int:
    return 2 if layout.landscape else 1


def _list_geometry(b: FrameBuilder, width: int) -> tuple[int, int, int]:
    """(columns, column width, smallest row height) of the staff lists."""
    columns = _staff_columns(b.layout)
    col_w = (width - b.m.gap * (columns - 1)) // columns
    return columns, col_w, max(b.m.bar_height, b.m.px(24))


def _smallest(b: FrameBuilder) -> int:
    """The smallest size the renderer may set a row's label at: its capitals still at the style's minimum."""
    weight, size, floor = b.type.sizes(b.m, "button")
    smallest = size  # going down from the full size: capitals of rounded sizes do not always shrink in step
    while smallest - 1 >= floor and b.type.cap_height(weight, smallest - 1) >= b.m.min_cap_px("button"):
        smallest -= 1
    return smallest


def _row_height(b: FrameBuilder, labels: list[str], width: int) -> int:
    """One height for all rows: ``ROW_LINES`` lines, or more for a label that needs them at its smallest size.

    The renderer sets a label a little smaller (never below the style's minimum) when that keeps it to
    the lines its box holds.
    """
    _columns, col_w, minimum = _list_geometry(b, width)
    weight, size, _floor = b.type.sizes(b.m, "button")
    floor = _smallest(b)
    room = col_w - b._chrome(Choice("x", "x"))
    lines = max([ROW_LINES, *(len(b.type.wrap(label, weight, floor, room)) for label in labels)])
    return max(minimum, lines * b.type.line_height(size) + 2 * b.m.padding_v)


def _rows_block(b: FrameBuilder, rows: list[_Row], width: int) -> Block:
    """One button per item, a column on a portrait panel and two on a landscape one, all of one height."""
    m = b.m
    columns, col_w, _minimum = _list_geometry(b, width)
    row_h = _row_height(b, [r.label for r in rows], width)
    lines = math.ceil(len(rows) / columns)
    between = m.gap

    def make(rect: Rect) -> list[Widget]:
        x, y, w, _h = rect
        return [Button(r.action, r.label, (x + (i % columns) * (col_w + m.gap), y + (i // columns) * (row_h + between),
                                           col_w, row_h), "primary", speech=r.speech) for i, r in enumerate(rows)]

    return Block(lines * row_h + (lines - 1) * between, make)


def _paging(b: FrameBuilder, page: int, pages: int) -> list[Choice]:
    """"Previous" and "Next" in the footer, on the right as the main actions, each only where it leads."""
    if pages <= 1:
        return []
    choices = []
    if page > 0:
        choices.append(Choice("prev", b.t("staff.prev"), "secondary"))
    if page < pages - 1:
        choices.append(Choice("next", b.t("staff.next"), "secondary"))
    return choices


def _staff_list(b: FrameBuilder, p: Mapping, title: str, rows: list[_Row], done: str | None, empty: str,
                hint: str | None = None) -> None:
    b.header(help_button=True)
    pages = max(1, param_int(p, "pages", 1) or 1)
    page = max(0, min(pages - 1, param_int(p, "page", 0) or 0))
    paging = _paging(b, page, pages)
    # a landscape panel is short: "Previous" and "Next" go in the footer, right, as the main actions; a
    # portrait one is narrow: they go under the list, where there is room
    in_footer = b.layout.landscape
    b.footer([Choice("back", b.t("common.back"), "secondary"), Choice("restart", b.t("staff.logout"), "secondary")],
             paging if in_footer else [])
    area = b.content()
    width = area[2]
    if pages > 1:
        title = "{}\u00a0· {}".format(title, b.t("staff.page", page=page + 1, pages=pages))
    b.stack(area, [Text(title, "heading"),
                   b.icon_text("check", done, "subheading", width) if done else None,
                   _rows_block(b, _fitted(b, rows, width), width) if rows else Text(empty, "body"),
                   b.choices(paging, width, big=False) if paging and not in_footer else None,
                   Text(hint, "hint", drop=1) if hint else None])


ROW_LINES = 2  # an item's button holds at most this many lines; a longer product name is shortened with "…"


def _fitted(b: FrameBuilder, rows: list[_Row], width: int) -> list[_Row]:
    """Rows whose labels wrap into ``ROW_LINES`` lines on their buttons, long names cut at a word with "…"."""
    _columns, col_w, _minimum = _list_geometry(b, width)
    room = col_w - b._chrome(Choice("x", "x"))
    weight, _size, _floor = b.type.sizes(b.m, "button")
    floor = _smallest(b)

    def fits(label: str) -> bool:  # at the smallest size the renderer may set it
        lines = b.type.wrap(label, weight, floor, room)
        return len(lines) <= ROW_LINES and max(b.type.width(weight, floor, line) for line in lines) <= room

    fitted = []
    for row in rows:
        label = row.label
        if not fits(label) and row.name:
            words = row.name.split(" ")
            while len(words) > 1:
                words.pop()
                label = row.label.replace(row.name, " ".join(words).rstrip(",;: ") + "…")
                if fits(label):
                    break
        fitted.append(row._replace(label=label))
    return fitted


def _mappings(value: object) -> list[Mapping]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list | tuple) else []


def product_name(item: Mapping, lang: str) -> str:
    """The product's name in ``lang``, else in English, else in any language the backend sent."""
    names = item.get("names")
    if isinstance(names, Mapping):
        found = names.get(lang) or names.get("en") or next((v for v in names.values() if v), "")
        return str(found).strip()
    return str(names or item.get("name") or "").strip()


def size_words(b: FrameBuilder, item: Mapping) -> tuple[str, str]:
    """("S (small)", "small"): the letter staff know from the lockers, and a word so the letter is not alone."""
    size = str(item.get("size") or "").strip().upper()
    if size not in SIZES:
        return "", ""
    word = b.t(SIZES[size])
    return f"{size} ({word})", word


def staff_load_rows(b: FrameBuilder, items: list[Mapping]) -> list[_Row]:
    rows = []
    for item in items:
        rid = str(item.get("id") or "").strip()
        if not rid:
            continue
        name = product_name(item, b.lang)
        size, word = size_words(b, item)
        rows.append(_Row(f"load:{rid}", "\n".join(x for x in (" · ".join(x for x in (rid, size) if x), name) if x),
                         ", ".join(x for x in (name or b.t("staff_load.item"), word) if x), name))
    return rows


def _staff_load(b: FrameBuilder, p: Mapping) -> None:
    loaded = p.get("loaded")
    done = None
    if isinstance(loaded, Mapping) and param_int(loaded, "locker") is not None:
        done = b.t("staff_load.loaded", id=str(loaded.get("id") or "").strip() or "?",
                   locker=param_int(loaded, "locker"))
    _staff_list(b, p, b.t("staff_load.title"), staff_load_rows(b, _mappings(p.get("items"))), done,
                b.t("staff_load.empty"), b.t("staff_load.qr_hint"))


def staff_collect_rows(b: FrameBuilder, lockers: list[Mapping]) -> list[_Row]:
    rows = []
    for entry in lockers:
        locker = param_int(entry, "locker")
        if locker is None:
            continue
        what = b.t(COLLECT_TEXTS.get(str(entry.get("what")), N_("staff_collect.other")))
        ident = str(entry.get("id") or "").strip()
        name = b.t("locker.name", locker=locker)
        rows.append(_Row(f"take:{locker}", f"{name} · {what}" + (f" ({ident})" if ident else ""),
                         f"{name}, {what}"))
    return rows


def _staff_collect(b: FrameBuilder, p: Mapping) -> None:
    emptied = param_int(p, "emptied")
    done = b.t("staff_collect.emptied", locker=emptied) if emptied is not None else None
    _staff_list(b, p, b.t("staff_collect.title"), staff_collect_rows(b, _mappings(p.get("lockers"))), done,
                b.t("staff_collect.empty"))


def staff_page_size(layout: Layout) -> int:
    """How many items staff_load and staff_collect show per page on ``layout`` (with its text size).

    Counted for rows of two-line labels (longer product names are shortened), with the heading and a
    confirmation shown (the hint gives way), in the language whose words take the most room; 2 to 12.
    """
    fits = []
    for lang in layout.languages or ("en",):
        b = FrameBuilder(layout, lang)
        b.header(help_button=True)
        paging = _paging(b, 1, 3)
        b.footer([Choice("back", b.t("common.back"), "secondary"),
                  Choice("restart", b.t("staff.logout"), "secondary")], paging if layout.landscape else [])
        _x, _y, width, height = b.content()
        m = b.m
        if not layout.landscape:
            height -= b.choices(paging, width, big=False).height + m.gap
        columns, col_w, minimum = _list_geometry(b, width)
        row_h = _row_height(b, [], width)
        page = b.t("staff.page", page=10, pages=10)
        heading = max(b.text_height(f"{b.t(t)}\u00a0· {page}", "heading", width)
                      for t in ("staff_load.title", "staff_collect.title"))
        done = b.icon_text("check", b.t("staff_load.loaded", id="R-000000", locker=88), "subheading", width).height
        used = heading + done + 2 * m.gap  # the hint gives way when the list needs its room
        fits.append(((height - used) // (row_h + m.gap)) * columns)
    return max(2, min(12, min(fits)))


_BUILDERS: dict[str, Callable[[FrameBuilder, Mapping], None]] = {
    "attract": _attract, "method": _method, "pin": _pin, "scan": _scan, "checking": _checking,
    "locker_open": _locker_open, "close_door": _close_door, "thanks": _thanks, "error": _error, "help": _help,
    "timeout": _timeout, "return_identify": _return_identify, "return_tags": _return_tags,
    "return_done": _return_done, "out_of_service": _out_of_service, "staff_pin": _staff_pin,
    "staff_menu": _staff_menu, "staff_load": _staff_load, "staff_collect": _staff_collect,
}


def _service_screen(screen: str) -> Callable[[FrameBuilder, Mapping], None]:
    """A service screen's builder, looked up in ``kioskd.ui.service_screens`` when first built.

    That module builds on the helpers above, so it is imported on use rather than here (no import cycle).
    """
    def fill(b: FrameBuilder, p: Mapping) -> None:
        from kioskd.ui.service_screens import SERVICE_BUILDERS

        SERVICE_BUILDERS[screen](b, p)

    fill.__name__ = fill.__qualname__ = f"_{screen}"
    return fill


_BUILDERS.update({screen: _service_screen(screen) for screen in SERVICE_SCREENS})
_BUILDERS.update(IDENTITY_BUILDERS)


def build_screen(screen: str, params: Mapping | None, lang: str, layout: Layout) -> ScreenModel:
    """The model of one screen; an unknown screen name is a programming error (ValueError)."""
    try:
        fill = _BUILDERS[screen]
    except KeyError:
        raise ValueError(f"unknown screen {screen!r}; known: {', '.join(SCREENS)}") from None
    builder = FrameBuilder(layout, lang)
    fill(builder, params or {})
    return builder.model(screen)
