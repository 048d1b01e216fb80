"""Every screen and its variants, on the configured landscape and portrait panels, for review and tests.

``sample_screens`` names each screen once with each variant that changes its words or buttons; tests lay
them all out and ``tools/screenshots`` draws them all, in every language and in normal and large text.
``python -m kioskd.ui.gallery OUTDIR`` writes the PNGs without the contact sheet; it needs no display.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from kioskd.ui.screens import ERROR_REASONS, Layout, build_screen

LANGUAGES = ("nl", "fr", "en")
# The Aalter pilot's bank: small doors on top, large ones at the bottom.
SAMPLE_LOCKERS = tuple((row * 3 + column + 1, row + 1, column + 1, "SML"[row]) for row in range(3)
                       for column in range(3))
SAMPLE_CONTACT = "Onthaal gemeentehuis Aalter: 09 325 04 00"
SAMPLE_HOURS = (("mon", ("09:00-12:00",)), ("tue", ("09:00-12:00",)), ("wed", ("09:00-12:00", "14:00-19:00")),
                ("thu", ("09:00-12:00",)), ("fri", ("09:00-12:00",)), ("sat", ("09:00-11:30",)))
# config/sim.toml: a 15.4" landscape panel; config/aalter.example.toml: a 21.5" portrait one
LAYOUTS = {
    "landscape": Layout(1280, 800, SAMPLE_LOCKERS, contact=SAMPLE_CONTACT, screen_mm=(331, 207),
                        opening_hours=SAMPLE_HOURS),
    "portrait": Layout(1080, 1920, SAMPLE_LOCKERS, contact=SAMPLE_CONTACT, screen_mm=(268, 476),
                       opening_hours=SAMPLE_HOURS),
}
TEXT_SIZES = ("normal", "large")
# what the town hall sends for the itsme app (ItsmeStarted.qr): a short link, and a long one with more modules
SAMPLE_ITSME_QR = "https://balie.aalter.be/itsme/s/7f3c9a1e5b2d4e8f9c6a2d1b0e4f7a93"
SAMPLE_ITSME_QR_LONG = ("https://oidc.itsme.services/clientsecurelogin/oidc/authorization?client_id=aalter-kiosk"
                        "&response_type=code&scope=openid%20service%3AAALTER_KIOSK_LOGIN&state=7f3c9a1e5b2d4e8f"
                        "&nonce=9c6a2d1b0e4f7a93&redirect_uri=https%3A%2F%2Fbalie.aalter.be%2Fitsme%2Freturn")


def layout_variant(name: str, text_size: str = "normal") -> Layout:
    return dataclasses.replace(LAYOUTS[name], large_text=text_size == "large")


def sample_screens() -> Iterator[tuple[str, str, Mapping]]:
    """(file stem, screen, params): each screen once, and its variants that change the wording or buttons."""
    yield "attract", "attract", {"qr_available": True, "audio": False, "large_text": False}
    yield "attract-audio", "attract", {"qr_available": True, "audio": True, "large_text": False}
    yield "attract-large_text", "attract", {"qr_available": False, "audio": False, "large_text": True}
    yield "method", "method", {"qr_available": True}
    yield "method-pin_only", "method", {"qr_available": False}
    yield "pin", "pin", {"entered": 3, "length": 8}
    yield "scan", "scan", {}
    yield "checking", "checking", {}
    yield "locker_open", "locker_open", {"locker": 5, "retry": False, "purpose": "pickup"}
    yield "locker_open-retry", "locker_open", {"locker": 8, "retry": True, "purpose": "pickup"}
    yield "locker_open-return", "locker_open", {"locker": 7, "retry": False, "purpose": "return"}
    yield "locker_open-return_retry", "locker_open", {"locker": 7, "retry": True, "purpose": "return"}
    yield "close_door", "close_door", {"locker": 5, "reminder": False, "can_extend": False}
    yield "close_door-return", "close_door", {"locker": 7, "reminder": False, "can_extend": False,
                                              "purpose": "return"}
    yield "close_door-return_reminder", "close_door", {"locker": 7, "reminder": True, "can_extend": True,
                                                       "purpose": "return"}
    yield "close_door-reminder", "close_door", {"locker": 5, "reminder": True, "can_extend": True}
    yield "close_door-reminder_last", "close_door", {"locker": 5, "reminder": True, "can_extend": False}
    yield "thanks", "thanks", {"locker": 5, "can_reopen": True, "reopen_seconds": 60}
    yield "thanks-final", "thanks", {"locker": 5, "can_reopen": False}
    for reason in ERROR_REASONS:
        yield f"error-{reason}", "error", {"reason": reason, "locked_seconds": 150, "locker": 5}
    yield "error-locked_out_seconds", "error", {"reason": "locked_out", "locked_seconds": 45}
    yield "help", "help", {"reason": None, "locker": None, "in_session": False}
    yield "help-door", "help", {"reason": "door_not_opened", "locker": 5, "in_session": True}
    yield "help-code", "help", {"reason": "unknown_code", "locker": None, "in_session": True}
    yield "help-at-door", "help", {"reason": None, "locker": 5, "in_session": True, "at_door": True}
    yield "timeout", "timeout", {"seconds": 15, "extensions_left": 2}
    yield "timeout-last", "timeout", {"seconds": 15, "extensions_left": 0}
    yield "return_identify", "return_identify", {"qr_available": True}
    yield "return_identify-tag_or_code", "return_identify", {"qr_available": False}
    for stem, presented, total, notice in (("first", 0, 3, None), ("some", 1, 3, None), ("all", 2, 2, None),
                                           ("one", 1, 1, None), ("wrong_tag", 1, 3, "wrong_tag"),
                                           ("wrong_tag_first", 0, 2, "wrong_tag"),
                                           ("already_counted", 2, 3, "already_counted"),
                                           ("already_counted_all", 3, 3, "already_counted"), ("many", 7, 12, None)):
        yield f"return_tags-{stem}", "return_tags", {"presented": presented, "total": total, "notice": notice,
                                                     "product": "Feestmateriaal: tafels en stoelen"}
    yield "return_tags-no_product", "return_tags", {"presented": 1, "total": 2, "notice": None, "product": ""}
    yield "return_tags-too_many_to_draw", "return_tags", {"presented": 25, "total": 40, "notice": "wrong_tag",
                                                          "product": ""}
    yield "return_done", "return_done", {"returned": 3, "outstanding": 0, "locker": 7}
    yield "return_done-one", "return_done", {"returned": 1, "outstanding": 0, "locker": 7}
    yield "return_done-partial", "return_done", {"returned": 2, "outstanding": 1, "locker": 7}
    yield "return_done-partial_many", "return_done", {"returned": 1, "outstanding": 11, "locker": 7}
    yield "out_of_service", "out_of_service", {}
    yield from _identity_samples()
    yield from _staff_samples()
    yield "locker_open-load", "locker_open", {"locker": 2, "retry": False, "purpose": "load"}
    yield "locker_open-take_out", "locker_open", {"locker": 7, "retry": True, "purpose": "take_out"}
    yield "close_door-load", "close_door", {"locker": 2, "reminder": False, "can_extend": False, "purpose": "load"}
    yield "close_door-take_out", "close_door", {"locker": 7, "reminder": False, "can_extend": False,
                                                "purpose": "take_out"}
    yield "close_door-load_reminder", "close_door", {"locker": 2, "reminder": True, "can_extend": True,
                                                     "purpose": "load"}


def _identity_samples() -> Iterator[tuple[str, str, Mapping]]:
    """Strong identification: the choice, the card, itsme, the wrong-PIN counts and the card left behind."""
    yield "prove", "prove", {"eid": True, "itsme": True}
    yield "prove-eid_only", "prove", {"eid": True, "itsme": False}
    yield "prove-itsme_only", "prove", {"eid": False, "itsme": True}
    yield "eid_insert", "eid_insert", {}
    yield "eid_reading", "eid_reading", {"pin_pad": False}
    yield "eid_reading-pin_pad", "eid_reading", {"pin_pad": True}
    yield "itsme", "itsme", {"qr": SAMPLE_ITSME_QR}
    yield "itsme-long_code", "itsme", {"qr": SAMPLE_ITSME_QR_LONG}
    yield "itsme-connecting", "itsme", {"qr": ""}
    for tries in (2, 1):
        yield f"error-card_wrong_pin-{tries}_left", "error", {"reason": "card_wrong_pin", "tries_left": tries,
                                                               "locked_seconds": None, "locker": 5}
    yield "locker_open-take_card", "locker_open", {"locker": 5, "retry": False, "purpose": "pickup",
                                                   "take_card": True}
    yield "locker_open-retry_take_card", "locker_open", {"locker": 8, "retry": True, "purpose": "pickup",
                                                         "take_card": True}
    yield "thanks-take_card", "thanks", {"locker": 5, "can_reopen": True, "reopen_seconds": 60, "take_card": True}
    yield "thanks-final_take_card", "thanks", {"locker": 5, "can_reopen": False, "take_card": True}


def _names(nl: str, fr: str, en: str) -> dict:
    return {"nl": nl, "fr": fr, "en": en}


STAFF_ITEMS = (
    {"id": "R-1001", "names": _names("Zaalsleutel", "Clé de salle", "Room key"), "size": "S"},
    {"id": "R-1002", "names": _names("Aalterbonnen", "Chèques Aalter", "Aalter vouchers"), "size": "S"},
    {"id": "R-1003", "names": _names("Klein feestmateriaal: kabels, vlaggen, affiches en polsbandjes",
                                     "Petit matériel de fête\u00a0: câbles, drapeaux, affiches et bracelets",
                                     "Small party material: cables, flags, posters and wristbands"), "size": "L"},
    {"id": "R-1004", "names": _names("Eerste internationaal paspoort", "Premier passeport international",
                                     "First international passport"), "size": "M"},
)
LONG_NAMES = _names("Voorlopig rijbewijs met bijkomende documenten voor de rijschool en het examencentrum",
                    "Permis de conduire provisoire avec documents supplémentaires pour l’auto-école et le centre "
                    "d’examen", "Provisional driving licence with additional documents for the driving school "
                    "and the test centre")
STAFF_LOCKERS = ({"locker": 4, "what": "returned", "id": "L-1"}, {"locker": 9, "what": "expired", "id": "R-1002"},
                 {"locker": 1, "what": "expired", "id": "R-0987"}, {"locker": 8, "what": "returned", "id": "L-12"})


def _staff_samples() -> Iterator[tuple[str, str, Mapping]]:
    """Each staff screen with no, one and a full page of items, paging, the confirmations and long names."""
    items = [dict(i) for i in STAFF_ITEMS]
    long = [{**i, "names": LONG_NAMES, "id": f"R-20{n:02d}"} for n, i in enumerate(items)]
    yield "staff_pin", "staff_pin", {"entered": 0}
    yield "staff_pin-typed", "staff_pin", {"entered": 5}
    yield "staff_pin-full", "staff_pin", {"entered": 12}
    yield "staff_menu", "staff_menu", {"name": "Griet Van den Bossche", "to_load": 3, "to_collect": 1}
    yield "staff_menu-nothing", "staff_menu", {"name": "Jean-Baptiste Vandenbroucke-Delacroix", "to_load": 0,
                                               "to_collect": 0}
    yield "staff_menu-many", "staff_menu", {"name": "An", "to_load": 12, "to_collect": 7}
    yield "staff_load", "staff_load", {"items": items[:2], "page": 0, "pages": 1, "loaded": None}
    yield "staff_load-one", "staff_load", {"items": items[:1], "page": 0, "pages": 1, "loaded": None}
    yield "staff_load-full_page", "staff_load", {"items": items, "page": 0, "pages": 3, "loaded": None}
    yield "staff_load-middle_page_loaded", "staff_load", {"items": items, "page": 1, "pages": 3,
                                                          "loaded": {"id": "R-1001", "locker": 4}}
    yield "staff_load-last_page", "staff_load", {"items": items[:3], "page": 2, "pages": 3, "loaded": None}
    yield "staff_load-long_names", "staff_load", {"items": long, "page": 0, "pages": 2,
                                                  "loaded": {"id": "R-1999", "locker": 9}}
    yield "staff_load-empty", "staff_load", {"items": [], "page": 0, "pages": 1, "loaded": None}
    yield "staff_load-empty_loaded", "staff_load", {"items": [], "page": 0, "pages": 1,
                                                    "loaded": {"id": "R-1004", "locker": 5}}
    yield "staff_collect", "staff_collect", {"lockers": list(STAFF_LOCKERS[:2]), "page": 0, "pages": 1,
                                             "emptied": None}
    yield "staff_collect-full_page", "staff_collect", {"lockers": list(STAFF_LOCKERS), "page": 0, "pages": 2,
                                                       "emptied": None}
    yield "staff_collect-last_page_emptied", "staff_collect", {"lockers": list(STAFF_LOCKERS[:1]), "page": 1,
                                                               "pages": 2, "emptied": 3}
    yield "staff_collect-empty_emptied", "staff_collect", {"lockers": [], "page": 0, "pages": 1, "emptied": 4}
    yield "staff_collect-empty", "staff_collect", {"lockers": [], "page": 0, "pages": 1, "emptied": None}
    yield "error-badge_refused-retry", "error", {"reason": "badge_refused"}
    yield from _service_samples()


# ---- technician service mode ------------------------------------------------------------------------

SERVICE_DEVICES = ({"name": "locks", "state": "ok", "detail": ""},
                   {"name": "rfid", "state": "ok", "detail": "ID-12LA on /dev/ttyUSB0, 9600 baud"},
                   {"name": "camera", "state": "down", "detail": "cannot open /dev/video0: device or resource busy"},
                   {"name": "speech", "state": "ok", "detail": ""},
                   {"name": "cards", "state": "off", "detail": ""})
SERVICE_HOME = {"name": "Pieter De Smet", "doors_open": 1, "lockers": 9,
                "alarms": [{"kind": "door_left_open", "locker": 4, "device": None},
                           {"kind": "device_down", "locker": None, "device": "camera"}],
                "devices": list(SERVICE_DEVICES), "sync": {"state": "offline", "since": "14:05"},
                "outbox": {"pending": 12, "oldest_minutes": 35}}
_CONTENTS = ("empty", "ready", "empty", "returned", "empty", "expired", "empty", "cancelled", "ready")


def service_lockers_sample(tests: dict[int, str] | None = None) -> list[dict]:
    """The nine sample lockers with a door open, flags and contents, and each a relay test's result if given."""
    lockers = []
    for number in range(1, 10):
        flags = {3: ["out_of_service"], 6: ["suspect", "flapping"], 8: ["flapping"]}.get(number, [])
        lockers.append({"locker": number, "door": "open" if number == 4 else "closed",
                        "contents": _CONTENTS[number - 1], "flags": flags, "test": (tests or {}).get(number)})
    return lockers


