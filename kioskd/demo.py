"""The simulator: ``make demo``.

With a display it opens the kiosk in a window, with a hardware panel beside it to act as the
lockers, the camera and the RFID reader, demo reservations loaded. Without a display it runs a
scripted tour headless, writes a screenshot of each step into a folder, prints where, and exits 0.

Both run beside the reference town-hall server (``townhall serve`` on 127.0.0.1, kioskd/demo_townhall.py):
the kiosk is enrolled there and syncs with it, so a reservation made in the staff console can be loaded
and collected at the simulated kiosk. The tour does exactly that; in the window it is the newcomer's turn.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kioskd.app import headless
from kioskd.demo_townhall import DemoError
from kioskd.ui.simpanel import DEMO_BADGE, DEMO_HOLDER, DEMO_STRANGER, DEMO_TAG, DEMO_TECHNICIAN_BADGE

DEMO_PINS = {"R-1001": ("room-key", 1, "40213377"), "R-1002": ("vouchers", 2, "51627384"),
             "R-1003": ("party-material", 7, "62738495"), "R-1004": ("passport", 3, "73849506"),
             "R-1005": ("vouchers", 5, "84950617"), "R-1008": ("driving-licence", 8, "95061728")}
# the personal documents name their holder (a test number); the kiosk keeps only its keyed hash
DEMO_HOLDERS = {"R-1004": DEMO_HOLDER[0], "R-1008": DEMO_HOLDER[0]}


# the room key and the party material are loans: their items carry RFID tags and come back to the kiosk
DEMO_LOAN_TAGS = {"R-1001": [DEMO_TAG], "R-1003": ["0A1B2C3D4F", "0A1B2C3D50"]}
# a demo staff member (enrolled like any other: no default credentials in the kiosk itself) and two orders
# waiting to be loaded
DEMO_STAFF = {"uid": DEMO_BADGE, "pin": "2604", "name": "Demo staff"}
# and a demo technician for service mode, enrolled the same way
DEMO_TECHNICIAN = {"uid": DEMO_TECHNICIAN_BADGE, "pin": "1357", "name": "Demo technician"}
DEMO_AWAITING = {"R-1006": ("vouchers", "31415926"), "R-1007": ("room-key", "27182818")}


def demo_changes(now: datetime) -> list[dict]:
    expires = (now + timedelta(days=7)).isoformat()
    changes = [{"type": "reservation", "id": rid, "product": product, "status": "ready", "locker": locker,
                "pin": pin, "expires_at": expires} for rid, (product, locker, pin) in DEMO_PINS.items()]
    for change in changes:
        if change["id"] in DEMO_LOAN_TAGS:
            change["tags"] = DEMO_LOAN_TAGS[change["id"]]
        if change["id"] in DEMO_HOLDERS:
            change["national_number"] = DEMO_HOLDERS[change["id"]]
    changes.append({"type": "badge", "role": "staff", **DEMO_STAFF})
    changes.append({"type": "badge", "role": "technician", **DEMO_TECHNICIAN})
    changes += [{"type": "reservation", "id": rid, "product": product, "status": "awaiting_stock", "pin": pin}
                for rid, (product, pin) in DEMO_AWAITING.items()]
    changes[-1]["tags"] = ["0A1B2C3D51"]  # the second room key is a loan too
    return changes


def run_tour(config: str, data_dir: Path, out: Path, townhall=None) -> list[Path]:
    """A scripted walk through every screen in three languages, screenshot per step. With ``townhall`` (a
    started DemoTownhall) the kiosk syncs with it, and a reservation goes from the console to the kiosk and
    back as collected; ``config`` is then the kiosk's sync config (see ``with_townhall``)."""
    from kioskd.events import DeviceStatus
    from kioskd.sim import Harness

    if townhall is None and data_dir.exists():  # with a town hall the kiosk was just enrolled there
        shutil.rmtree(data_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("[0-9][0-9]-*.png"):  # a shorter tour must not leave the last one's pictures behind
        old.unlink()
    shots: list[Path] = []

    with Harness(config=config, data_dir=data_dir) as k:
        k.load(demo_changes(datetime.now(UTC)))

        def shot(name: str) -> None:
            shots.append(k.screenshot(out / f"{len(shots) + 1:02d}-{name}.png"))
            print(f"  {len(shots):2d} {k.screen:12s} {name}", flush=True)

        for lang in ("nl", "fr", "en"):
            k.press(f"lang:{lang}")
            shot(f"attract-{lang}")
        k.press("pickup")
        shot("method-en")
        k.press("method:pin")
        k.type_code("4021", ok=False)
        shot("pin-half-typed-en")
        k.type_code("3377")
        shot("locker-open-en")
        k.open_door(1)
        shot("close-door-en")
        k.close_door(1)
        shot("thanks-en")
        k.press("done")
        k.press("lang:fr")
        k.press("pickup")
        k.press("method:qr")
        shot("scan-fr")
        k.show_qr(k.token_for("R-1002"))
        shot("locker-open-qr-fr")
        k.show_qr(None)
        k.open_door(2)
        k.close_door(2)
        shot("thanks-fr")
        k.press("done")
        k.press("pickup")
        k.press("method:pin")
        k.type_code("00000000")
        shot("error-unknown-code-nl")
        k.press("ok")
        k.press("method:pin")
        k.type_code("73849506")  # the passport: the PIN says which, the eID or itsme must say who
        shot("prove-nl")
        k.press("prove:eid")
        shot("eid-insert-nl")
        k.insert_card(*DEMO_STRANGER)
        shot("error-identity-mismatch-nl")
        k.press("help")
        shot("help-nl")
        k.press("back")
        k.remove_card()
        k.press("ok")
        if townhall is None:  # with the town hall, itsme is shown on a reservation the town hall knows (below)
            k.press("prove:itsme")
            shot("itsme-nl")
            k.press("back")
        k.press("prove:eid")
        k.insert_card(*DEMO_HOLDER)
        shot("locker-open-eid-take-card-nl")
        k.open_door(3)
        k.close_door(3)
        k.remove_card()
        k.press("done")
        k.press("lang:fr")
        k.press("pickup")
        k.press("method:pin")
        k.type_code("95061728")  # the driving licence, proven with itsme this time (the Sim town hall)
        if townhall is None:
            k.press("prove:itsme")
            shot("itsme-fr")
            k.itsme_confirm(DEMO_HOLDER[0])
            shot("locker-open-itsme-fr")
        else:  # the demo town hall never heard of R-1008 (loaded at the kiosk only): the eID proves it
            k.press("prove:eid")
            k.insert_card(*DEMO_HOLDER)
            shot("locker-open-eid-fr")
        k.open_door(8)
        k.close_door(8)
        k.remove_card()
        k.press("done")
        k.press("lang:nl")
        k.press("pickup")
        k.press("method:pin")
        k.advance(45)
        shot("timeout-nl")
        k.press("restart")
        k.press("lang:fr")
        k.press("pickup")
        k.press("method:pin")
        k.type_code("84950617")
        k.advance(20)
        shot("locker-open-retry-fr")
        k.advance(20)
        shot("door-not-opened-help-fr")
        k.press("restart")
        k.press("lang:en")
        k.press("return")
        shot("return-identify-en")
        k.present_tag(DEMO_TAG)  # the key collected above comes back: its tag finds the loan
        shot("return-tags-en")
        k.press("continue")
        shot("return-locker-open-en")
        locker = k.kiosk.state.locker
        k.open_door(locker)
        k.close_door(locker)
        shot("return-done-en")
        k.press("done")
        k.present_tag(DEMO_BADGE)  # staff: badge, PIN, then load what waits
        k.type_code(DEMO_STAFF["pin"][:2], ok=False)
        shot("staff-pin-nl")
        k.type_code(DEMO_STAFF["pin"][2:])
        shot("staff-menu-nl")
        k.press("load")
        shot("staff-load-nl")
        press_listed(k, f"load:{next(iter(DEMO_AWAITING))}")
        locker = k.kiosk.state.locker
        k.open_door(locker)
        k.close_door(locker)
        shot("staff-loaded-nl")
        k.press("restart")
        if townhall is not None:
            console_round_trip(k, townhall, shot, shots, out)
        k.press("lang:en")
        k.present_tag(DEMO_TECHNICIAN_BADGE)  # a technician: service mode
        k.type_code(DEMO_TECHNICIAN["pin"])
        shot("service-home-en")
        k.press("service:lockers")
        shot("service-lockers-en")
        k.press("locker:4")
        k.press("open")
        shot("service-confirm-open-en")
        k.press("confirm")
        k.open_door(4)
        shot("service-locker-opened-en")
        k.close_door(4)
        k.press("back")
        k.press("back")
        k.press("service:tests")
        k.press("test:cards")
        shot("service-tests-en")
        k.press("test:rfid")
        k.present_tag(DEMO_TAG)
        k.write_serial(b"\x020A1B2C3D4E00\x03")  # a frame with a wrong checksum
        k.advance(1.0)  # the service screens re-read the reader every second
        shot("service-rfid-en")
        k.press("back")
        k.press("back")
        k.press("service:log")
        shot("service-log-en")
        k.press("restart")
        k.press("large_text")
        shot("attract-large-text-nl")
        k.press("pickup")
        k.press("method:pin")
        k.type_code("402", ok=False)
        shot("pin-large-text-nl")
        k.press("restart")
        k.key("5", hold=2.0)  # the audio guide, started from the keypad
        k.key("down")
        shot("attract-audio-guide-focus-nl")
        k.key("enter")
        k.key("down")
        k.key("down")
        shot("method-audio-guide-focus-nl")
        k.key("back")
        k.kiosk.post(DeviceStatus("locks", False, "demo"))
        k.settle()
        shot("out-of-service-nl")
    return shots


def press_listed(k, action: str) -> None:
    """Tap ``action`` on a paged staff list, turning pages until it shows (the feed may have added items)."""
    from kioskd.sim import HarnessError

    for _ in range(50):
        try:
            k.press(action)
            return
        except HarnessError:
            k.press("next")
    raise RuntimeError(f"{action} not on any page of {k.screen}")


def _wait(what: Callable[[], object], timeout: float, k=None) -> object:
    deadline = time.monotonic() + timeout
    while True:
        if k is not None:
            k.settle()
        value = what()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def console_round_trip(k, townhall, shot: Callable[[str], None], shots: list[Path], out: Path) -> str:
    """Staff create a reservation in the console (form POSTs with log-in and CSRF); the kiosk pulls it; staff
    load it at the kiosk; a citizen collects it with the PIN the console showed; the console says collected.
    Screenshots of the console pages (headless Chromium, when there) join ``shots``."""
    from kioskd.demo_townhall import DEMO_USER, ConsoleClient, console_screenshots

    kiosk_id = k.config.kiosk.id
    console = ConsoleClient(townhall.url)
    try:
        console.log_in(DEMO_USER, townhall.password)
        rid, pin = console.create_reservation(
            kiosk=kiosk_id, product="vouchers", kind="pickup", citizen_name="Demo citizen",
            citizen_email="citizen@example.org", placement="awaiting_stock")
        print(f"  console: {DEMO_USER} created {rid} (vouchers for Demo citizen, awaiting stock), PIN {pin}",
              flush=True)
        started = time.monotonic()
        k.parts.sync.wake()
        query = "SELECT status, locker FROM reservations WHERE id = ?"
        if not _wait(lambda: k.store.conn.execute(query, (rid,)).fetchone(), 30, k):
            raise RuntimeError(f"the kiosk did not receive {rid} from the town hall")
        print(f"  kiosk:   received {rid} from the town hall after {time.monotonic() - started:.1f} s", flush=True)
        k.log_in(DEMO_BADGE, DEMO_STAFF["pin"])
        k.press("load")
        press_listed(k, f"load:{rid}")
        locker = k.kiosk.state.locker
        shot("townhall-load-open-nl")
        k.open_door(locker)
        k.close_door(locker)
        shot("townhall-loaded-nl")
        k.press("restart")
        print(f"  kiosk:   staff loaded {rid} into locker {locker}", flush=True)
        k.press("lang:en")
        k.press("pickup")
        k.press("method:pin")
        k.type_code(pin)
        shot("townhall-locker-open-en")
        k.open_door(locker)
        k.close_door(locker)
        shot("townhall-thanks-en")
        k.press("done")
        print(f"  kiosk:   the citizen typed the PIN and took {rid} out of locker {locker}", flush=True)
        started = time.monotonic()
        k.parts.sync.wake()
        if not _wait(lambda: console.reservation_status(rid) == "collected", 30, k):
            raise RuntimeError(f"the town hall did not see {rid} collected")
        print(f"  console: {rid} collected (the town hall knew {time.monotonic() - started:.1f} s later)",
              flush=True)
        itsme_round_trip(k, townhall, shot)
    finally:
        console.close()
    number = len(shots) + 1
    pages = [(f"{number:02d}-console-reservation-collected.png", f"/console/reservations/{rid}"),
             (f"{number + 1:02d}-console-kiosk.png", f"/console/kiosks/{kiosk_id}"),
             (f"{number + 2:02d}-console-events.png", f"/console/events?kiosk={kiosk_id}")]
    for path in console_screenshots(townhall.url, DEMO_USER, townhall.password, pages, out):
        shots.append(path)
        print(f"  {len(shots):2d} {'console':12s} {path.stem[3:]}", flush=True)
    return rid


def itsme_round_trip(k, townhall, shot: Callable[[str], None], rid: str = "TH-2004") -> None:
    """A personal document proven with itsme through the real town hall: ``townhall demo-data`` made the driving
    licence TH-2004 for the demo holder; staff load it, the citizen names it with its QR code, chooses itsme, and
    the kiosk shows the QR the town hall got from itsme (the demo's protocol double); the "app" scans and
    confirms; the town hall runs CIBA to the end and tells the kiosk only "match"."""
    query = "SELECT status FROM reservations WHERE id = ?"
    if not _wait(lambda: k.store.conn.execute(query, (rid,)).fetchone(), 30, k):
        raise RuntimeError(f"the kiosk did not receive {rid} from the town hall")
    k.log_in(DEMO_BADGE, DEMO_STAFF["pin"])
    k.press("load")
    press_listed(k, f"load:{rid}")
    locker = k.kiosk.state.locker
    k.open_door(locker)
    k.close_door(locker)
    k.press("restart")
    k.press("lang:en")
    k.press("pickup")
    k.press("method:qr")
    k.show_qr(k.token_for(rid))  # the demo town hall signs with the simulator's test key: the same token
    k.show_qr(None)
    k.press("prove:itsme")
    if not _wait(lambda: k.kiosk.state.itsme_qr, 15, k):
        raise RuntimeError(f"the town hall did not open an itsme session for {rid}: {k.kiosk.state.error}")
    shot("townhall-itsme-en")
    townhall.itsme_app.scan()
    townhall.itsme_app.confirm(DEMO_HOLDER[0])
    started = time.monotonic()
    if not _wait(lambda: k.screen == "locker_open", 30, k):
        raise RuntimeError(f"itsme did not open {rid}'s locker: {k.screen} {k.kiosk.state.error}")
    print(f"  itsme:   the holder confirmed in the app; the town hall said \"match\" "
          f"{time.monotonic() - started:.1f} s later and locker {locker} opened", flush=True)
    shot("townhall-itsme-locker-open-en")
    k.open_door(locker)
    k.close_door(locker)
    k.press("done")


def with_townhall(config: str, kiosk_dir: Path, server_dir: Path, *, port: int = 0):
    """Start the demo town hall (server_dir) and enrol the kiosk (kiosk_dir) there: (server, sync config).

    Both keep their state between runs; when either lost it, both start afresh (a kiosk's cursor and token
    only make sense with the server that gave them). The caller stops the server."""
    from kioskd.config import load_config
    from kioskd.ctl import main as kioskctl
    from kioskd.demo_townhall import DEMO_USER, DemoError, DemoTownhall, kiosk_sync_config
    from kioskd.sim import SIM_PRIVATE_KEY
    from townhall.itsme_double import start_itsme_double

    kiosk_id = load_config(config).kiosk.id
    token = kiosk_dir / "sync.token"
    if not ((server_dir / "townhall.db").exists() and token.exists()):
        for directory in (server_dir, kiosk_dir):
            if directory.exists():
                shutil.rmtree(directory)
    # the itsme service itself is played by a protocol double in this process (never the real itsme): the
    # town hall talks CIBA to it over HTTP, and the panel's "itsme" buttons act as the citizen's app
    _, itsme_app = start_itsme_double(server_dir.resolve() / "itsme-rp.key")
    server = DemoTownhall(server_dir, kiosk_id=kiosk_id, sim_key=Path(config).parent / SIM_PRIVATE_KEY, port=port,
                          itsme=itsme_app.townhall_section)
    server.itsme_app = itsme_app
    print(f"Town hall: demo data in {server.directory}", flush=True)
    try:
        server.prepare(enrolment_code=not token.exists())
        server.start()
    except BaseException:
        itsme_app.stop()
        raise
    try:
        sync_config = kiosk_sync_config(Path(config), kiosk_dir / "kiosk.toml", data_dir=kiosk_dir,
                                        server=server.url, itsme=True)
        if not token.exists() and kioskctl(["--config", str(sync_config), "enrol", "--server", server.url,
                                            "--code", server.take_enrolment_code()]) != 0:
            raise DemoError("the kiosk could not enrol at the demo town hall")
    except BaseException:
        server.stop()
        raise
    print(f"Town hall running: {server.console_url}  (log in as {DEMO_USER!r}, password "
          f"{server.password!r}; a new one each start)", flush=True)
    print(f"  server log: {server.log}; e-mails to citizens: {server.directory / 'mail'}", flush=True)
    return server, str(sync_config)


class SimulatorWindow:
    """The kiosk plus the hardware panel; panel clicks drive the Sim devices, never the flows."""

    def __init__(self, config_path: str, data_dir: Path, prompts_dir: Path | None = None, itsme_app=None) -> None:
        from dataclasses import replace

        from kioskd.app import build
        from kioskd.changes import ChangeError, apply_changes
        from kioskd.config import load_config
        from kioskd.sim import SIM_PRIVATE_KEY
        from kioskd.tokens import load_private_key
        from kioskd.ui.simpanel import SimPanel

        self.config = load_config(config_path)
        if prompts_dir is not None and self.config.speech.cache_dir is None:  # where `make demo` made the clips
            self.config = replace(self.config, speech=replace(self.config.speech, cache_dir=prompts_dir))
        self.itsme_app = itsme_app  # townhall.itsme_double.ItsmeDouble when the demo town hall runs
        self.panel = SimPanel(tuple(s.number for s in self.config.lockers), tuple(DEMO_PINS))
        self.parts = build(self.config, data_dir=data_dir, panel=self.panel)
        self._key = load_private_key(str(Path(config_path).parent / SIM_PRIVATE_KEY))
        self._now = datetime.now(UTC)
        try:
            apply_changes(self.parts.store, demo_changes(self._now), key=self.parts.key,
                          pin_length=self.config.identification.pin_length, now=self._now.timestamp(), source="demo")
        except ChangeError as exc:
            print(f"demo reservations not reloaded: {exc.problems[0]}")
        self.parts.kiosk.input_hook = self.on_panel

    def on_panel(self, event: object) -> bool:
        from kioskd.tokens import mint
        from kioskd.ui.simpanel import SimAction

        if not isinstance(event, SimAction):
            return False
        locks, parts = self.parts.lock_bank, self.parts
        if event.kind == "door":
            number = int(event.arg)
            (locks.close_door if locks.door_is_open(number) else locks.open_door)(number)
        elif event.kind == "qr" and parts.camera is not None:
            text = None if event.arg is None else mint(self._key, event.arg, self.config.kiosk.id,
                                                       self._now.timestamp() + 86400)
            # the Sim camera waits for its scanner thread; the main loop must not
            threading.Thread(target=parts.camera.show, args=(text,), daemon=True).start()
        elif event.kind == "tag" and parts.tag_reader is not None:
            threading.Thread(target=parts.tag_reader.present, args=(event.arg,), daemon=True).start()
        elif event.kind == "card" and parts.card_reader is not None:
            self._card(event.arg)
        elif event.kind == "itsme" and parts.itsme is not None:
            self._itsme_app(event.arg)
        return True

    def _itsme_app(self, number: str | None) -> None:
        """The citizen's itsme app: with the town hall, its protocol double scans and confirms (the town hall
        then finishes CIBA and the kiosk hears "match" or "mismatch"); alone, the Sim link answers itself."""
        app = self.itsme_app
        if app is None:
            (self.parts.itsme.reject() if number is None else self.parts.itsme.confirm(number))
            return
        from townhall.itsme_double import DoubleError

        try:
            app.scan()
            (app.reject() if number is None else app.confirm(number))
        except DoubleError as exc:
            print(f"itsme app: {exc} (choose itsme at the kiosk first)", flush=True)

    def _card(self, number: str | None) -> None:
        """Insert a test eID card (signed by the simulator's test PKI) for ``number``, or take the card out."""
        from kioskd.eid_testcard import make_card

        reader = self.parts.card_reader
        if number is None:
            reader.remove()
            return
        person = next(p for p in (DEMO_HOLDER, DEMO_STRANGER) if p[0] == number)
        reader.remove()
        reader.insert(make_card(reader.pki, *person))

    def refresh_panel(self) -> None:
        locks = self.parts.lock_bank
        for number in locks.relays:
            self.panel.set_door(number, locks.door_is_open(number))
            self.panel.set_relay(number, bool(locks.relays[number].value))

    def run(self, stop: threading.Event) -> None:
        print("Demo reservations (PIN codes):")
        for rid, (product, locker, pin) in DEMO_PINS.items():
            tags = f"  tags {', '.join(DEMO_LOAN_TAGS[rid])} (a loan: return it with its tag)" \
                if rid in DEMO_LOAN_TAGS else ""
            print(f"  {rid}  {product:15s} locker {locker}  PIN {pin}{tags}", flush=True)
        print(f"Staff: present the staff badge ({DEMO_BADGE}) on the panel, PIN {DEMO_STAFF['pin']}; "
              f"{', '.join(DEMO_AWAITING)} wait to be loaded.", flush=True)
        print("Personal documents: R-1004 (passport) and R-1008 (driving licence) open only after the eID card or "
              "itsme proves their holder: use the panel's 'eID holder' or 'itsme holder' ('other' is someone "
              "else).", flush=True)
        print(f"Technician: present the technician badge ({DEMO_TECHNICIAN_BADGE}), PIN {DEMO_TECHNICIAN['pin']}: "
              "service mode.", flush=True)
        try:
            self.parts.kiosk.run(stop, on_tick=self.refresh_panel)
        finally:
            self.parts.close()


def run_window(config_path: str, data_dir: Path, prompts_dir: Path | None = None,
               stop: threading.Event | None = None, itsme_app=None) -> int:
    stop = stop or threading.Event()
    window = SimulatorWindow(config_path, data_dir, prompts_dir, itsme_app)
    try:
        window.run(stop)
    except KeyboardInterrupt:
        pass
    return 0


class _Stopping:
    """SIGTERM ends the demo as Ctrl-C does: before the window runs by KeyboardInterrupt (so every ``finally``
    stops the server), while it runs by its stop event (the main loop finishes its frame and closes)."""

    def __init__(self) -> None:
        import signal

        self.event = threading.Event()
        self.window_running = False
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, *_args) -> None:
        self.event.set()
        if not self.window_running:
            raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kioskd-demo", description=__doc__)
    parser.add_argument("--config", default="config/sim.toml")
    parser.add_argument("--data-dir", default="var/demo")
    parser.add_argument("--out", default="screenshots/tour", help="where the headless tour writes screenshots")
    parser.add_argument("--tour", action="store_true", help="run the scripted tour even with a display")
    parser.add_argument("--window", action="store_true", help="open the window even where no display is detected")
    parser.add_argument("--no-townhall", dest="townhall", action="store_false",
                        help="the kiosk alone, without the reference town-hall server beside it")
    parser.add_argument("--port", type=int, default=8470,
                        help="the town hall's port on 127.0.0.1 in the window mode (taken: any free one; 0: any)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    data = Path(args.data_dir)
    tour = args.tour or (headless() and not args.window)
    stopping = _Stopping()
    server = None
    try:
        if tour:
            os.environ["SDL_VIDEODRIVER"] = "dummy"
            out = Path(args.out).resolve()
            print("No display: running the scripted tour headless." if not args.tour else "The scripted tour.",
                  flush=True)
            config, kiosk_dir = args.config, data / "tour"
            if kiosk_dir.exists():
                shutil.rmtree(kiosk_dir)
            if args.townhall:  # the tour always starts from scratch, on any free port
                shutil.rmtree(data / "tour-townhall", ignore_errors=True)
                server, config = with_townhall(args.config, kiosk_dir, data / "tour-townhall")
            shots = run_tour(config, kiosk_dir, out, townhall=server)
            print(f"{len(shots)} screenshots written to {out}")
            return 0
        kiosk_dir = data / "window"
        config = args.config
        if args.townhall:
            server, config = with_townhall(args.config, kiosk_dir, data / "townhall", port=args.port)
            kiosk_id = load_kiosk_id(args.config)
            print(f"Try it: in the console, \"New reservation\" for kiosk {kiosk_id} (awaiting stock); "
                  "within seconds the kiosk has it: present the staff badge, load it, then collect it with the PIN "
                  "the console showed. Ctrl-C (or closing the window) stops both.", flush=True)
        stopping.window_running = True
        return run_window(config, kiosk_dir, data.resolve() / "prompts", stopping.event,
                          itsme_app=server.itsme_app if server is not None else None)
    except KeyboardInterrupt:
        return 0 if stopping.event.is_set() else 130
    except DemoError as exc:
        print(f"kioskd-demo: {exc}\n(`--no-townhall` runs the kiosk alone)", file=sys.stderr)
        return 1
    finally:
        stopping.window_running = False
        if server is not None:
            server.stop()
            print("Town hall stopped.", flush=True)


def load_kiosk_id(config: str) -> str:
    from kioskd.config import load_config

    return load_config(config).kiosk.id


if __name__ == "__main__":
    sys.exit(main())
