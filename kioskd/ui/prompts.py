"""What the kiosk says: one spoken prompt per screen, and the words for focus, errors and outcomes.

Pure functions from a screen (name and parameters) to an ``Utterance``; the speaker driver turns an
utterance into sound (a human recording or an espeak-ng clip, by ``prompt_id``). A prompt id names
the prompt and the facts that change its wording (``screen.locker_open.4``), so the same id always
means the same words and a recording made for it stays right.

Numbers are spoken as words ("locker four"), written out here rather than left to the synthesiser, so
no digit character ever reaches the loudspeaker's text: a PIN cannot leak through a prompt, and tests
can prove it by looking for digits. A screen with a code says how many digits are wanted, never which
were typed. Prompts come in two forms: ``touch`` for sighted users, ``keys`` for the audio mode, which
also says which keypad key does what.

What a citizen collects or returns is shown on the screen but never said: the loudspeaker is heard by
whoever stands nearby, so a return's prompts say how many items were recognised, never which.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from num2words import num2words

from kioskd.ui.frame import Layout, day_names, locker_position, opening_groups
from kioskd.ui.identity_prompts import IDENTITY_PROMPTS
from kioskd.ui.identity_screens import tries_left
from kioskd.ui.messages import N_, language_name, translate, translate_plural
from kioskd.ui.model import Button
from kioskd.ui.screens import (
    CLOSE_TASKS,
    CODE_REASONS,
    ERROR_REASONS,
    ERROR_TEXTS,
    RETRYABLE_REASONS,
    TAG_NOTICE_TEXTS,
    error_heading,
    locker_purpose,
    param_int,
    tag_notice,
)
from kioskd.ui.service_screens import CONFIRM_CONTENTS, DEVICE_NAMES, DEVICE_STATES, DOOR_WORDS, RESULTS

# Belgian French counts septante and nonante; the kiosk speaks as its town does
_NUMBER_LOCALES = {"nl": "nl", "fr": "fr_BE", "en": "en"}
_DIGITS = re.compile(r"\d+")
_SLUG = re.compile(r"[^a-z0-9_.-]+")


@dataclass(frozen=True)
class Utterance:
    prompt_id: str  # stable name: file name of a recording or cached clip, e.g. "screen.attract.touch"
    lang: str
    text: str


# ---- numbers and free text as words -------------------------------------------------------------


@cache
def number_words(value: int, lang: str, *, ordinal: bool = False) -> str:
    return num2words(value, lang=_NUMBER_LOCALES.get(lang, "en"), to="ordinal" if ordinal else "cardinal")


def spell_digits(text: str, lang: str) -> str:
    """Digits in free text (a phone number in the contact line) read one by one, as words."""
    return _DIGITS.sub(lambda m: " ".join(number_words(int(d), lang) for d in m.group()), text)


def slug(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-") or "x"


# ---- places and times ---------------------------------------------------------------------------


def where_words(layout: Layout, locker: int, lang: str) -> str:
    """"on the left, second row": how a person would say where a door is, from the bank's layout."""
    place = locker_position(layout, locker)
    if place is None:
        return ""
    row, rows, column = place
    columns = len({p[2] for p in layout.lockers})
    if columns == 1:
        across = ""
    elif column == 1:
        across = translate(lang, "speech.where.left")
    elif column == columns:
        across = translate(lang, "speech.where.right")
    elif columns % 2 == 1 and column == (columns + 1) // 2:
        across = translate(lang, "speech.where.middle")
    else:
        across = translate(lang, "speech.where.column", column=number_words(column, lang))
    if rows == 1:
        down = ""
    elif row == 1:
        down = translate(lang, "speech.where.top_row")
    elif row == rows:
        down = translate(lang, "speech.where.bottom_row")
    else:
        down = translate(lang, "speech.where.row", nth=number_words(row, lang, ordinal=True))
    return ", ".join(part for part in (across, down) if part)


def _hour_words(hours: int, lang: str) -> str:
    if lang == "en":  # "four p.m." rather than "sixteen o'clock"
        return number_words(hours % 12 or 12, lang)
    words = number_words(hours, lang)
    if lang == "fr" and words.endswith("un"):  # une heure, vingt et une heures: "heure" is feminine
        words += "e"
    return words