LOG_LINES = ("14:02:11 INFO kioskd.sync: sent 12 events to https://balie.aalter.be/api/v1/kiosk/outbox in 0.4 s",
             "14:02:12 WARNING kioskd.drivers.camera: cannot open /dev/video0: device or resource busy",
             "14:03:00 INFO kioskd.flows.pickup: locker 4 released for reservation R-1002",
             "14:03:07 INFO kioskd.journal: door 4 opened",
             "14:05:40 ERROR kioskd.sync: backend unreachable: connection timed out after 10 s; retrying in 60 s",
             "14:06:02 INFO kioskd.drivers.rfid: frame rejected: bad checksum",
             "14:06:30 INFO kioskd.flows.service: technician session started",
             "14:07:01 DEBUG kioskd.runner: timer door_left_open:4 due at 14:12:01")


def _service_samples() -> Iterator[tuple[str, str, Mapping]]:
    """Each service screen, and the variants that change its words or buttons."""
    yield "service_home", "service_home", SERVICE_HOME
    yield "service_home-all_well", "service_home", {
        "name": "An", "doors_open": 0, "lockers": 9, "alarms": [],
        "devices": [{**d, "state": "ok"} for d in SERVICE_DEVICES], "sync": {"state": "online", "since": None},
        "outbox": {"pending": 0, "oldest_minutes": None}}
    yield "service_home-many_alarms", "service_home", {
        **SERVICE_HOME, "name": "", "sync": {"state": "not_configured", "since": None},
        "outbox": {"pending": 1, "oldest_minutes": 2},
        "alarms": [{"kind": "door_forced", "locker": 2}, {"kind": "relay_fault", "locker": 7},
                   {"kind": "sensor_flapping", "locker": 8}, {"kind": "tamper"}, {"kind": "door_not_opened",
                                                                                  "locker": 5},
                   {"kind": "device_down", "device": "rfid"}]}
    yield "service_lockers", "service_lockers", {"lockers": service_lockers_sample(), "relay_test": None}
    yield "service_lockers-relay_test", "service_lockers", {
        "lockers": service_lockers_sample({1: "opened", 5: "not_opened", 7: "pulsed", 9: "waiting"}),
        "relay_test": {"done": 3, "total": 4, "running": True}}
    yield "service_lockers-relay_test_done", "service_lockers", {
        "lockers": service_lockers_sample({1: "opened", 5: "opened", 7: "fault", 9: "opened"}),
        "relay_test": {"done": 4, "total": 4, "running": False}}
    for result in (None, "pulsed", "opened", "closed", "not_opened", "fault", "refused"):
        stem = "service_locker" if result is None else f"service_locker-{result}"
        yield stem, "service_locker", {"locker": 6, "size": "M", "door": "open" if result == "opened" else "closed",
                                       "contents": "ready", "reservation": "R-1002", "flags": [], "result": result}
    yield "service_locker-out_of_service", "service_locker", {
        "locker": 3, "size": "S", "door": "closed", "contents": "expired", "reservation": "R-0987",
        "flags": ["out_of_service", "flapping"], "result": None}
    yield "service_confirm", "service_confirm", {"what": "open", "locker": 4, "contents": "ready",
                                                 "reservation": "R-1002", "count": 0}
    yield "service_confirm-empty", "service_confirm", {"what": "open", "locker": 5, "contents": "empty",
                                                       "reservation": None, "count": 0}
    yield "service_confirm-returned", "service_confirm", {"what": "open", "locker": 4, "contents": "returned",
                                                          "reservation": "L-12", "count": 0}
    yield "service_confirm-relay_test", "service_confirm", {"what": "relay_test", "locker": None,
                                                            "contents": "empty", "reservation": None, "count": 5}
    yield "service_confirm-relay_test_one", "service_confirm", {"what": "relay_test", "locker": None,
                                                                "contents": "empty", "reservation": None, "count": 1}
    yield "service_tests", "service_tests", {"devices": list(SERVICE_DEVICES), "card": None, "audio": None}
    yield "service_tests-results", "service_tests", {
        "devices": list(SERVICE_DEVICES), "audio": {"state": "played", "volume": 80, "detail": ""},
        "card": {"state": "ok", "readers": ["ACS ACR39U ICC Reader 00 00", "Alcor Micro AU9540 01 00"],
                 "card_present": False, "detail": ""}}
    yield "service_tests-failures", "service_tests", {
        "devices": list(SERVICE_DEVICES), "audio": {"state": "down", "volume": 0,
                                                    "detail": "mixer not initialised: no audio device"},
        "card": {"state": "down", "readers": [], "card_present": False,
                 "detail": "SCardEstablishContext: Service not available (0x8010001D)"}}
    yield "service_tests-no_reader", "service_tests", {
        "devices": list(SERVICE_DEVICES), "audio": None,
        "card": {"state": "none", "readers": [], "card_present": False, "detail": ""}}
    frames = [{"at": "14:06:31", "valid": True, "uid": "••••••2C3D", "problem": ""},
              {"at": "14:06:29", "valid": False, "uid": "", "problem": "bad checksum"},
              {"at": "14:06:20", "valid": True, "uid": "••••••A7F0", "problem": ""},
              {"at": "14:06:02", "valid": False, "uid": "", "problem": "frame too short: 9 bytes, expected 16 "
                                                                       "(STX 0x02 … ETX 0x03), resynchronised"}]
    yield "service_rfid", "service_rfid", {"state": "ok", "detail": "", "protocol": "EM4100 ASCII (ID-12LA)",
                                           "reads": 0, "frames": []}
    yield "service_rfid-frames", "service_rfid", {"state": "ok", "detail": "", "protocol": "EM4100 ASCII (ID-12LA)",
                                                  "reads": 2, "frames": frames * 2}
    yield "service_rfid-down", "service_rfid", {"state": "down", "detail": "could not open port /dev/ttyUSB0: "
                                                "[Errno 2] No such file or directory", "protocol": "", "reads": 0,
                                                "frames": []}
    reads = [{"at": "14:08:12", "text": "eyJhbG…", "length": 212}, {"at": "14:08:01", "text": "R-1002", "length": 6},
             {"at": "14:07:55", "text": "https://www.aalter.be/afhalen?id=…", "length": 1}]
    yield "service_camera", "service_camera", {"state": "ok", "detail": "", "frames": 0, "reads": []}
    yield "service_camera-reads", "service_camera", {"state": "ok", "detail": "", "frames": 1, "reads": reads}
    yield "service_camera-down", "service_camera", {"state": "down", "detail": "cannot open /dev/video0: device or "
                                                    "resource busy", "frames": 0, "reads": []}
    yield "service_log", "service_log", {"lines": list(LOG_LINES), "page": 0, "pages": 1}
    yield "service_log-middle", "service_log", {"lines": list(LOG_LINES), "page": 1, "pages": 4}
    yield "service_log-last", "service_log", {"lines": list(LOG_LINES[:3]), "page": 3, "pages": 4}
    yield "service_log-empty", "service_log", {"lines": [], "page": 0, "pages": 1}


