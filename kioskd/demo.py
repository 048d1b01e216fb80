"""The simulator: ``make demo``.

With a display it opens the kiosk in a window, with a hardware panel beside it to act as the
lockers, the camera and the RFID reader, demo reservations loaded. Without a display it runs a
scripted tour headless, writes a screenshot of each step into a folder, prints where, and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kioskd.app import headless
from kioskd.ui.simpanel import DEMO_BADGE, DEMO_TAG, DEMO_TECHNICIAN_BADGE

DEMO_PINS = {"R-1001": ("room-key", 1, "40213377"), "R-1002": ("vouchers", 2, "51627384"),
             "R-1003": ("party-material", 7, "62738495"), "R-1004": ("passport", 3, "73849506"),
             "R-1005": ("vouchers", 5, "84950617")}


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
    changes.append({"type": "badge", "role": "staff", **DEMO_STAFF})
    changes.append({"type": "badge", "role": "technician", **DEMO_TECHNICIAN})
    changes += [{"type": "reservation", "id": rid, "product": product, "status": "awaiting_stock", "pin": pin}
                for rid, (product, pin) in DEMO_AWAITING.items()]
    changes[-1]["tags"] = ["0A1B2C3D51"]  # the second room key is a loan too
    return changes


def run_tour(config: str, data_dir: Path, out: Path) -> list[Path]:
    """A scripted walk through every screen in three languages, screenshot per step."""
    from kioskd.events import DeviceStatus
    from kioskd.sim import Harness

    if data_dir.exists():
        shutil.rmtree(data_dir)
    out.mkdir(parents=True, exist_ok=True)
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
        k.type_code("73849506")
        shot("error-strong-required-nl")
        k.press("help")
        shot("help-nl")
        k.press("back")
        k.press("ok")
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
        k.press(f"load:{next(iter(DEMO_AWAITING))}")
        locker = k.kiosk.state.locker
        k.open_door(locker)
        k.close_door(locker)
        shot("staff-loaded-nl")
        k.press("restart")
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


class SimulatorWindow:
    """The kiosk plus the hardware panel; panel clicks drive the Sim devices, never the flows."""

    def __init__(self, config_path: str, data_dir: Path, prompts_dir: Path | None = None) -> None:
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
        return True

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
        print(f"Technician: present the technician badge ({DEMO_TECHNICIAN_BADGE}), PIN {DEMO_TECHNICIAN['pin']}: "
              "service mode.", flush=True)
        try:
            self.parts.kiosk.run(stop, on_tick=self.refresh_panel)
        finally:
            self.parts.close()


def run_window(config_path: str, data_dir: Path, prompts_dir: Path | None = None) -> int:
    import signal

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    window = SimulatorWindow(config_path, data_dir, prompts_dir)
    try:
        window.run(stop)
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kioskd-demo", description=__doc__)
    parser.add_argument("--config", default="config/sim.toml")
    parser.add_argument("--data-dir", default="var/demo")
    parser.add_argument("--out", default="screenshots/tour", help="where the headless tour writes screenshots")
    parser.add_argument("--tour", action="store_true", help="run the scripted tour even with a display")
    parser.add_argument("--window", action="store_true", help="open the window even where no display is detected")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    if args.tour or (headless() and not args.window):
        os.environ["SDL_VIDEODRIVER"] = "dummy"
        out = Path(args.out).resolve()
        print("No display: running the scripted tour headless.", flush=True)
        shots = run_tour(args.config, Path(args.data_dir) / "tour", out)
        print(f"{len(shots)} screenshots written to {out}")
        return 0
    return run_window(args.config, Path(args.data_dir) / "window", Path(args.data_dir).resolve() / "prompts")


if __name__ == "__main__":
    sys.exit(main())