def _time_words(text: str, lang: str) -> str:
    hours, minutes = (int(part) for part in text.split(":"))
    if lang == "en" and (hours, minutes) == (12, 0):
        return translate(lang, "speech.time.noon")
    if lang == "fr" and hours == 1 and minutes == 0:
        return translate(lang, "speech.time.one_hour")
    if minutes == 0:
        text = translate(lang, "speech.time.hour", hour=_hour_words(hours, lang))
    else:
        text = translate(lang, "speech.time.hour_minute", hour=_hour_words(hours, lang),
                         minute=number_words(minutes, lang))
    if lang == "en":
        text += " a.m." if hours < 12 else " p.m."
    return text


def opening_hours_words(hours: tuple[tuple[str, tuple[str, ...]], ...], lang: str) -> str:
    """The desk's hours as sentences, consecutive days with the same hours said once."""
    if not hours:
        return ""
    names = day_names(lang, "wide")
    sentences = []
    for first, last, spans in opening_groups(hours):
        days = names[first] if first == last else translate(lang, "speech.hours.days", first=names[first],
                                                            last=names[last])
        ranges = [translate(lang, "speech.hours.range", start=_time_words(span.split("-")[0], lang),
                            end=_time_words(span.split("-")[1], lang)) for span in spans]
        joined = " {} ".format(translate(lang, "speech.and")).join(ranges)
        sentences.append(_sentence(f"{days[:1].upper()}{days[1:]}: {joined}"))
    return " ".join([translate(lang, "speech.hours.intro"), *sentences])


# ---- one prompt per screen ----------------------------------------------------------------------



class _Prompt:
    """Collects sentences and the facts that make up the prompt's id."""

    def __init__(self, screen: str, lang: str, keys: bool) -> None:
        self.lang, self.keys = lang, keys
        self.id_parts = [screen]
        self.sentences: list[str] = []

    def t(self, msgid: str, **params: object) -> str:
        return translate(self.lang, msgid, **params)

    def say(self, msgid: str, **params: object) -> None:
        self.sentences.append(self.t(msgid, **params))

    def say_n(self, msgid: str, plural_id: str, n: int, **params: object) -> None:
        """The sentence for a count: numbers in words, and the singular form in the language's own words."""
        self.sentences.append(translate_plural(self.lang, msgid, plural_id, n, **params))

    def fact(self, part: object) -> None:
        self.id_parts.append(slug(str(part)))

    def keys_hint(self, msgid: str, **params: object) -> None:
        """A sentence only the audio mode gets: which key does what here."""
        if self.keys:
            self.say(msgid, **params)

    def touch_hint(self, msgid: str, **params: object) -> None:
        if not self.keys:
            self.say(msgid, **params)

    def words(self, value: int) -> str:
        return number_words(value, self.lang)

    def utterance(self) -> Utterance:
        prompt_id = ".".join(["screen", *self.id_parts, "keys" if self.keys else "touch"])
        # a title has no full stop on screen, but the voice needs one to pause
        text = " ".join(_sentence(s) for s in self.sentences if s.strip())
        return Utterance(prompt_id, self.lang, text.replace("\u00a0", " "))


def _sentence(text: str) -> str:
    """A full stop if it has none, and a capital: a count in words may begin it ("two of three items…")."""
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text[-1] in ".?!:;…" else f"{text}."


def _attract(p: _Prompt, params: Mapping, layout: Layout) -> None:
    if p.keys:
        p.say("speech.attract.keys")
    else:
        p.say("attract.title")
        p.say("speech.attract.touch")


def _method(p: _Prompt, params: Mapping, layout: Layout) -> None:
    p.say("method.title")
    if params.get("qr_available"):
        p.fact("qr")
        p.say("speech.method.choices_qr")
    else:
        p.say("speech.method.choices_pin")
    p.keys_hint("speech.keys.move")


def _pin(p: _Prompt, params: Mapping, layout: Layout) -> None:
    length = param_int(params, "length") or 8
    p.fact(length)
    if p.keys:
        p.say("speech.pin.keys", length=p.words(length))
    else:
        p.say("speech.pin.touch", length=p.words(length))


def _scan(p: _Prompt, params: Mapping, layout: Layout) -> None:
    p.say("scan.instruction")
    p.say("scan.hint")
    p.keys_hint("speech.keys.back")


