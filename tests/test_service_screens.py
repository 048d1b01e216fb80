"""The technician's service screens: what they say and offer for the flow's params, and that no params break them."""

import dataclasses
import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import pygame  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from kioskd.ui.gallery import LAYOUTS, LOG_LINES, SAMPLE_LOCKERS, layout_variant, service_lockers_sample  # noqa: E402
from kioskd.ui.model import Label  # noqa: E402
from kioskd.ui.render import Renderer  # noqa: E402
from kioskd.ui.screens import NO_BACK_SCREENS, SERVICE_SCREENS, build_screen  # noqa: E402
from kioskd.ui.service_screens import LOG_PAGE_SIZE, service_log_page_size  # noqa: E402
from kioskd.ui.theme import MIN_TOUCH_MM  # noqa: E402

LANDSCAPE, PORTRAIT = LAYOUTS["landscape"], LAYOUTS["portrait"]
HEADER = {"lang:nl", "lang:fr", "lang:en"}


@pytest.fixture(scope="module", autouse=True)
def fonts():
    pygame.font.init()
    yield


def actions(screen, params, layout=LANDSCAPE, lang="en"):
    return {b.action for b in build_screen(screen, params, lang, layout).buttons()}


def test_every_service_screen_has_log_out_no_help_and_back_except_home_and_confirm():
    for screen in SERVICE_SCREENS:
        found = actions(screen, {})
        assert "help" not in found and found >= HEADER, screen
        assert ("back" in found) == (screen not in ("service_home", "service_confirm")), screen
        assert ("restart" in found) == (screen != "service_confirm"), screen
    assert {"service_home", "service_confirm"} <= set(NO_BACK_SCREENS)
    model = build_screen("service_home", {}, "nl", LANDSCAPE)
    assert model.button("restart").label == "Afmelden"


def test_home_offers_lockers_tests_and_log_on_both_panels():
    for layout in (LANDSCAPE, PORTRAIT):
        assert actions("service_home", {}, layout) == HEADER | {"restart", "service:lockers", "service:tests",
                                                                "service:log"}


def test_home_says_alarms_devices_and_network_in_words():
    params = {"name": "An", "doors_open": 2, "lockers": 9,
              "alarms": [{"kind": "door_forced", "locker": 4}] + [{"kind": "tamper"}] * 5,
              "devices": [{"name": "camera", "state": "down", "detail": "busy"},
                          {"name": "locks", "state": "ok", "detail": ""}, {"name": "cards", "state": "off"}],
              "sync": {"state": "offline", "since": "14:05"}, "outbox": {"pending": 3, "oldest_minutes": 12}}
    texts = build_screen("service_home", params, "en", PORTRAIT).texts()
    assert "Service mode · An" in texts and "Doors open: 2 of 9" in texts and "6 alarms" in texts
    assert "Door forced open: locker 4" in texts and "and 3 more" in texts  # four lines at most
    assert "Camera: not working" in texts and "Working: Locks" in texts and "Not configured: Card reader" in texts
    assert "Network: offline since 14:05" in texts and "To send: 3 events, oldest 12 min" in texts


@pytest.mark.parametrize("layout_name", ["landscape", "portrait"])
@pytest.mark.parametrize("size", ["normal", "large"])
def test_the_grid_has_a_button_per_locker_placed_like_the_bank(layout_name, size):
    layout = layout_variant(layout_name, size)
    model = build_screen("service_lockers", {"lockers": service_lockers_sample()}, "fr", layout)
    cells = {int(b.action.split(":")[1]): b for b in model.buttons() if b.action.startswith("locker:")}
    assert set(cells) == {p[0] for p in SAMPLE_LOCKERS}
    for number, row, column, _size in SAMPLE_LOCKERS:
        x, y, _w, _h = cells[number].rect
        for other, orow, ocolumn, _osize in SAMPLE_LOCKERS:
            ox, oy, _ow, _oh = cells[other].rect
            assert (row < orow) == (y < oy) and (column < ocolumn) == (x < ox), (number, other)
    assert all(min(b.rect[2:]) >= MIN_TOUCH_MM * model.metrics.px_per_mm - 1 for b in cells.values())


def test_open_and_flagged_lockers_stand_out_in_words_and_style():
    model = build_screen("service_lockers", {"lockers": service_lockers_sample()}, "en", LANDSCAPE)
    assert model.button("locker:4").label == "4 · open\nreturned items"
    assert model.button("locker:3").label == "3 · closed\nout of service"
    assert model.button("locker:1").label == "1 · closed\nempty"
    for n in (3, 4, 6, 8):
        assert model.button(f"locker:{n}").style == "cell_alert" and model.button(f"locker:{n}").selected
    assert model.button("locker:1").style == "cell" and not model.button("locker:1").selected


