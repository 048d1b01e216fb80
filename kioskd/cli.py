"""``kioskd``: the daemon's entry point. The only place logging is configured."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time

from kioskd.app import StartupError, build
from kioskd.config import EXAMPLE_PLACEHOLDER_PUBLIC_KEY_B64, ConfigError, load_config
from kioskd.logbuffer import RecentLog
from kioskd.secrets import KeyFileError
from kioskd.store import StoreError
from kioskd.systemd import Notifier

log = logging.getLogger("kioskd")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kioskd", description="Run the kiosk daemon.")
    parser.add_argument("--config", default="/etc/kioskd/kioskd.toml", help="TOML configuration file")
    parser.add_argument("--data-dir", help="directory for the database and the kiosk key (overrides kiosk.data_dir)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--check", action="store_true", help="validate the configuration and exit")
    parser.add_argument("--exit-after-ready", action="store_true",
                        help="start, run the self-checks, report ready and exit (for timing and smoke tests)")
    args = parser.parse_args(argv)
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    recent_log = RecentLog()  # the last lines, for the technician's log screen
    logging.getLogger().addHandler(recent_log)
    started = time.monotonic()
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        print("kioskd: refusing to start with an invalid configuration", file=sys.stderr)
        return 2
    if args.check:
        print(f"{args.config}: ok")
        return 0
    notifier = Notifier()
    try:
        parts = build(config, data_dir=args.data_dir, recent_log=recent_log)
    except (StartupError, StoreError, KeyFileError, OSError) as exc:
        print(f"kioskd: cannot start: {exc}", file=sys.stderr)
        return 1
    try:
        problems = self_check(parts)
        ready_ms = (time.monotonic() - started) * 1000
        status = "ready" if not problems else "ready, degraded: " + "; ".join(problems)
        log.info("%s in %.0f ms", status, ready_ms)
        print(f"kioskd: ready in {ready_ms:.0f} ms", flush=True)
        notifier.ready(status)
        if args.exit_after_ready:
            return 0
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        parts.kiosk.run(stop, on_tick=notifier.ping_if_due)
        notifier.stopping()
        return 0
    finally:
        parts.close()


def self_check(parts) -> list[str]:
    """What the kiosk checks before it says READY; a failed optional device degrades, not stops."""
    problems = []
    if not parts.store.integrity_ok():
        raise StoreError(f"{parts.store.path}: integrity check failed")
    if not parts.lock_bank.relays_off():
        raise StartupError("a relay is energised at start")
    if parts.config.identification.qr_public_key == EXAMPLE_PLACEHOLDER_PUBLIC_KEY_B64:
        problems.append("identification.qr_public_key is the example placeholder: every QR code will be refused")
    for name, status in parts.kiosk.devices.items():
        if not status.ok:
            problems.append(f"{name} down ({status.detail})")
    return problems


if __name__ == "__main__":
    sys.exit(main())
