"""Technician service mode: what ``kioskd.flows.service`` shows a technician, for the params it sends.

The contract between the flow and these screens lists the params (``service_home`` … ``service_log``).
Service screens follow the citizens' rules (three languages, 20 mm targets, text at least 7.3 mm high,
colour never alone) with a technician's density: states and results in words, the bank of lockers as a
grid of buttons placed like the real doors, driver messages shown as the drivers wrote them (English),
cut with "…" rather than wrapped when a line is too long. There is no help button (the header keeps the
languages); the footer has "Log out", and "Back" everywhere but on the home and confirmation screens.

Params come from a flow but are never trusted: a missing or garbled value shows as unknown, never a crash.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from kioskd.ui.frame import Block, Choice, FrameBuilder, Item, Layout, Text
from kioskd.ui.messages import N_
from kioskd.ui.model import Button, Label, Rect, Widget
from kioskd.ui.screens import SIZES, _mappings, _paging, _smallest, param_int

__all__ = ["SERVICE_BUILDERS", "SERVICE_LOG_PAGE_SIZE", "cut_to_width", "locker_grid", "service_log_page_size"]

DEVICES = ("locks", "rfid", "camera", "speech", "cards")
DEVICE_NAMES = {"locks": N_("service.device.locks"), "rfid": N_("service.device.rfid"),
                "camera": N_("service.device.camera"), "speech": N_("service.device.speech"),
                "cards": N_("service.device.cards")}
DEVICE_STATES = {"ok": N_("service.state.ok"), "down": N_("service.state.down"), "off": N_("service.state.off")}
ALARM_TEXTS = {"door_forced": N_("service.alarm.door_forced"), "door_left_open": N_("service.alarm.door_left_open"),
               "door_not_opened": N_("service.alarm.door_not_opened"), "relay_fault": N_("service.alarm.relay_fault"),
               "sensor_flapping": N_("service.alarm.sensor_flapping"), "device_down": N_("service.alarm.device_down"),
               "tamper": N_("service.alarm.tamper")}
DOOR_WORDS = {"open": N_("service.door.open"), "closed": N_("service.door.closed")}
CONTENTS_WORDS = {"empty": N_("service.contents.empty"), "ready": N_("service.contents.ready"),
                  "expired": N_("service.contents.expired"), "cancelled": N_("service.contents.cancelled"),
                  "returned": N_("service.contents.returned")}
FLAGS = ("out_of_service", "suspect", "flapping")  # most important first
FLAG_WORDS = {"out_of_service": N_("service.flag.out_of_service"), "suspect": N_("service.flag.suspect"),
              "flapping": N_("service.flag.flapping")}
TEST_WORDS = {"waiting": N_("service.test.waiting"), "pulsed": N_("service.test.pulsed"),
              "opened": N_("service.test.opened"), "not_opened": N_("service.test.not_opened"),
              "fault": N_("service.test.fault")}
FAILED_TESTS = ("not_opened", "fault")
RESULTS = {"pulsed": N_("service_locker.result.pulsed"), "opened": N_("service_locker.result.opened"),
           "closed": N_("service_locker.result.closed"), "not_opened": N_("service_locker.result.not_opened"),
           "fault": N_("service_locker.result.fault"), "refused": N_("service_locker.result.refused")}
FAILED_RESULTS = ("not_opened", "fault", "refused")
# in the contents sentence of the confirmation: "Inside: a pickup waiting (R-1002)."
CONFIRM_CONTENTS = {"ready": N_("service_confirm.ready"), "expired": N_("service_confirm.expired"),
                    "cancelled": N_("service_confirm.cancelled"), "returned": N_("service_confirm.returned")}
TESTS = (("test:rfid", "rfid"), ("test:camera", "camera"), ("test:cards", "cards"), ("test:audio", "speech"))
MAX_ALARM_LINES = 4  # then "and N more"
LOG_PAGE_SIZE = 8  # the lines of a page the flow sends (kioskd.flows.service.LOG_PAGE_SIZE)
ELLIPSIS = "…"
# cells of the locker grid: a door that stands open, a flag or a failed test is amber with a thick border and
# says so in words; colour is never the only cue
CELL, CELL_ALERT = "cell", "cell_alert"
MAX_CELL_MM = 48  # a portrait panel has room for huge cells; they stay a comfortable size, the bank its shape


# ---- reading the flow's params --------------------------------------------------------------------


def _str(params: Mapping, key: str) -> str:
    value = params.get(key)
    return " ".join(str(value).split()) if isinstance(value, str | int | float) and not isinstance(value, bool) else ""


def _one_of(params: Mapping, key: str, allowed: Sequence[str] | Mapping) -> str | None:
    value = params.get(key)
    return value if isinstance(value, str) and value in allowed else None


def _flags(params: Mapping) -> list[str]:
    value = params.get("flags")
    found = {f for f in value if isinstance(f, str)} if isinstance(value, list | tuple | set | frozenset) else set()
    return [f for f in FLAGS if f in found]


def _count(params: Mapping, key: str) -> int:
    return max(0, param_int(params, key, 0) or 0)


def _devices(params: Mapping) -> list[tuple[str, str, str]]:
    """(name, state, detail) of each device the flow reports, in the usual order, unknown states as "down"."""
    found: dict[str, tuple[str, str, str]] = {}
    for entry in _mappings(params.get("devices")):
        name = _one_of(entry, "name", DEVICE_NAMES)
        if name is not None and name not in found:
            found[name] = (name, _one_of(entry, "state", DEVICE_STATES) or "down", _str(entry, "detail"))
    return [found[name] for name in DEVICES if name in found]


# ---- small pieces -----------------------------------------------------------------------------------


def _footer(b: FrameBuilder, right: Sequence[Choice] = (), *, back: bool = True) -> None:
    """"Back" (one step up in service mode) and "Log out" (the session's "restart"), like staff screens."""
    left = [Choice("back", b.t("common.back"), "secondary")] if back else []
    b.footer([*left, Choice("restart", b.t("staff.logout"), "secondary")], right)


def cut_to_width(b: FrameBuilder, text: str, style: str, width: int) -> str:
    """``text`` on one line that fits ``width`` at the style's smallest size, cut with "…" if it must be."""
    weight, _size, floor = b.type.sizes(b.m, style)
    text = " ".join(text.split())
    if b.type.width(weight, floor, text) <= width:
        return text
    low, high = 0, len(text)  # the longest start of the text that fits with "…" after it
    while low < high:
        mid = (low + high + 1) // 2
        if b.type.width(weight, floor, text[:mid].rstrip() + ELLIPSIS) <= width:
            low = mid
        else:
            high = mid - 1
    return text[:low].rstrip() + ELLIPSIS


def _line_height(b: FrameBuilder, style: str) -> int:
    """The height of one line of ``style`` at its smallest size: compact lists are set at that size."""
    _weight, _size, floor = b.type.sizes(b.m, style)
    return b.type.line_height(floor)


def _lines_block(b: FrameBuilder, lines: Sequence[tuple[str, str]], width: int) -> Block:
    """One-line texts, left-aligned and compact, each cut with "…" to the width: a log, a list of reads."""
    cut = [(cut_to_width(b, text, style, width), style) for text, style in lines]
    heights = [_line_height(b, style) for _text, style in cut]
    between = max(2, b.m.px(0.8))

    def make(rect: Rect) -> list[Widget]:
        x, y, w, _h = rect
        made: list[Widget] = []
        for (text, style), height in zip(cut, heights, strict=True):
            made.append(Label(text, (x, y, w, height), style, "left"))
            y += height + between
        return made

    return Block(sum(heights) + between * max(0, len(cut) - 1), make)


def _fitting_lines(b: FrameBuilder, lines: Sequence[tuple[str, str]], room: int) -> int:
    """How many of ``lines`` a ``_lines_block`` can show in ``room`` pixels of height."""
    between, used = max(2, b.m.px(0.8)), 0
    for i, (_text, style) in enumerate(lines):
        used += _line_height(b, style) + (between if i else 0)
        if used > room:
            return i
    return len(lines)


def _device_line(b: FrameBuilder, name: str, state: str) -> str:
    return b.t("service.device_state", device=b.t(DEVICE_NAMES[name]), state=b.t(DEVICE_STATES[state]))


def _state_line(b: FrameBuilder, device: str, params: Mapping) -> Text:
    """"RFID reader: working" (or "not working", in the alert style), for the test screens."""
    state = _one_of(params, "state", DEVICE_STATES) or "down"
    return Text(_device_line(b, device, state), "notice" if state == "down" else "subheading")


def _columns_block(b: FrameBuilder, width: int, height: int, first: Sequence[Item | None],
                   second: Sequence[Item | None]) -> Block:
    """Two top-aligned columns as one block (landscape), each planned into ``height`` (texts may give way)."""
    gap = 2 * b.m.gap
    col_w = (width - gap) // 2
    plans = [b.plan(col_w, height, first), b.plan(col_w, height, second)]
    used = max(p.total for p in plans)

    def make(rect: Rect) -> list[Widget]:
        x, y, _w, _h = rect
        start = len(b.widgets)
        b.place(x, y, col_w, plans[0])
        b.place(x + col_w + gap, y, col_w, plans[1])
        made = b.widgets[start:]
        del b.widgets[start:]
        return made

    return Block(used, make)


# ---- service_home ------------------------------------------------------------------------------------


def _alarm_line(b: FrameBuilder, alarm: Mapping) -> str | None:
    kind = _one_of(alarm, "kind", ALARM_TEXTS)
    if kind is None:
        return None
    locker = param_int(alarm, "locker")
    device = _one_of(alarm, "device", DEVICE_NAMES)
    text = b.t(ALARM_TEXTS[kind])
    if locker is not None:
        text = b.t("service.alarm.at_locker", alarm=text, locker=locker)
    elif device is not None:
        text = b.t("service.alarm.of_device", alarm=text, device=b.t(DEVICE_NAMES[device]))
    return text


def _alarm_items(b: FrameBuilder, params: Mapping, width: int, most: int = MAX_ALARM_LINES) -> list[Item]:
    """The alarms under a count with the alert sign: up to ``most`` lines, the last saying "and N more"."""
    lines = [line for line in (_alarm_line(b, a) for a in _mappings(params.get("alarms"))) if line]
    if not lines:
        return [b.icon_text("check", b.t("service_home.no_alarms"), "subheading", width)]
    items: list[Item] = [b.icon_text("alert", b.tn("service_home.alarms", "service_home.alarms.plural", len(lines),
                                                   count=len(lines)), "alert", width)]
    most = max(1, most)
    shown = lines if len(lines) <= most else lines[:most - 1]
    items += [Text(line, "body") for line in shown]
    if len(shown) < len(lines):
        more = len(lines) - len(shown)
        items.append(Text(b.tn("service_home.more_alarms", "service_home.more_alarms.plural", more, count=more),
                          "hint"))
    return items


def _device_items(b: FrameBuilder, params: Mapping) -> list[Item]:
    """Devices grouped by state in words: what does not work first, with the driver's message."""
    devices = _devices(params)
    items: list[Item] = []
    for name, state, detail in devices:
        if state == "down":
            items.append(Text(_device_line(b, name, state), "notice"))
            if detail:
                items.append(Text(detail, "hint", drop=2))
    for state, msgid in (("ok", N_("service_home.working")), ("off", N_("service_home.not_configured"))):
        names = [b.t(DEVICE_NAMES[name]) for name, s, _detail in devices if s == state]
        if names:  # the devices that work give way first when the panel is short (large text)
            items.append(Text(b.t(msgid, devices=", ".join(names)), "body", drop=3))
    return items


def _network_items(b: FrameBuilder, params: Mapping) -> list[Item]:
    sync = params.get("sync") if isinstance(params.get("sync"), Mapping) else {}
    state = _one_of(sync, "state", ("not_configured", "online", "offline")) or "not_configured"
    since = _str(sync, "since")
    if state == "offline":
        text = b.t("service_home.offline_since", since=since) if since else b.t("service_home.offline")
    else:
        text = b.t("service_home.online") if state == "online" else b.t("service_home.sync_off")
    outbox = params.get("outbox") if isinstance(params.get("outbox"), Mapping) else {}
    pending = _count(outbox, "pending")
    oldest = param_int(outbox, "oldest_minutes")
    if pending == 0:
        waiting = b.t("service_home.outbox_empty")
    elif oldest is not None and oldest >= 0:
        waiting = b.tn("service_home.outbox_oldest", "service_home.outbox_oldest.plural", pending, count=pending,
                       minutes=oldest)
    else:
        waiting = b.tn("service_home.outbox", "service_home.outbox.plural", pending, count=pending)
    return [Text(text, "notice" if state == "offline" else "body"), Text(waiting, "body")]


def _natural_height(b: FrameBuilder, items: Sequence[Item], width: int) -> int:
    """The height ``items`` take in a column of ``width`` at their full size, with the frame's gaps."""
    return sum(b._heights(list(items), width, 1.0)) + b.m.gap * max(0, len(items) - 1)


def _service_home(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=False)
    actions = [Choice("service:lockers", b.t("service_home.lockers")),
               Choice("service:tests", b.t("service_home.tests")), Choice("service:log", b.t("service_home.log"))]
    landscape = b.layout.landscape
    # a landscape panel is short: the three ways on go in the footer, as its main actions
    _footer(b, actions if landscape else [], back=False)
    x, y, w, h = b.content()
    name = _str(p, "name")
    lockers, doors_open = _count(p, "lockers"), _count(p, "doors_open")
    title = Text(b.t("service_home.title_name", name=name) if name else b.t("service_home.title"), "heading")
    doors = Text(b.t("service_home.doors_open", open=doors_open, total=lockers), "subheading")
    if not landscape:
        b.stack((x, y, w, h), [title, doors, *_alarm_items(b, p, w), *_network_items(b, p), *_device_items(b, p),
                               b.choices(actions, w)])
        return
    # two columns read like a newspaper's: the alarms (as many lines as fit), the doors, the network, then the
    # devices, the left column filled first
    # devices, the left column filled first; when even that is too long (large text), the title joins the left
    # column, which gives the right one the whole height
    col_w = (w - 2 * b.m.gap) // 2
    rest = [doors, *_network_items(b, p), *_device_items(b, p)]
    for title_across, most in [(True, n) for n in range(MAX_ALARM_LINES, 0, -1)] + [(False, 1)]:
        room = h - b.plan(w, h, [title]).total - b.m.gap if title_across else h
        items = [*([] if title_across else [title]), *_alarm_items(b, p, col_w, most), *rest]
        split = max(i for i in range(len(items) + 1) if _natural_height(b, items[:i], col_w) <= room)
        if _natural_height(b, [it for it in items[split:] if not getattr(it, "drop", 0)], col_w) <= room:
            break
    columns = _columns_block(b, w, room, items[:split], items[split:])
    b.stack((x, y, w, h), [title, columns] if title_across else [columns], valign="top")


# ---- the locker grid ---------------------------------------------------------------------------------


def _locker_entries(params: Mapping) -> list[Mapping]:
    seen: set[int] = set()
    entries = []
    for entry in _mappings(params.get("lockers")):
        number = param_int(entry, "locker")
        if number is not None and number not in seen:
            seen.add(number)
            entries.append(entry)
    return entries


def _cell_status(b: FrameBuilder, entry: Mapping) -> tuple[str, bool]:
    """The word under a cell's number (a test's result, else the most important flag, else what it holds) and
    whether the cell must stand out."""
    door_open = entry.get("door") == "open"
    test = _one_of(entry, "test", TEST_WORDS)
    flags = _flags(entry)
    if test is not None:
        return b.t(TEST_WORDS[test]), door_open or test in FAILED_TESTS or bool(flags)
    if flags:
        return b.t(FLAG_WORDS[flags[0]]), True
    contents = _one_of(entry, "contents", CONTENTS_WORDS)
    return (b.t(CONTENTS_WORDS[contents]) if contents else ""), door_open


def _cell_label(b: FrameBuilder, entry: Mapping, lines: int) -> str:
    number = param_int(entry, "locker")
    door = _one_of(entry, "door", DOOR_WORDS)
    status, _alert = _cell_status(b, entry)
    first = f"{number} · {b.t(DOOR_WORDS[door])}" if door else str(number)
    if lines >= 2 and status:
        return f"{first}\n{status}"
    if lines >= 1 and door == "open":
        return first
    return str(number)


def _cell_speech(b: FrameBuilder, entry: Mapping) -> str:
    """What the audio mode says for a cell: the whole label, whatever the cell had room for."""
    return _cell_label(b, entry, 2).replace("\n", ", ").replace(" · ", ", ")


def _button_fits(b: FrameBuilder, label: str, width: int, height: int) -> bool:
    """Whether the renderer can set ``label`` in a button of that size, its capitals at the style's minimum."""
    weight, _size, _floor = b.type.sizes(b.m, "button")
    floor = _smallest(b)
    room_w, room_h = width - 2 * b.m.padding, height - 2 * b.m.padding_v
    lines = b.type.wrap(label, weight, floor, room_w)
    return (len(lines) * b.type.line_height(floor) <= room_h
            and max(b.type.width(weight, floor, line) for line in lines) <= room_w)


def locker_grid(layout: Layout, numbers: Sequence[int]) -> tuple[dict[int, tuple[int, int]], int, int]:
    """({locker: (row, column)} counted from 0, rows, columns): the bank as it stands, for the lockers given.

    Lockers the layout does not place go after the others, in rows of the bank's width, in number order.
    """
    rows = sorted({p[1] for p in layout.lockers})
    columns = sorted({p[2] for p in layout.lockers})
    placed = {p[0]: (rows.index(p[1]), columns.index(p[2])) for p in layout.lockers if p[0] in numbers}
    width = len(columns) or min(4 if layout.landscape else 3, max(1, len(numbers)))
    used_rows = max((r for r, _c in placed.values()), default=-1) + 1
    extra = sorted(n for n in numbers if n not in placed)
    for i, number in enumerate(extra):
        placed[number] = (used_rows + i // width, i % width)
    total_rows = max((r for r, _c in placed.values()), default=-1) + 1
    return placed, total_rows, width


def _grid_block(b: FrameBuilder, entries: list[Mapping], width: int, height: int, page: int) -> tuple[Block, int]:
    """(the grid, pages): cells placed like the doors; a bank too big for 20 mm cells becomes pages of a list."""
    m = b.m
    numbers = [param_int(e, "locker") or 0 for e in entries]
    by_number = dict(zip(numbers, entries, strict=True))
    places, rows, columns = locker_grid(b.layout, numbers)
    gap = m.gap
    cell_w = (width - gap * (columns - 1)) // max(1, columns)
    cell_h = min((height - gap * (rows - 1)) // max(1, rows), m.px(MAX_CELL_MM))
    pages = 1
    weight, _size, _floor = b.type.sizes(m, "button")
    narrowest = max(m.min_touch, max(b.type.width(weight, _smallest(b), str(n)) for n in numbers)
                    + 2 * m.padding + 2)  # a cell holds at least its number
    if cell_w < narrowest or cell_h < m.min_touch:  # too many doors to draw as the bank: a list, paged
        columns = max(1, (width + gap) // (narrowest + gap))
        cell_w = (width - gap * (columns - 1)) // columns
        cell_w = max(cell_w, m.min_touch)
        rows_per_page = max(1, (height + gap) // (m.bar_height + gap))
        cell_h = min(max(m.bar_height, (height - gap * (rows_per_page - 1)) // rows_per_page), m.px(MAX_CELL_MM))
        per_page = rows_per_page * columns
        pages = max(1, math.ceil(len(numbers) / per_page))
        page = max(0, min(pages - 1, page))
        shown = sorted(numbers)[page * per_page:(page + 1) * per_page]
        places = {n: (i // columns, i % columns) for i, n in enumerate(shown)}
        rows = math.ceil(len(shown) / columns) if shown else 0
    lines = next((n for n in (2, 1, 0) if all(_button_fits(b, _cell_label(b, by_number[k], n), cell_w, cell_h)
                                             for k in places)), 0)
    grid_w = columns * cell_w + gap * (columns - 1)

    def make(rect: Rect) -> list[Widget]:
        x, y, w, _h = rect
        left = x + (w - grid_w) // 2
        cells = []
        for number, (row, column) in sorted(places.items(), key=lambda item: item[1]):
            entry = by_number[number]
            _status, alert = _cell_status(b, entry)
            cells.append(Button(f"locker:{number}", _cell_label(b, entry, lines),
                                (left + column * (cell_w + gap), y + row * (cell_h + gap), cell_w, cell_h),
                                CELL_ALERT if alert else CELL, selected=alert, speech=_cell_speech(b, entry)))
        return cells

    return Block(max(0, rows * cell_h + gap * (rows - 1)), make), pages


def _service_lockers(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=False)
    test = p.get("relay_test") if isinstance(p.get("relay_test"), Mapping) else None
    running = bool(test and test.get("running"))
    entries = _locker_entries(p)
    # a bank too big for the panel is paged (an optional "page" param; "prev"/"next" taps): probe for it first
    requested = _count(p, "page")
    right = [] if running else [Choice("relay_test", b.t("service_lockers.relay_test"))]
    probe = FrameBuilder(b.layout, b.lang)
    probe.header(help_button=False)
    _footer(probe, right)
    x, y, w, h = probe.content()
    items: list[Item] = [Text(b.t("service_lockers.title"), "heading")]
    if test is not None:
        done, total = _count(test, "done"), _count(test, "total")
        items.append(Text(b.tn("service_lockers.progress", "service_lockers.progress.plural", total,
                               done=min(done, total), total=total), "subheading"))
    if not entries:
        items.append(Text(b.t("service_lockers.none"), "body"))
        _footer(b, right)
        b.stack(b.content(), items)
        return
    room = h - b.plan(w, h, items).total - b.m.gap
    grid, pages = _grid_block(b, entries, w, room, requested)
    paging = _paging(b, max(0, min(pages - 1, requested)), pages)
    _footer(b, [*paging, *right])
    x, y, w, h = b.content()
    if paging:  # the footer grew no taller, but check: the grid is laid out for the room it has
        room = h - b.plan(w, h, items).total - b.m.gap
        grid, pages = _grid_block(b, entries, w, room, requested)
    b.stack((x, y, w, h), [*items, grid])


# ---- service_locker ----------------------------------------------------------------------------------


def _contents_words(b: FrameBuilder, p: Mapping) -> str:
    contents = _one_of(p, "contents", CONTENTS_WORDS)
    words = b.t(CONTENTS_WORDS[contents]) if contents else b.t("service.contents.unknown")
    reservation = _str(p, "reservation")
    return f"{words} ({reservation})" if reservation and contents != "empty" else words


def _result_item(b: FrameBuilder, result: str, width: int) -> Block:
    """The last action's result beside its sign: a failure in the alert colour with the alert sign."""
    if result in FAILED_RESULTS:
        return b.icon_text("alert", b.t(RESULTS[result]), "notice", width)
    return b.icon_text("clock" if result == "pulsed" else "check", b.t(RESULTS[result]), "subheading", width)


def _size_words(b: FrameBuilder, size: str) -> str:
    """"M (medium)": the letter on the locker, and a word so it is not alone."""
    word = b.t(SIZES[size])
    return f"{size} ({word})"


def _service_locker(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=False)
    _footer(b)
    locker = param_int(p, "locker")
    flags = _flags(p)
    result = _one_of(p, "result", RESULTS)
    door = _one_of(p, "door", DOOR_WORDS)
    size = _str(p, "size").upper()
    details: list[Item] = [
        Text(b.t("service_locker.title", locker=locker if locker is not None else "?"), "title"),
        Text(b.t("service_locker.size", size=_size_words(b, size)), "body") if size in SIZES else None,
        Text(b.t("service_locker.door", door=b.t(DOOR_WORDS[door]) if door else b.t("service.door.unknown")),
             "subheading" if door == "open" else "body"),
        Text(b.t("service_locker.contents", contents=_contents_words(b, p)), "body"),
        Text(b.t("service_locker.flags", flags=", ".join(b.t(FLAG_WORDS[f]) for f in flags)), "notice")
        if flags else Text(b.t("service_locker.no_flags"), "body")]
    out = "out_of_service" in flags or "suspect" in flags
    choices = [] if result == "pulsed" else [Choice("open", b.t("service_locker.open"))]
    toggle = b.t("service_locker.back_in_service") if out else b.t("service_locker.out_of_service")
    choices.append(Choice("service_toggle", toggle, "secondary"))
    area = b.content()
    if b.layout.landscape:
        left, right = b.split(area, 0.5)
        b.stack(left, details)
        b.stack(right, [_result_item(b, result, right[2]) if result else None, b.choices(choices, right[2])])
    else:
        b.stack(area, [*details, _result_item(b, result, area[2]) if result else None, b.choices(choices, area[2])])


# ---- service_confirm -----------------------------------------------------------------------------------


def _service_confirm(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=False)
    what = "relay_test" if p.get("what") == "relay_test" else "open"
    confirm = b.t("service_confirm.start_test") if what == "relay_test" else b.t("service_confirm.open")
    b.footer([Choice("cancel", b.t("service_confirm.cancel"), "secondary")], [Choice("confirm", confirm)])
    items: list[Item | None]
    if what == "relay_test":
        count = _count(p, "count")
        items = [Text(b.tn("service_confirm.relay_test", "service_confirm.relay_test.plural", count, count=count),
                      "title"), Text(b.t("service_confirm.relay_test_how"), "body")]
    else:
        locker = param_int(p, "locker")
        title = b.t("service_confirm.open_locker", locker=locker) if locker is not None else \
            b.t("service_confirm.open_any")
        contents = _one_of(p, "contents", CONTENTS_WORDS)
        reservation = _str(p, "reservation")
        items = [Text(title, "title")]
        if contents in CONFIRM_CONTENTS:
            inside = b.t(CONFIRM_CONTENTS[contents])
            if reservation:
                inside = f"{inside} ({reservation})"
            items += [b.icon_text("warning", b.t("service_confirm.inside", contents=inside), "subheading",
                                  b.content()[2]), Text(b.t("service_confirm.opens_on_it"), "body")]
        elif contents is None:
            items.append(b.icon_text("warning", b.t("service_confirm.maybe_not_empty"), "subheading", b.content()[2]))
    items.append(Text(b.t("service_confirm.recorded"), "hint"))
    b.stack(b.content(), items)


# ---- service_tests -----------------------------------------------------------------------------------


def _test_label(b: FrameBuilder, device: str, states: Mapping[str, tuple[str, str]]) -> str:
    state = states.get(device, ("", ""))[0]
    name = b.t(DEVICE_NAMES[device])
    return f"{name}\n{b.t(DEVICE_STATES[state])}" if state else name


def _card_result(b: FrameBuilder, card: Mapping) -> tuple[str, str, str]:
    """(result in words, its style, the detail: the readers' names or the driver's message, one cut line)."""
    state = _one_of(card, "state", ("ok", "none", "down")) or "down"
    detail = _str(card, "detail")
    if state == "down":
        return b.t("service_tests.card_down"), "notice", detail
    readers = [" ".join(r.split()) for r in card.get("readers") or () if isinstance(r, str) and r.strip()] \
        if isinstance(card.get("readers"), list | tuple) else []
    if state == "none" or not readers:
        return b.t("service_tests.card_none"), "notice", detail
    present = b.t("service_tests.card_present") if card.get("card_present") is True else b.t("service_tests.no_card")
    return (b.tn("service_tests.card_ok", "service_tests.card_ok.plural", len(readers), count=len(readers),
                 card=present), "body", b.t("service_tests.readers", readers=", ".join(readers)))


def _audio_result(b: FrameBuilder, audio: Mapping) -> tuple[str, str, str]:
    if audio.get("state") == "played":
        volume = max(0, min(100, param_int(audio, "volume", 0) or 0))
        return b.t("service_tests.audio_played", volume=volume), "body", ""
    return b.t("service_tests.audio_down"), "notice", _str(audio, "detail")


def _service_tests(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=False)
    _footer(b)
    devices = _devices(p)
    states = {name: (state, detail) for name, state, detail in devices}
    x, y, w, h = b.content()
    # a device that does not work has the warning sign on its button, beside the words that say so
    buttons = [Choice(action, _test_label(b, device, states), "primary",
                      "warning" if states.get(device, ("", ""))[0] == "down" else None) for action, device in TESTS]
    # the test buttons, two by two (each says its device and its state), then what the tests found
    half = (w - b.m.gap) // 2
    button_h = max(b.button_height(c, half, b.m.big_button_height if b.layout.landscape else b.m.px(30))
                   for c in buttons)

    def grid(rect: Rect) -> list[Widget]:
        gx, gy, _w, _h = rect
        return [Button(c.action, c.label, (gx + (i % 2) * (half + b.m.gap), gy + (i // 2) * (button_h + b.m.gap),
                                           half, button_h), icon=c.icon) for i, c in enumerate(buttons)]

    lines: list[tuple[str, str]] = []
    locks = states.get("locks")
    if locks is not None:
        lines.append((_device_line(b, "locks", locks[0]), "notice" if locks[0] == "down" else "body"))
    for name, _state, detail in devices:
        if detail:
            lines.append((b.t("service.device_state", device=b.t(DEVICE_NAMES[name]), state=detail), "hint"))
    # the tests' results in full (wrapped); the drivers' messages under them, one line each, as many as fit
    found: list[Item] = []
    card, audio = p.get("card"), p.get("audio")
    results = []
    if isinstance(audio, Mapping):
        results.append(_audio_result(b, audio))
    if isinstance(card, Mapping):
        text, style, detail = _card_result(b, card)
        results.append((b.t("service_tests.card_result", result=text), style, detail))
    for text, style, detail in reversed(results):
        found.insert(0, Text(text, style))
        if detail:
            lines.insert(0, (detail, "hint"))
    title = Text(b.t("service_tests.title"), "heading", drop=1)  # the buttons name the devices: it may give way
    room = h - _natural_height(b, [title, *found], w) - 2 * button_h - 4 * b.m.gap
    details = lines[:_fitting_lines(b, lines, room)]
    b.stack((x, y, w, h), [title, Block(2 * button_h + b.m.gap, grid), *found,
                           _lines_block(b, details, w) if details else None])


# ---- service_rfid, service_camera ------------------------------------------------------------------------


def _reads_screen(b: FrameBuilder, instruction: str, status: list[Item], lines: list[tuple[str, str]],
                  empty: str) -> None:
    """An instruction, the reader's state, and the latest reads newest first: as many as fit."""
    _footer(b)
    x, y, w, h = b.content()
    items: list[Item] = [Text(instruction, "heading"), *status]
    room = h - b.plan(w, h, items).total - b.m.gap
    shown = lines[:_fitting_lines(b, lines, room)]
    items.append(_lines_block(b, shown, w) if shown else Text(empty, "body"))
    b.stack((x, y, w, h), items, valign="top" if len(shown) > 2 else "center")


def _service_rfid(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=False)
    reads = _count(p, "reads")
    protocol = _str(p, "protocol")
    detail = _str(p, "detail")
    facts = [b.tn("service_rfid.reads", "service_rfid.reads.plural", reads, count=reads)]
    if protocol:
        facts.insert(0, b.t("service_rfid.protocol", protocol=protocol))
    status: list[Item] = [_state_line(b, "rfid", p), Text(" · ".join(facts), "body")]
    if detail:
        status.append(Text(detail, "hint", drop=1))
    lines = []
    for frame in _mappings(p.get("frames")):
        at = _str(frame, "at")
        if frame.get("valid") is True:
            lines.append((b.t("service_rfid.valid", at=at, uid=_str(frame, "uid") or "?"), "body"))
        else:
            problem = _str(frame, "problem") or b.t("service_rfid.unknown_problem")
            lines.append((b.t("service_rfid.invalid", at=at, problem=problem), "notice"))
    _reads_screen(b, b.t("service_rfid.instruction"), status, lines, b.t("service_rfid.none"))


def _service_camera(b: FrameBuilder, p: Mapping) -> None:
    b.header(help_button=False)
    frames = _count(p, "frames")
    detail = _str(p, "detail")
    status: list[Item] = [_state_line(b, "camera", p),
                          Text(b.tn("service_camera.frames", "service_camera.frames.plural", frames, count=frames),
                               "body")]
    if detail:
        status.append(Text(detail, "hint", drop=1))
    lines = []
    for read in _mappings(p.get("reads")):
        length = _count(read, "length")
        lines.append((b.tn("service_camera.read", "service_camera.read.plural", length, at=_str(read, "at"),
                           text=_str(read, "text") or "?", count=length), "body"))
    _reads_screen(b, b.t("service_camera.instruction"), status, lines, b.t("service_camera.none"))


# ---- service_log -------------------------------------------------------------------------------------------


def _log_frame(b: FrameBuilder, page: int, pages: int) -> tuple[Rect, list[Choice]]:
    """The frame and the room for the lines; "Previous" and "Next" in the footer on a landscape panel and
    under the lines on a portrait one (as in the staff lists), whose room is then taken off."""
    b.header(help_button=False)
    paging = _paging(b, page, pages)
    landscape = b.layout.landscape
    _footer(b, paging if landscape else [])
    x, y, w, h = b.content()
    if paging and not landscape:
        h -= b.choices(paging, w, big=False).height + b.m.gap
    return (x, y, w, h), paging


def _log_title(b: FrameBuilder, page: int, pages: int, shown: int, total: int) -> str:
    title = b.t("service_log.title")
    if pages > 1:
        title = "{}\u00a0· {}".format(title, b.t("staff.page", page=page + 1, pages=pages))
    if shown < total:
        title = "{}\u00a0· {}".format(title, b.tn("service_log.shown", "service_log.shown.plural", total,
                                                  shown=shown, total=total))
    return title


def _service_log(b: FrameBuilder, p: Mapping) -> None:
    pages = max(1, param_int(p, "pages", 1) or 1)
    page = max(0, min(pages - 1, param_int(p, "page", 0) or 0))
    (x, y, w, h), paging = _log_frame(b, page, pages)
    below = [b.choices(paging, w, big=False)] if paging and not b.layout.landscape else []
    if below:  # the paging buttons go at the foot of the content, under the lines
        b.place(x, y + h + b.m.gap, w, b.plan(w, below[0].height, below))
    raw = p.get("lines")
    lines = [(" ".join(str(line).split()), "body") for line in raw if isinstance(line, str | int | float)] \
        if isinstance(raw, list | tuple) else []
    if not lines:
        b.stack((x, y, w, h), [Text(_log_title(b, page, pages, 0, 0), "heading"),
                               Text(b.t("service_log.empty"), "body")])
        return
    # the title says so when the page has more lines than the panel shows (large text on a short panel)
    longest = _log_title(b, page, pages, len(lines) - 1, len(lines))
    room = h - b.plan(w, h, [Text(longest, "heading")]).total - b.m.gap
    shown = min(len(lines), _fitting_lines(b, lines, room))
    title = Text(_log_title(b, page, pages, shown, len(lines)), "heading")
    b.stack((x, y, w, h), [title, _lines_block(b, lines[:shown], w)], valign="top")


def service_log_page_size(layout: Layout) -> int:
    """How many log lines ``service_log`` shows at once on ``layout`` (with its text size), in any language."""
    fits = []
    for lang in layout.languages or ("en",):
        b = FrameBuilder(layout, lang)
        (_x, _y, w, h), _paging_choices = _log_frame(b, 1, 3)
        title = _log_title(b, 1, 3, LOG_PAGE_SIZE - 1, LOG_PAGE_SIZE)
        room = h - b.plan(w, h, [Text(title, "heading")]).total - b.m.gap
        fits.append(_fitting_lines(b, [("x", "body")] * 50, room))
    return max(1, min(fits))


SERVICE_LOG_PAGE_SIZE = service_log_page_size  # the contract's name


SERVICE_BUILDERS: dict[str, Callable[[FrameBuilder, Mapping], None]] = {
    "service_home": _service_home, "service_lockers": _service_lockers, "service_locker": _service_locker,
    "service_confirm": _service_confirm, "service_tests": _service_tests, "service_rfid": _service_rfid,
    "service_camera": _service_camera, "service_log": _service_log,
}
