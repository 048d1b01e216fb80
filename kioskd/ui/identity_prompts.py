"""What the kiosk says on the strong-identification screens (``kioskd.ui.identity_screens``).

The same rules as every prompt (``kioskd.ui.prompts``): numbers in words, the id names the facts that
change the words. Nothing is said about whose document it is, and no PIN: the card PIN is typed on the
reader's keypad, which the kiosk never sees. The itsme code cannot be heard, so its prompt says what
itsme needs (the app on a smartphone) and that the eID card is the other way, where the kiosk offers it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kioskd.ui.frame import Layout
    from kioskd.ui.prompts import _Prompt


def _prove(p: _Prompt, params: Mapping, layout: Layout) -> None:
    eid, itsme = bool(params.get("eid")), bool(params.get("itsme"))
    p.say("prove.title")
    if eid and itsme:
        p.fact("eid-itsme")
        p.say("speech.prove.both", place=p.t("eid.reader_place"))
    elif eid:
        p.fact("eid")
        p.say("speech.prove.eid", place=p.t("eid.reader_place"))
    elif itsme:
        p.fact("itsme")
        p.say("speech.prove.itsme")
    else:
        p.fact("none")
        p.say("error.strong_unavailable")
    p.say("prove.hint")
    p.keys_hint("speech.keys.move")


def _eid_insert(p: _Prompt, params: Mapping, layout: Layout) -> None:
    p.say("eid_insert.title", place=p.t("eid.reader_place"))
    p.say("eid_insert.how")
    p.keys_hint("speech.keys.back")


def _eid_reading(p: _Prompt, params: Mapping, layout: Layout) -> None:
    p.say("eid_reading.title")
    if params.get("pin_pad"):
        p.fact("pin-pad")
        p.say("eid_reading.pin")
        p.say("eid_reading.pin_private")
    else:
        p.say("eid_reading.keep")


def _itsme(p: _Prompt, params: Mapping, layout: Layout) -> None:
    """The code itself is never in the prompt or its id: it changes every time and cannot be heard."""
    if params.get("qr"):
        p.fact("code")
        p.say("itsme.title")
        p.say("itsme.confirm")
    else:
        p.fact("connecting")
        p.say("itsme.connecting")
        p.say("itsme.wait")
    p.say("speech.itsme.explain")
    p.keys_hint("speech.keys.back")


IDENTITY_PROMPTS: dict[str, Callable[[_Prompt, Mapping, Layout], None]] = {
    "prove": _prove, "eid_insert": _eid_insert, "eid_reading": _eid_reading, "itsme": _itsme,
}