def test_relay_test_button_only_when_no_test_runs_and_progress_in_words():
    lockers = service_lockers_sample({1: "opened", 5: "not_opened"})
    idle = build_screen("service_lockers", {"lockers": lockers, "relay_test": None}, "en", LANDSCAPE)
    assert idle.button("relay_test").label == "Test relays"
    running = build_screen("service_lockers", {"lockers": lockers, "relay_test": {"done": 3, "total": 7,
                                                                                  "running": True}}, "en", LANDSCAPE)
    assert running.button("relay_test") is None and "Relay test: 3 of 7" in running.texts()
    assert running.button("locker:5").label == "5 · closed\ntest: did not open"
    assert running.button("locker:5").style == "cell_alert"
    done = build_screen("service_lockers", {"lockers": lockers, "relay_test": {"done": 7, "total": 7,
                                                                               "running": False}}, "en", LANDSCAPE)
    assert done.button("relay_test") is not None and "Relay test: 7 of 7" in done.texts()


def test_a_locker_missing_from_the_layout_goes_after_the_others():
    lockers = [*service_lockers_sample(), {"locker": 12, "door": "closed", "contents": "empty", "flags": []}]
    model = build_screen("service_lockers", {"lockers": lockers}, "en", LANDSCAPE)
    assert model.button("locker:12").rect[1] > model.button("locker:9").rect[1]


