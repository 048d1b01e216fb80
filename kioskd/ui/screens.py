"""Build each kiosk screen as a ScreenModel: which words and buttons, for the parameters a flow sends.

Flows name a screen and pass facts (locker number, failure reason); the wording, and which buttons make
sense for those facts, are decided here so flows stay free of presentation. Where things go on the screen
is the frame's business (``kioskd.ui.frame``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from kioskd.ui.frame import FrameBuilder, Item, Layout, locker_position
from kioskd.ui.messages import N_
from kioskd.ui.model import Arrow, Button, CodeDisplay, LockerMap, Rect, ScreenModel, Widget

__all__ = ["ERROR_REASONS", "SCREENS", "Layout", "build_screen", "locker_position"]

SCREENS = ("attract", "method", "pin", "scan", "checking", "locker_open", "close_door", "thanks", "error",
           "help", "timeout", "return_info", "out_of_service")

CODE_REASONS = ("unknown_code", "locked_out", "forged", "wrong_kiosk", "token_expired", "replayed", "malformed")
PICKUP_REASONS = ("expired", "already_collected", "cancelled", "not_ready", "strong_required")
LOCKER_REASONS = ("door_not_opened", "locker_out_of_service")
ERROR_REASONS = CODE_REASONS + PICKUP_REASONS + LOCKER_REASONS + ("internal",)
# Where trying again can help, the button says so; elsewhere "Try again" would be a false promise.
RETRYABLE_REASONS = ("unknown_code", "forged", "malformed", "internal")
ERROR_TEXTS = {
    "unknown_code": N_("error.unknown_code"), "forged": N_("error.forged"), "wrong_kiosk": N_("error.wrong_kiosk"),
    "token_expired": N_("error.token_expired"), "replayed": N_("error.replayed"), "malformed": N_("error.malformed"),
    "expired": N_("error.expired"), "already_collected": N_("error.already_collected"),
    "cancelled": N_("error.cancelled"), "not_ready": N_("error.not_ready"),
    "strong_required": N_("error.strong_required"), "locker_out_of_service": N_("error.locker_out_of_service"),
    "internal": N_("error.internal"),
}
ERROR_HEADINGS = {"code": N_("error.heading.code"), "pickup": N_("error.heading.pickup"),
                  "locker": N_("error.heading.locker"), "internal": N_("error.heading.internal")}


def _int(params: Mapping, key: str, default: int | None) -> int | None:
    value = params.get(key)
    try:
        return default if value is None else int(value)
    except (TypeError, ValueError):
        return default


# ---- the screens ------------------------------------------------------------------------------


def _attract(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=True)
    buttons = [("pickup", b.t("attract.pickup"), "primary"), ("return", b.t("attract.return"), "primary")]
    items: list[Item] = [(b.t("attract.title"), "title"), (b.t("attract.subtitle"), "body"),
                         (b.big_buttons_height(2), lambda r: b.big_buttons(r, buttons))]
    if p.get("qr_available"):
        items.append((b.t("attract.qr_hint"), "hint"))
    b.stack(b.content(footer=False), items)


def _method(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=True)
    buttons = [("method:pin", b.t("method.pin"), "primary")]
    if p.get("qr_available"):
        buttons.append(("method:qr", b.t("method.qr"), "primary"))
    b.stack(b.content(footer=True), [(b.t("method.title"), "heading"),
                                     (b.big_buttons_height(len(buttons)), lambda r: b.big_buttons(r, buttons))])
    b.footer([("back", b.t("common.back"), "secondary")], [])


def _pad(b: FrameBuilder, area: Rect) -> list[Widget]:
    """The 3×4 number pad in the familiar telephone order, as large as the area allows."""
    m = b.m
    x, y, w, h = area
    gap = round(14 * m.scale)
    cell_w = min(round(280 * m.scale), (w - 2 * gap) // 3)
    cell_h = min(round(170 * m.scale), (h - 3 * gap) // 4)
    left = x + (w - (3 * cell_w + 2 * gap)) // 2
    keys = [(f"digit:{d}", str(d), "digit") for d in range(1, 10)]
    keys += [("erase", b.t("pin.erase"), "secondary"), ("digit:0", "0", "digit"), ("ok", b.t("pin.ok"), "primary")]
    return [Button(action, label, (left + (i % 3) * (cell_w + gap), y + (i // 3) * (cell_h + gap), cell_w, cell_h),
                   style) for i, (action, label, style) in enumerate(keys)]


def _pin(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=True)
    m = b.m
    length = max(1, _int(p, "length", 8) or 8)
    entered = max(0, min(length, _int(p, "entered", 0) or 0))
    code_h = round(90 * m.scale)

    def code(rect: Rect) -> Widget:
        x, y, w, _h = rect
        cw = min(w, round(length * 64 * m.scale))
        return CodeDisplay((x + (w - cw) // 2, y, cw, code_h), entered, length)

    items: list[Item] = [(b.t("pin.instruction", length=length), "heading"), (code_h, code),
                         (b.t("pin.hint"), "hint")]
    if b.layout.landscape:
        # the pad runs down to the bottom margin on the right: the footer there is free and the keys get taller
        text_area, _ = b.split(b.content(footer=True), 0.48)
        pad_x = text_area[0] + text_area[2] + 2 * m.gap
        b.stack(text_area, items)
        b.widgets.extend(_pad(b, (pad_x, b.top, b.right - pad_x, b.layout.height - m.margin - b.top)))
    else:
        text_area, pad_area = b.split(b.content(footer=True), 0.34)
        b.stack(text_area, items)
        b.widgets.extend(_pad(b, pad_area))
    b.footer([("back", b.t("common.back"), "secondary")], [])


def _scan(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=True)
    arrow_h = round(200 * b.m.scale)
    b.stack(b.content(footer=True), [(b.t("scan.instruction"), "heading"), (b.t("scan.hint"), "body"),
                                     (arrow_h, lambda r: Arrow(r, "down"))])
    b.footer([("back", b.t("common.back"), "secondary")], [])


def _checking(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=False)
    b.stack(b.content(footer=False), [(b.t("checking.wait"), "title")])


def _locker_screen(b: FrameBuilder, locker: int | None, texts: list[tuple[str, str]]) -> None:
    """Words on one side, the bank of lockers with the door marked on the other."""
    b.header(help_button=True)
    if not b.layout.lockers:
        b.stack(b.content(footer=False), texts)
        return
    text_area, map_area = b.split(b.content(footer=False), 0.56 if b.layout.landscape else 0.42)
    b.stack(text_area, texts)
    name = b.t("locker.name", locker=locker) if locker is not None else ""
    b.widgets.append(LockerMap(map_area, b.layout.lockers, locker, name, b.t("locker.open_marker")))


def _locker_open(b: FrameBuilder, p: Mapping) -> None:
    locker = _int(p, "locker", None)
    texts = [(b.t("locker_open.title", locker=locker if locker is not None else ""), "title")]
    where = locker_position(b.layout, locker) if locker is not None else None
    if where is not None:
        texts.append((b.t("locker.where", row=where[0], rows=where[1], column=where[2]), "body"))
    texts.append((b.t("locker_open.take"), "body"))
    if p.get("retry"):
        texts.append((b.t("locker_open.retry"), "notice"))
    _locker_screen(b, locker, texts)


def _close_door(b: FrameBuilder, p: Mapping) -> None:
    locker = _int(p, "locker", None)
    shown = locker if locker is not None else ""
    if p.get("reminder"):
        texts = [(b.t("close_door.reminder", locker=shown), "alert")]
    else:
        texts = [(b.t("close_door.title", locker=shown), "heading")]
    _locker_screen(b, locker, texts)


def _thanks(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=True)
    locker = _int(p, "locker", None)
    can_reopen = bool(p.get("can_reopen")) and locker is not None
    items: list[Item] = [(b.t("thanks.title"), "title")]
    if can_reopen:
        items.append((b.t("thanks.reopen_hint", seconds=_int(p, "reopen_seconds", 60)), "body"))
    b.stack(b.content(footer=True), items)
    left = [("reopen", b.t("thanks.reopen", locker=locker), "secondary")] if can_reopen else []
    b.footer(left, [("done", b.t("common.finish"), "primary")])


def _error_message(b: FrameBuilder, reason: str, p: Mapping) -> str:
    if reason == "locked_out":
        seconds = _int(p, "locked_seconds", None)
        if seconds is None or seconds <= 0:
            return b.t("error.locked_out_later")
        if seconds < 60:
            return b.t("error.locked_out_seconds", seconds=seconds)
        return b.t("error.locked_out_minutes", minutes=math.ceil(seconds / 60))
    if reason == "door_not_opened":
        locker = _int(p, "locker", None)
        return b.t("error.door_not_opened_any") if locker is None else b.t("error.door_not_opened", locker=locker)
    return b.t(ERROR_TEXTS[reason])


def _error(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=True)
    reason = str(p.get("reason") or "internal")
    if reason not in ERROR_REASONS:
        reason = "internal"
    group = ("code" if reason in CODE_REASONS else "pickup" if reason in PICKUP_REASONS
             else "locker" if reason in LOCKER_REASONS else "internal")
    items: list[Item] = [(b.t(ERROR_HEADINGS[group]), "alert"), (_error_message(b, reason, p), "body")]
    if reason not in RETRYABLE_REASONS and reason != "locked_out":
        items.append(b.contact())
    b.stack(b.content(footer=True), items)
    label = b.t("common.try_again") if reason in RETRYABLE_REASONS else b.t("common.ok")
    b.footer([], [("ok", label, "primary")])


def _help(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=False)
    locker = _int(p, "locker", None)
    items: list[Item] = [(b.t("help.title"), "title")]
    if locker is not None:
        items.append((b.t("help.locker", locker=locker), "body"))
    tips = [(b.t("help.door"), "body"), (b.t("help.code"), "body")]
    if p.get("reason") in CODE_REASONS:
        tips.reverse()  # the citizen's own problem first
    items += [*tips, b.contact()]
    b.stack(b.content(footer=True), items)
    b.footer([("back", b.t("common.back"), "secondary")], [("done", b.t("common.finish"), "primary")])


def _timeout(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=True)
    buttons = [("extend", b.t("timeout.extend"), "primary"), ("done", b.t("timeout.stop"), "secondary")]
    b.stack(b.content(footer=False), [
        (b.t("timeout.title"), "title"),
        (b.t("timeout.countdown", seconds=_int(p, "seconds", 15)), "body"),
        (b.big_buttons_height(2), lambda r: b.big_buttons(r, buttons))])


def _return_info(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=True)
    b.stack(b.content(footer=True), [(b.t("return_info.title"), "heading"), (b.t("return_info.text"), "body"),
                                     b.contact()])
    b.footer([("back", b.t("common.back"), "secondary")], [])


def _out_of_service(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=False)
    b.stack(b.content(footer=False), [(b.t("out_of_service.title"), "heading"),
                                      (b.t("out_of_service.text"), "body"), b.contact()])


_BUILDERS: dict[str, Callable[[FrameBuilder, Mapping], None]] = {
    "attract": _attract, "method": _method, "pin": _pin, "scan": _scan, "checking": _checking,
    "locker_open": _locker_open, "close_door": _close_door, "thanks": _thanks, "error": _error, "help": _help,
    "timeout": _timeout, "return_info": _return_info, "out_of_service": _out_of_service,
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