def _checking(p: _Prompt, params: Mapping, layout: Layout) -> None:
    p.say("checking.wait")


_LOCKER_SPOKEN = {"pickup": (N_("speech.locker_open"), N_("speech.locker_open.any")),
                  "return": (N_("speech.locker_open.return"), N_("speech.locker_open.return_any")),
                  "load": (N_("speech.locker_open.load"), N_("speech.locker_open.load_any")),
                  "take_out": (N_("speech.locker_open.take_out"), N_("speech.locker_open.take_out_any"))}


def _locker_open(p: _Prompt, params: Mapping, layout: Layout) -> None:
    locker = param_int(params, "locker")
    purpose = locker_purpose(params)
    if params.get("retry"):
        p.fact("retry")
        p.say("locker_open.retry")
    if locker is not None:
        p.fact(locker)
    if purpose != "pickup":
        p.fact(purpose)
    known, anyone = _LOCKER_SPOKEN[purpose]
    if locker is None:
        p.say(anyone)
    else:
        p.say(known, locker=p.words(locker), where=where_words(layout, locker, p.lang))
    _take_card(p, params)


def _take_card(p: _Prompt, params: Mapping) -> None:
    """After an eID proof the card may still be in the reader: the locker screens remind the citizen."""
    if params.get("take_card"):
        p.fact("take-card")
        p.say("locker.take_card")


def _close_door(p: _Prompt, params: Mapping, layout: Layout) -> None:
    locker = param_int(params, "locker")
    p.fact(locker if locker is not None else "any")
    spoken = p.words(locker) if locker is not None else ""
    if params.get("reminder"):
        p.fact("reminder")
        p.say("close_door.reminder", locker=spoken)
        if params.get("can_extend"):
            p.fact("extend")
            p.keys_hint("speech.extend.keys")
            p.touch_hint("speech.extend.touch")
    else:
        p.say("close_door.title", locker=spoken)
        task = CLOSE_TASKS.get(locker_purpose(params))
        if task is not None:  # the reminder's words are the same for every purpose
            p.fact(locker_purpose(params))
            p.say(task)


def _thanks(p: _Prompt, params: Mapping, layout: Layout) -> None:
    p.say("thanks.title")
    _take_card(p, params)
    locker = param_int(params, "locker")
    if params.get("can_reopen") and locker is not None:
        seconds = param_int(params, "reopen_seconds") or 60
        p.fact(f"reopen-{locker}-{seconds}")
        p.say_n("thanks.reopen_hint", "thanks.reopen_hint.plural", seconds, seconds=p.words(seconds))
        p.keys_hint("speech.keys.move")


def _error(p: _Prompt, params: Mapping, layout: Layout) -> None:
    reason = str(params.get("reason") or "internal")
    if reason not in ERROR_REASONS:
        reason = "internal"
    p.fact(reason)
    p.say(error_heading(reason))
    if reason == "locked_out":
        seconds = param_int(params, "locked_seconds")
        if seconds is None or seconds <= 0:
            p.say("error.locked_out_later")
        else:  # spoken in whole minutes: "in one minute" is clear, and the prompt can be made in advance
            minutes = math.ceil(seconds / 60)
            p.fact(minutes)
            p.say_n("speech.locked_out_minutes", "speech.locked_out_minutes.plural", minutes,
                    minutes=p.words(minutes))
    elif reason == "door_not_opened":
        locker = param_int(params, "locker")
        if locker is None:
            p.say("error.door_not_opened_any")
        else:
            p.fact(locker)
            p.say("error.door_not_opened", locker=p.words(locker))
    elif reason == "card_wrong_pin":
        tries = tries_left(params)
        if tries is None:
            p.say("error.card_wrong_pin_any")
        else:
            p.fact(tries)
            p.say_n("error.card_wrong_pin", "error.card_wrong_pin.plural", tries, tries=p.words(tries))
        p.say("error.card_pin_warning")
    else:
        p.say(ERROR_TEXTS[reason])
    if reason in RETRYABLE_REASONS:
        p.keys_hint("speech.error.keys_retry")
    else:
        p.keys_hint("speech.error.keys_ok")


