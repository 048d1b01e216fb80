"""Every prompt a kiosk can say with its config, for ``tools/prompts`` to make in advance.

The wording lives in ``kioskd.ui.prompts``; this module only lists the screen variants worth making ahead
(every screen, locker, error and count a citizen meets often). Rarer ones are made on first use.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from kioskd.ui.frame import Layout
from kioskd.ui.prompts import HINTS, Utterance, focus_prompt, hint_prompt, screen_prompt
from kioskd.ui.screens import ERROR_REASONS, TAG_NOTICES


def _variants(layout: Layout, config) -> Iterator[tuple[str, dict]]:
    lockers = [p[0] for p in layout.lockers]
    pin_length = config.identification.pin_length
    warning = int(config.pickup.timeout_warning_seconds)
    grace = int(config.pickup.reopen_grace_seconds)
    max_minutes = math.ceil(config.lockout.max_seconds / 60)
    yield from (("attract", {}), ("method", {"qr_available": True}), ("method", {"qr_available": False}),
                ("pin", {"length": pin_length}), ("scan", {}), ("checking", {}), ("out_of_service", {}),
                ("timeout", {"seconds": warning, "extensions_left": 1}),
                ("timeout", {"seconds": warning, "extensions_left": 0}), ("help", {}),
                ("help", {"reason": "unknown_code"}), ("locker_open", {}),
                ("locker_open", {"purpose": "return"}), ("return_identify", {"qr_available": True}),
                ("return_identify", {"qr_available": False}))
    yield from _return_variants()
    yield from _identity_variants()
    # staff screens are heard by trained staff a few times a day: their prompts are made on first use
    # (tens of milliseconds each), which keeps the pre-made set small on the kiosk's SD card
    for locker in lockers:
        yield "locker_open", {"locker": locker}
        yield "locker_open", {"locker": locker, "retry": True}
        yield "locker_open", {"locker": locker, "purpose": "return"}
        yield "locker_open", {"locker": locker, "retry": True, "purpose": "return"}
        yield "close_door", {"locker": locker}
        yield "close_door", {"locker": locker, "purpose": "return"}
        yield "close_door", {"locker": locker, "reminder": True, "can_extend": True}
        yield "close_door", {"locker": locker, "reminder": True, "can_extend": False}
        yield "thanks", {"locker": locker, "can_reopen": True, "reopen_seconds": grace}
        yield "locker_open", {"locker": locker, "take_card": True}  # after an eID proof, card still in
        yield "locker_open", {"locker": locker, "retry": True, "take_card": True}
        yield "thanks", {"locker": locker, "can_reopen": True, "reopen_seconds": grace, "take_card": True}
        yield "error", {"reason": "door_not_opened", "locker": locker}
    yield "thanks", {"can_reopen": False}
    for reason in ERROR_REASONS:
        if reason not in ("locked_out", "door_not_opened"):
            yield "error", {"reason": reason}
    yield "error", {"reason": "locked_out"}
    # rarer variants (help naming a locker, long lockouts) are made on first use: espeak-ng takes tens
    # of milliseconds, and pre-making them would cost tens of megabytes of WAV on the SD card
    for minutes in range(1, min(max_minutes, 5) + 1):
        yield "error", {"reason": "locked_out", "locked_seconds": minutes * 60}


def _identity_variants() -> Iterator[tuple[str, dict]]:
    """Strong identification: each choice of proof, the card with and without a PIN pad, itsme, wrong PINs.

    The itsme code is never part of a prompt, so any text stands for it here.
    """
    for eid, itsme in ((True, True), (True, False), (False, True)):
        yield "prove", {"eid": eid, "itsme": itsme}
    yield from (("eid_insert", {}), ("eid_reading", {"pin_pad": False}), ("eid_reading", {"pin_pad": True}),
                ("itsme", {"qr": "itsme"}), ("itsme", {"qr": ""}), ("thanks", {"can_reopen": False, "take_card": True}))
    for tries in (1, 2):
        yield "error", {"reason": "card_wrong_pin", "tries_left": tries}


def _return_variants() -> Iterator[tuple[str, dict]]:
    """Counting the tags of loans of one or two items (room keys), with each notice; the thanks for those counts.

    Larger loans are rare (party material): their prompts are made on first use.
    """
    for total in range(1, 3):
        for presented in range(total + 1):
            for notice in (None, *TAG_NOTICES):
                yield "return_tags", {"presented": presented, "total": total, "product": "", "notice": notice}
        for returned in range(1, total + 1):
            yield "return_done", {"returned": returned, "outstanding": total - returned}



def all_prompts(config) -> Iterator[Utterance]:
    """The prompts ``tools/prompts`` makes in advance for ``config``: every screen, locker and error."""
    from kioskd.ui.layouts import layout_from_config
    from kioskd.ui.screens import build_screen

    layout = layout_from_config(config)
    seen: set[tuple[str, str]] = set()

    def fresh(u: Utterance) -> bool:
        key = (u.prompt_id, u.lang)
        if key in seen:
            return False
        seen.add(key)
        return True

    for lang in config.kiosk.languages:
        for name in HINTS:
            if fresh(u := hint_prompt(name, lang)):
                yield u
        for screen, params in _variants(layout, config):
            for keys in (False, True):
                if fresh(u := screen_prompt(screen, params, lang, layout, keys=keys)):
                    yield u
            for flags in ({}, {"audio": True, "large_text": True}):
                model = build_screen(screen, {**params, **flags}, lang, layout)
                for button in model.buttons():
                    if not button.action.startswith("digit:") and fresh(u := focus_prompt(button, lang)):
                        yield u