@pytest.mark.parametrize("layout_name", ["landscape", "portrait"])
def test_a_bank_too_big_for_20_mm_cells_is_paged_not_shrunk(layout_name):
    bank = tuple((n, 1 + (n - 1) // 12, 1 + (n - 1) % 12, "S") for n in range(1, 61))
    layout = dataclasses.replace(LAYOUTS[layout_name], lockers=bank, large_text=True)
    lockers = [{"locker": n, "door": "closed", "contents": "empty", "flags": []} for n in range(1, 61)]
    seen = set()
    page = 0
    while True:
        model = build_screen("service_lockers", {"lockers": lockers, "page": page}, "nl", layout)
        cells = [b for b in model.buttons() if b.action.startswith("locker:")]
        assert cells and all(min(b.rect[2:]) >= MIN_TOUCH_MM * model.metrics.px_per_mm - 1 for b in cells)
        report = Renderer(pygame.Surface((layout.width, layout.height))).text_report(model)
        assert not [t for t in report if t.truncated]
        seen |= {b.action for b in cells}
        if model.button("next") is None:
            break
        page += 1
    assert seen == {f"locker:{n}" for n in range(1, 61)}


@pytest.mark.parametrize("flags, label", [([], "Take out of service"), (["flapping"], "Take out of service"),
                                          (["out_of_service"], "Put back in service"),
                                          (["suspect"], "Put back in service")])
def test_the_toggle_label_flips_with_the_flags(flags, label):
    model = build_screen("service_locker", {"locker": 3, "flags": flags}, "en", LANDSCAPE)
    assert model.button("service_toggle").label == label


def test_open_is_hidden_while_the_relay_is_pulsed_and_results_are_in_words():
    params = {"locker": 6, "size": "M", "door": "closed", "contents": "ready", "reservation": "R-1002", "flags": []}
    assert build_screen("service_locker", {**params, "result": "pulsed"}, "en", LANDSCAPE).button("open") is None
    model = build_screen("service_locker", {**params, "result": "not_opened"}, "en", LANDSCAPE)
    assert model.button("open").label == "Open door"
    texts = model.texts()
    assert "Locker 6" in texts and "Size: M (medium)" in texts and "Contents: pickup waiting (R-1002)" in texts
    assert "The door did not open: check the lock and its wiring" in texts
    assert "Relay pulsed, waiting for the door…" in build_screen("service_locker", {**params, "result": "pulsed"},
                                                                 "en", LANDSCAPE).texts()


def test_confirm_says_what_is_inside_and_words_the_primary_action():
    full = build_screen("service_confirm", {"what": "open", "locker": 4, "contents": "ready",
                                            "reservation": "R-1002"}, "en", LANDSCAPE)
    assert {b.action for b in full.buttons()} == HEADER | {"confirm", "cancel"}
    assert full.button("confirm").label == "Open" and full.button("confirm").style == "primary"
    texts = full.texts()
    assert "Open locker 4?" in texts and "Inside: a pickup waiting (R-1002)." in texts
    assert "This is recorded in your name." in texts
    empty = build_screen("service_confirm", {"what": "open", "locker": 5, "contents": "empty"}, "en", LANDSCAPE)
    assert not any(t.startswith("Inside") for t in empty.texts())
    test = build_screen("service_confirm", {"what": "relay_test", "count": 1}, "fr", LANDSCAPE)
    assert "Tester le relais d’un casier vide\u00a0?" in test.texts()
    assert test.button("confirm").label == "Lancer le test"
    assert "Test the relays of 5 empty lockers?" in build_screen("service_confirm", {"what": "relay_test", "count": 5},
                                                                 "en", LANDSCAPE).texts()


def test_tests_offers_a_button_per_test_and_shows_the_results():
    found = actions("service_tests", {})
    assert {"test:rfid", "test:camera", "test:cards", "test:audio"} <= found
    params = {"devices": [{"name": "camera", "state": "down", "detail": "busy"}],
              "audio": {"state": "played", "volume": 80, "detail": ""},
              "card": {"state": "ok", "readers": ["ACS ACR39U", "Alcor"], "card_present": False, "detail": ""}}
    model = build_screen("service_tests", params, "en", PORTRAIT)
    texts = model.texts()
    assert "Test sound played at 80\u00a0% volume — did you hear it?" in texts
    assert "Card test: 2 readers; no card" in texts and "Readers: ACS ACR39U, Alcor" in texts
    assert model.button("test:camera").label == "Camera\nnot working" and model.button("test:camera").icon
    none = build_screen("service_tests", {"card": {"state": "none"}}, "en", PORTRAIT).texts()
    assert "Card test: no reader found" in none


def test_rfid_shows_valid_and_garbled_frames_newest_first():
    frames = [{"at": "14:06:31", "valid": True, "uid": "••••••2C3D"},
              {"at": "14:06:29", "valid": False, "problem": "bad checksum"}]
    model = build_screen("service_rfid", {"state": "ok", "protocol": "EM4100", "reads": 1, "frames": frames}, "en",
                         LANDSCAPE)
    texts = model.texts()
    assert texts.index("14:06:31 · tag ••••••2C3D") < texts.index("14:06:29 · rejected: bad checksum")
    assert "Protocol: EM4100 · 1 tag read" in texts and "RFID reader: working" in texts


def test_camera_shows_the_decodes_with_their_length():
    model = build_screen("service_camera", {"state": "ok", "frames": 40, "reads": [
        {"at": "14:08:12", "text": "eyJhbG…", "length": 212}]}, "en", LANDSCAPE)
    assert "14:08:12 · eyJhbG… (212 characters)" in model.texts() and "40 frames scanned" in model.texts()


def test_the_log_shows_a_whole_page_at_normal_size_and_says_when_lines_are_cut():
    lines = list(LOG_LINES)
    assert len(lines) == LOG_PAGE_SIZE
    for name in ("landscape", "portrait"):
        for size in ("normal", "large"):
            layout = layout_variant(name, size)
            for lang in ("nl", "fr", "en"):
                model = build_screen("service_log", {"lines": lines, "page": 1, "pages": 3}, lang, layout)
                shown = [w for w in model.widgets if isinstance(w, Label) and w.align == "left"]
                if size == "normal":
                    assert len(shown) == LOG_PAGE_SIZE, (name, lang)
                assert len(shown) >= 6
                if len(shown) < LOG_PAGE_SIZE:  # the title says how many of the page's lines are shown
                    assert any(f"{len(shown)}/{LOG_PAGE_SIZE}" in t for t in model.texts()), (name, size, lang)
                assert all(w.text == line or w.text.endswith("…") for w, line in zip(shown, lines, strict=False))
            assert service_log_page_size(layout) >= (LOG_PAGE_SIZE if size == "normal" else 6)
    assert {"prev", "next"} <= actions("service_log", {"lines": lines, "page": 1, "pages": 3})
    assert "prev" not in actions("service_log", {"lines": lines, "page": 0, "pages": 3})


garbage = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                    max_size=4), max_leaves=12)
KEYS = ("name", "doors_open", "lockers", "alarms", "devices", "sync", "outbox", "relay_test", "locker", "size", "door",
        "contents", "reservation", "flags", "result", "what", "count", "card", "audio", "state", "detail", "protocol",
        "reads", "frames", "lines", "page", "pages", "test", "kind", "valid", "uid", "at", "text", "length")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(screen=st.sampled_from(SERVICE_SCREENS), params=st.dictionaries(st.sampled_from(KEYS), garbage, max_size=8),
       lang=st.sampled_from(("nl", "fr", "en", "de")))
def test_garbage_params_never_crash(screen, params, lang):
    model = build_screen(screen, params, lang, LANDSCAPE)
    assert model.texts() and "restart" in {b.action for b in model.buttons()} | {"restart"}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lockers=st.lists(st.fixed_dictionaries({"locker": st.integers(-3, 40), "door": garbage, "contents": garbage,
                                               "flags": garbage, "test": garbage}), max_size=20))
def test_garbled_locker_lists_still_give_one_cell_per_locker(lockers):
    model = build_screen("service_lockers", {"lockers": lockers}, "fr", PORTRAIT)
    cells = {b.action for b in model.buttons() if b.action.startswith("locker:")}
    assert cells == {f"locker:{entry['locker']}" for entry in lockers}