def _help(p: _Prompt, params: Mapping, layout: Layout) -> None:
    p.say("help.title")
    locker = param_int(params, "locker")
    if locker is not None:
        p.fact(locker)
        p.say("help.locker", locker=p.words(locker))
    tips = ["help.door", "help.code"]
    if params.get("reason") in CODE_REASONS:
        p.fact("code")
        tips.reverse()
    for tip in tips:
        p.say(tip)
    _contact(p, layout)
    p.say("speech.help.keys")


def _contact(p: _Prompt, layout: Layout) -> None:
    p.sentences.append(spell_digits(layout.contact, p.lang) if layout.contact else p.t("common.contact_default"))
    hours = getattr(layout, "opening_hours", ())
    if hours:
        p.sentences.append(opening_hours_words(hours, p.lang))


def _timeout(p: _Prompt, params: Mapping, layout: Layout) -> None:
    seconds = param_int(params, "seconds") or 15
    p.fact(seconds)
    p.say("timeout.title")
    p.say_n("timeout.countdown", "timeout.countdown.plural", seconds, seconds=p.words(seconds))
    if (param_int(params, "extensions_left") or 0) > 0:
        p.keys_hint("speech.extend.keys")
        p.touch_hint("speech.extend.touch")
    else:
        p.fact("last")


def _return_identify(p: _Prompt, params: Mapping, layout: Layout) -> None:
    p.say("return.title")
    p.say("return_identify.tag", place=p.t("return.reader_place"))
    p.touch_hint("speech.return_identify.code_touch")
    p.keys_hint("speech.return_identify.code_keys")
    if params.get("qr_available"):
        p.fact("qr")
        p.say("return_identify.qr")
    p.keys_hint("speech.keys.move")


def _return_tags(p: _Prompt, params: Mapping, layout: Layout) -> None:
    """The news first (a tag refused), then the count; the product is shown but never said."""
    total = max(0, param_int(params, "total") or 0)
    presented = max(0, min(total, param_int(params, "presented") or 0))
    notice = tag_notice(params)
    p.fact(f"{presented}-of-{total}")
    if notice is not None:
        p.fact(notice)
        p.say(TAG_NOTICE_TEXTS[notice])
    p.say_n("return_tags.count", "return_tags.count.plural", total, presented=p.words(presented),
            total=p.words(total))
    if presented >= total:
        p.say("return_tags.all")
        p.touch_hint("speech.return_tags.continue_touch")
        p.keys_hint("speech.return_tags.continue_keys")
        p.keys_hint("speech.keys.move")
    elif presented == 0:
        p.say("return_tags.first", place=p.t("return.reader_place"))
        p.keys_hint("speech.keys.back")
    else:
        p.say("return_tags.next")
        p.touch_hint("speech.return_tags.partial_touch")
        p.keys_hint("speech.return_tags.partial_keys")
        p.keys_hint("speech.keys.move")


def _return_done(p: _Prompt, params: Mapping, layout: Layout) -> None:
    returned = max(0, param_int(params, "returned") or 0)
    outstanding = max(0, param_int(params, "outstanding") or 0)
    p.fact(f"{returned}-{outstanding}")
    p.say_n("return_done.title", "return_done.title.plural", returned, returned=p.words(returned))
    if outstanding > 0:
        p.say_n("return_done.outstanding", "return_done.outstanding.plural", outstanding,
                outstanding=p.words(outstanding))


def _out_of_service(p: _Prompt, params: Mapping, layout: Layout) -> None:
    p.say("out_of_service.title")
    p.say("out_of_service.text")
    _contact(p, layout)


# ---- staff ----------------------------------------------------------------------------------------
# Reservation ids and product names are on the screen, never in a screen's prompt (an id is digits, and a
# screen prompt is made in advance): the prompts say counts; the audio focus on an item says its product.


def _staff_pin(p: _Prompt, params: Mapping, layout: Layout) -> None:
    p.say("staff_pin.title")
    p.touch_hint("speech.staff_pin.touch")
    p.keys_hint("speech.staff_pin.keys")


def _staff_menu(p: _Prompt, params: Mapping, layout: Layout) -> None:
    """The counts, not the name: the loudspeaker is heard by whoever stands nearby."""
    to_load = max(0, param_int(params, "to_load") or 0)
    to_collect = max(0, param_int(params, "to_collect") or 0)
    p.fact(f"{to_load}-{to_collect}")
    p.say("speech.staff_menu.title")
    _to_load(p, to_load)
    _to_collect(p, to_collect)
    p.touch_hint("speech.staff_menu.touch")
    p.keys_hint("speech.keys.move")