def renders(layouts: Iterable[str] = tuple(LAYOUTS), text_sizes: Iterable[str] = TEXT_SIZES,
            languages: Iterable[str] = LANGUAGES, stems: Iterable[str] | None = None):
    """(layout name, text size, stem, screen, lang, layout, model) for every combination asked for."""
    wanted = set(stems) if stems is not None else None
    for layout_name in layouts:
        for text_size in text_sizes:
            layout = layout_variant(layout_name, text_size)
            for stem, screen, params in sample_screens():
                if wanted is not None and stem not in wanted:
                    continue
                for lang in languages:
                    yield layout_name, text_size, stem, screen, lang, layout, build_screen(screen, params, lang, layout)


def write_gallery(out: Path, languages: tuple[str, ...] = LANGUAGES, **select) -> list[Path]:
    """PNGs named ``<layout>-<size>-<stem>-<lang>.png``; ``select`` as for ``renders``."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import pygame

    from kioskd.ui.render import Renderer

    pygame.font.init()
    out.mkdir(parents=True, exist_ok=True)
    renderers: dict[str, Renderer] = {}
    written = []
    for layout_name, text_size, stem, _screen, lang, layout, model in renders(languages=languages, **select):
        renderer = renderers.get(layout_name)
        if renderer is None:
            renderer = renderers[layout_name] = Renderer(pygame.Surface((layout.width, layout.height)))
        renderer.draw(model)
        path = out / f"{layout_name}-{text_size}-{stem}-{lang}.png"
        pygame.image.save(renderer.surface, str(path))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kioskd.ui.gallery", description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    args = parser.parse_args(argv)
    written = write_gallery(args.outdir)
    print(f"{len(written)} screenshots written to {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
