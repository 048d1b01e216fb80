#!/usr/bin/env python3
"""Benchmark: what the Belgian eID costs at the kiosk, by card generation, and card-in → relay end to end.

Prints one JSON document. Figures are medians over repeated runs, each beside a baseline from the same process:
- ``read_and_verify_ms`` per key kind (``ec``: applet 1.8 cards, ECDSA P-384; ``rsa``: applet 1.7, RSA 2048):
  ``kioskd.drivers.eid_card.read_card`` over an emulated card (every APDU of the real sequence, the chain to
  the root and the identity signature), against the baseline ``verify_identity`` alone on the same files
  (the cryptography floor), so the ratio is what the APDU protocol and parsing add.
- ``card_to_relay_ms``: a passport pickup in the harness, from the card going into the Sim reader to the relay
  pulse (reader thread, flow, keyed-hash match, journal commit), against the baseline of the PIN typed for a
  code-only product to its relay pulse in the same harness.

The card's transport time is not in these figures: a real reader adds its own time per APDU (the three files
take about a dozen READ BINARY commands of 0xF8 bytes), which only a reader on the bench can tell.

    .venv/bin/python tools/bench/eid_read.py [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

from stats import figure, ratio  # noqa: E402

from kioskd.drivers.eid_card import read_card, read_identity_files  # noqa: E402
from kioskd.eid_testcard import TestPki, make_card  # noqa: E402
from kioskd.eid_verify import verify_identity  # noqa: E402

HOLDER = "85073003328"


def read_and_verify(kind: str, runs: int) -> dict:
    pki = TestPki.generate(kind)
    roots = [pki.root]
    card = make_card(pki, HOLDER, "Peeters", "An")
    files = read_identity_files(card.transmit)
    now = time.time()
    read, verify = [], []
    for _ in range(runs):
        started = time.perf_counter()
        result = read_card(card.transmit, roots, now)
        read.append((time.perf_counter() - started) * 1000)
        assert result.outcome == "ok", result
        started = time.perf_counter()
        verify_identity(*files, roots, now)
        verify.append((time.perf_counter() - started) * 1000)
    value, base = figure(read), figure(verify)
    return {"value": value, "baseline_verify_only": base, "ratio": ratio(value["median"], base["median"])}


def _ready(rid: str, product: str, locker: int, pin: str, **extra) -> dict:
    return {"type": "reservation", "id": rid, "product": product, "status": "ready", "locker": locker, "pin": pin,
            **extra}


def card_to_relay(runs: int) -> dict:
    from kioskd.sim import Harness

    eid, pin = [], []
    with tempfile.TemporaryDirectory() as tmp, Harness(config=ROOT / "config/sim.toml", data_dir=Path(tmp)) as k:
        for n in range(runs):
            k.load([_ready(f"P-{n}", "passport", 5, f"{61000000 + n}", national_number=HOLDER),
                    _ready(f"V-{n}", "vouchers", 6, f"{62000000 + n}")])
            k.press("pickup")
            k.press("method:pin")
            k.type_code(f"{61000000 + n}")
            k.press("prove:eid")
            started = time.perf_counter()
            k.insert_card(HOLDER)
            eid.append((time.perf_counter() - started) * 1000)
            assert k.screen == "locker_open", k.screen
            k.open_door(5)
            k.close_door(5)
            k.remove_card()
            k.press("done")
            k.press("pickup")
            k.press("method:pin")
            k.type_code(f"{62000000 + n}", ok=False)
            started = time.perf_counter()
            k.press("ok")
            pin.append((time.perf_counter() - started) * 1000)
            assert k.screen == "locker_open", k.screen
            k.open_door(6)
            k.close_door(6)
            k.press("done")
    value, base = figure(eid), figure(pin)
    return {"value": value, "baseline_pin_ok_to_relay": base, "ratio": ratio(value["median"], base["median"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)
    result = {"bench": "eid_read", "runs": args.runs,
              "read_and_verify_ms": {kind: read_and_verify(kind, args.runs) for kind in ("ec", "rsa")},
              "card_to_relay_ms": card_to_relay(max(5, args.runs // 3))}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