def _to_load(p: _Prompt, count: int) -> None:
    if count <= 0:
        p.say("staff_load.empty")
    else:
        p.say_n("speech.staff.to_load", "speech.staff.to_load.plural", count, count=p.words(count))


def _to_collect(p: _Prompt, count: int) -> None:
    if count <= 0:
        p.say("staff_collect.empty")
    else:
        p.say_n("speech.staff.to_collect", "speech.staff.to_collect.plural", count, count=p.words(count))


def _staff_page(p: _Prompt, params: Mapping, count: int, say_count) -> None:
    pages = max(1, param_int(params, "pages") or 1)
    page = max(0, min(pages - 1, param_int(params, "page") or 0))
    p.fact(f"{count}-on-{page + 1}-of-{pages}")
    if pages <= 1:
        say_count(p, count)
        return
    p.say("staff.page", page=p.words(page + 1), pages=p.words(pages))
    p.say_n("speech.staff.on_page", "speech.staff.on_page.plural", count, count=p.words(count))


def _staff_load(p: _Prompt, params: Mapping, layout: Layout) -> None:
    loaded = params.get("loaded")
    locker = param_int(loaded, "locker") if isinstance(loaded, Mapping) else None
    if locker is not None:  # the news first; the reservation's id is shown, not said
        p.fact(f"loaded-{locker}")
        p.say("speech.staff_load.loaded", locker=p.words(locker))
    p.say("staff_load.title")
    items = [i for i in params.get("items") or () if isinstance(i, Mapping) and i.get("id")]
    _staff_page(p, params, len(items), _to_load)
    if items:
        p.touch_hint("speech.staff_load.touch")
        p.keys_hint("speech.staff_load.keys")
    p.say("staff_load.qr_hint")
    if not items:
        p.keys_hint("speech.keys.back")


def _staff_collect(p: _Prompt, params: Mapping, layout: Layout) -> None:
    emptied = param_int(params, "emptied")
    if emptied is not None:
        p.fact(f"emptied-{emptied}")
        p.say("staff_collect.emptied", locker=p.words(emptied))
    p.say("staff_collect.title")
    lockers = [i for i in params.get("lockers") or () if isinstance(i, Mapping) and param_int(i, "locker") is not None]
    _staff_page(p, params, len(lockers), _to_collect)
    if lockers:
        p.touch_hint("speech.staff_collect.touch")
        p.keys_hint("speech.staff_collect.keys")
    else:
        p.keys_hint("speech.keys.back")


# ---- technician service mode ----------------------------------------------------------------------
# Short: the screen's title and its key fact, numbers in words. No name, reservation id, tag or log line is said
# (the loudspeaker is heard by whoever stands nearby); they are on the screen. Made on first use, not in advance.


def _down(p: _Prompt, params: Mapping, device: str) -> None:
    """"Camera: not working", said only when the device being tested does not work."""
    if params.get("state") in ("down", "off"):
        p.fact(str(params.get("state")))
        p.say("service.device_state", device=p.t(DEVICE_NAMES[device]), state=p.t(DEVICE_STATES[params["state"]]))


def _count_param(params: Mapping, key: str) -> int:
    return max(0, param_int(params, key) or 0)


def _service_home(p: _Prompt, params: Mapping, layout: Layout) -> None:
    doors_open, lockers = _count_param(params, "doors_open"), _count_param(params, "lockers")
    alarms = [a for a in params.get("alarms") or () if isinstance(a, Mapping) and a.get("kind")] \
        if isinstance(params.get("alarms"), list | tuple) else []
    p.fact(f"{doors_open}-of-{lockers}-{len(alarms)}")
    p.say("service_home.title")
    p.say("service_home.doors_open", open=p.words(doors_open), total=p.words(lockers))
    if alarms:
        p.say_n("service_home.alarms", "service_home.alarms.plural", len(alarms), count=p.words(len(alarms)))
    else:
        p.say("service_home.no_alarms")
    p.keys_hint("speech.keys.move")


