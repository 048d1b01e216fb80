"""The simulator: ``make demo``.

With a display it opens the kiosk in a window, with a hardware panel beside it to act as the
lockers, the camera and the RFID reader, demo reservations loaded. Without a display it runs a
scripted tour headless, writes a screenshot of each step into a folder, prints where, and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kioskd.app import headless

DEMO_PINS = {"R-1001": ("room-key", 1, "40213377"), "R-1002": ("vouchers", 2, "51627384"),
             "R-1003": ("party-material", 7, "62738495"), "R-1004": ("passport", 3, "73849506"),
             "R-1005": ("vouchers", 5, "84950617")}


def demo_changes(now: datetime) -> list[dict]:
    expires = (now + timedelta(days=7)).isoformat()
    return [{"type": "reservation", "id": rid, "product": product, "status": "ready", "locker": locker,
             "pin": pin, "expires_at": expires} for rid, (product, locker, pin) in DEMO_PINS.items()]


def run_tour(config: str, data_dir: Path, out: Path) -> list[Path]:
    """A scripted walk through every screen in three languages, screenshot per step."""
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
        k.press("done")
        k.press("lang:fr")
        k.press("pickup")
        k.press("method:pin")
        k.type_code("84950617")
        k.advance(20)
        shot("locker-open-retry-fr")
        k.advance(20)
        shot("door-not-opened-help-fr")
        k.press("done")
        k.press("lang:en")
        k.press("return")
        shot("return-info-en")
    return shots


def run_window(config_path: str, data_dir: Path) -> int:
    from kioskd.app import build
    from kioskd.changes import ChangeError, apply_changes
    from kioskd.config import load_config
    from kioskd.sim import SIM_PRIVATE_KEY
    from kioskd.tokens import load_private_key, mint
    from kioskd.ui.simpanel import SimAction, SimPanel

    config = load_config(config_path)
    panel = SimPanel(tuple(s.number for s in config.lockers), tuple(DEMO_PINS))
    parts = build(config, data_dir=data_dir, panel=panel)
    key = load_private_key(str(Path(config_path).parent / SIM_PRIVATE_KEY))
    now = datetime.now(UTC)
    try:
        apply_changes(parts.store, demo_changes(now), key=parts.key, pin_length=config.identification.pin_length,
                      now=now.timestamp(), source="demo")
    except ChangeError as exc:
        print(f"demo reservations already present or changed: {exc.problems[0]}")
    print("Demo reservations (PIN codes):")
    for rid, (product, locker, pin) in DEMO_PINS.items():
        print(f"  {rid}  {product:15s} locker {locker}  PIN {pin}")

    def on_panel(event: object) -> bool:
        if not isinstance(event, SimAction):
            return False
        if event.kind == "door":
            number = int(event.arg)
            if parts.lock_bank.door_is_open(number):
                parts.lock_bank.close_door(number)
            else:
                parts.lock_bank.open_door(number)
        elif event.kind == "qr" and parts.camera is not None:
            text = None if event.arg is None else mint(key, event.arg, config.kiosk.id, now.timestamp() + 86400)
            threading.Thread(target=parts.camera.show, args=(text,), daemon=True).start()
        elif event.kind == "tag" and parts.tag_reader is not None:
            threading.Thread(target=parts.tag_reader.present, args=(event.arg,), daemon=True).start()
        return True

    def refresh_panel() -> None:
        for number in parts.lock_bank.relays:
            panel.set_door(number, parts.lock_bank.door_is_open(number))
            panel.set_relay(number, bool(parts.lock_bank.relays[number].value))
        if panel.dirty:
            parts.screen.mark_dirty()

    parts.kiosk.input_hook = on_panel
    stop = threading.Event()
    try:
        parts.kiosk.run(stop, on_tick=refresh_panel)
    except KeyboardInterrupt:
        pass
    finally:
        parts.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kioskd-demo", description=__doc__)
    parser.add_argument("--config", default="config/sim.toml")
    parser.add_argument("--data-dir", default="var/demo")
    parser.add_argument("--out", default="screenshots/tour", help="where the headless tour writes screenshots")
    parser.add_argument("--tour", action="store_true", help="run the scripted tour even with a display")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.tour or headless():
        import os

        os.environ["SDL_VIDEODRIVER"] = "dummy"
        out = Path(args.out).resolve()
        print("No display: running the scripted tour headless.", flush=True)
        shots = run_tour(args.config, Path(args.data_dir) / "tour", out)
        print(f"{len(shots)} screenshots written to {out}")
        return 0
    return run_window(args.config, Path(args.data_dir) / "window")


if __name__ == "__main__":
    sys.exit(main())