def _service_lockers(p: _Prompt, params: Mapping, layout: Layout) -> None:
    p.say("service_lockers.title")
    test = params.get("relay_test")
    if isinstance(test, Mapping):
        done, total = _count_param(test, "done"), _count_param(test, "total")
        p.fact(f"test-{min(done, total)}-of-{total}")
        p.say_n("service_lockers.progress", "service_lockers.progress.plural", total, done=p.words(min(done, total)),
                total=p.words(total))
    p.keys_hint("speech.keys.move")


def _service_locker(p: _Prompt, params: Mapping, layout: Layout) -> None:
    locker = param_int(params, "locker")
    door = params.get("door") if params.get("door") in DOOR_WORDS else None
    result = params.get("result") if params.get("result") in RESULTS else None
    p.fact(f"{locker if locker is not None else 'any'}-{door or 'unknown'}-{result or 'none'}")
    p.say("service_locker.title", locker=p.words(locker) if locker is not None else "")
    if result is not None:
        p.say(RESULTS[result])
    p.say("service_locker.door", door=p.t(DOOR_WORDS[door]) if door else p.t("service.door.unknown"))
    p.keys_hint("speech.keys.move")


def _service_confirm(p: _Prompt, params: Mapping, layout: Layout) -> None:
    if params.get("what") == "relay_test":
        count = _count_param(params, "count")
        p.fact(f"relay-test-{count}")
        p.say_n("service_confirm.relay_test", "service_confirm.relay_test.plural", count, count=p.words(count))
        p.say("service_confirm.relay_test_how")
    else:
        locker = param_int(params, "locker")
        contents = params.get("contents")
        p.fact(f"open-{locker if locker is not None else 'any'}-{contents if contents in CONFIRM_CONTENTS else 'x'}")
        if locker is None:
            p.say("service_confirm.open_any")
        else:
            p.say("service_confirm.open_locker", locker=p.words(locker))
        if contents in CONFIRM_CONTENTS:  # what is inside, never the reservation's id
            p.say("service_confirm.inside", contents=p.t(CONFIRM_CONTENTS[contents]))
            p.say("service_confirm.opens_on_it")
    p.say("service_confirm.recorded")
    p.keys_hint("speech.keys.move")


def _service_tests(p: _Prompt, params: Mapping, layout: Layout) -> None:
    """The title, and the result a technician waits for: whether the test sound was played, the card reader."""
    p.say("service_tests.title")
    audio, card = params.get("audio"), params.get("card")
    if isinstance(audio, Mapping):
        if audio.get("state") == "played":
            volume = max(0, min(100, param_int(audio, "volume") or 0))
            p.fact(f"audio-{volume}")
            p.say("speech.service_tests.audio_played", volume=p.words(volume))
        else:
            p.fact("audio-down")
            p.say("service_tests.audio_down")
    if isinstance(card, Mapping):
        readers = card.get("readers") if isinstance(card.get("readers"), list | tuple) else []
        if card.get("state") == "ok" and readers:
            present = bool(card.get("card_present") is True)
            p.fact(f"card-{len(readers)}-{'card' if present else 'no-card'}")
            p.say_n("speech.service_tests.readers", "speech.service_tests.readers.plural", len(readers),
                    count=p.words(len(readers)))
            if present:
                p.say("service_tests.card_present")
            else:
                p.say("service_tests.no_card")
        elif card.get("state") == "down":
            p.fact("card-down")
            p.say("service_tests.card_down")
        else:
            p.fact("card-none")
            p.say("service_tests.card_none")
    p.keys_hint("speech.keys.move")


def _service_rfid(p: _Prompt, params: Mapping, layout: Layout) -> None:
    reads = _count_param(params, "reads")
    p.fact(reads)
    p.say("service_rfid.instruction")
    _down(p, params, "rfid")
    if reads:
        p.say_n("service_rfid.reads", "service_rfid.reads.plural", reads, count=p.words(reads))
    p.keys_hint("speech.keys.back")


def _service_camera(p: _Prompt, params: Mapping, layout: Layout) -> None:
    reads = [r for r in params.get("reads") or () if isinstance(r, Mapping)] \
        if isinstance(params.get("reads"), list | tuple) else []
    p.fact(len(reads))
    p.say("service_camera.instruction")
    _down(p, params, "camera")
    if reads:
        p.say_n("speech.service_camera.reads", "speech.service_camera.reads.plural", len(reads),
                count=p.words(len(reads)))
    p.keys_hint("speech.keys.back")


def _service_log(p: _Prompt, params: Mapping, layout: Layout) -> None:
    pages = max(1, param_int(params, "pages") or 1)
    page = max(0, min(pages - 1, param_int(params, "page") or 0))
    p.fact(f"{page + 1}-of-{pages}")
    p.say("service_log.title")
    if pages > 1:
        p.say("staff.page", page=p.words(page + 1), pages=p.words(pages))
    p.keys_hint("speech.keys.move")


_SCREENS = {
    "attract": _attract, "method": _method, "pin": _pin, "scan": _scan, "checking": _checking,
    "locker_open": _locker_open, "close_door": _close_door, "thanks": _thanks, "error": _error, "help": _help,
    "timeout": _timeout, "return_identify": _return_identify, "return_tags": _return_tags,
    "return_done": _return_done, "out_of_service": _out_of_service, "staff_pin": _staff_pin,
    "staff_menu": _staff_menu, "staff_load": _staff_load, "staff_collect": _staff_collect,
    "service_home": _service_home, "service_lockers": _service_lockers, "service_locker": _service_locker,
    "service_confirm": _service_confirm, "service_tests": _service_tests, "service_rfid": _service_rfid,
    "service_camera": _service_camera, "service_log": _service_log, **IDENTITY_PROMPTS,
}
SCREENS_WITH_PROMPTS = tuple(_SCREENS)


def screen_prompt(screen: str, params: Mapping | None, lang: str, layout: Layout, *, keys: bool) -> Utterance:
    """The prompt spoken when ``screen`` appears; ``keys`` selects the audio mode's wording."""
    try:
        fill = _SCREENS[screen]
    except KeyError:
        raise ValueError(f"no prompt for screen {screen!r}") from None
    prompt = _Prompt(screen, lang, keys)
    fill(prompt, params or {}, layout)
    return prompt.utterance()


# ---- focus, hints and other short prompts ---------------------------------------------------------

_TOGGLES = ("audio", "large_text")


def focus_prompt(button: Button, lang: str) -> Utterance:
    """What the audio mode says when keypad focus lands on a button.

    A language button is said in its own language by that language's voice ("Français"), as a
    French speaker listening to a Dutch screen would need.
    """
    if button.action.startswith("lang:"):
        code = button.action.split(":", 1)[1]
        return Utterance(f"focus.lang.{slug(code)}", code, language_name(code))
    if button.speech is not None:  # a label with an id in it: the button says what it is in words instead
        text = _DIGITS.sub(lambda m: number_words(int(m.group()), lang), button.speech)
        digest = hashlib.sha1(text.encode()).hexdigest()[:10]
        return Utterance(f"focus.{slug(button.action.split(':', 1)[0])}.{digest}", lang, text)
    label = spell_digits(button.label, lang)
    numbers = "".join(f".{n}" for n in _DIGITS.findall(button.label))
    if button.action in _TOGGLES:
        state = "on" if button.selected else "off"
        text = translate(lang, "speech.toggle", label=label, state=translate(lang, _STATES[state]))
        return Utterance(f"focus.{slug(button.action)}.{state}", lang, text)
    if not button.enabled:
        text = translate(lang, "speech.unavailable", label=label)
        return Utterance(f"focus.{slug(button.action)}{numbers}.disabled", lang, text)
    return Utterance(f"focus.{slug(button.action)}{numbers}", lang, label)


_STATES = {"on": N_("speech.state.on"), "off": N_("speech.state.off")}
HINTS = {
    "hold_five": N_("speech.hint.hold_five"),  # a key pressed on the start screen, audio mode off
    "audio_on": N_("speech.hint.audio_on"),
    "not_here": N_("speech.hint.not_here"),  # a key with no use on this screen
    "code_complete": N_("speech.hint.code_complete"),
    "code_erased": N_("speech.hint.code_erased"),
    "volume": N_("speech.hint.volume"),
    "audio_test": N_("speech.hint.audio_test"),  # service mode's audio test
}


def hint_prompt(name: str, lang: str) -> Utterance:
    """A short spoken hint that is not a screen: e.g. how to start the audio guide."""
    try:
        msgid = HINTS[name]
    except KeyError:
        raise ValueError(f"unknown hint {name!r}") from None
    return Utterance(f"hint.{name}", lang, translate(lang, msgid))
