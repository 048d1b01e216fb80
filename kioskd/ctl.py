"""``kioskctl``: the staff and technician command line.

``load`` applies a change file through the same code as the sync feed; ``token`` mints a QR token
with a private key the kiosk itself never holds; ``keygen`` makes such a key pair for a test bench;
``enrol`` gets the kiosk its own sync token from the town hall.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import json
import os
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kioskd import tokens
from kioskd.app import StartupError, resolve_data_dir
from kioskd.catalogue import seed_catalogue
from kioskd.changes import ChangeError, apply_changes
from kioskd.config import ConfigError, load_config
from kioskd.secrets import KeyFileError, load_or_create_key
from kioskd.store import Store, StoreError


def _open(args) -> tuple:
    config = load_config(args.config)
    directory = resolve_data_dir(config, args.data_dir)
    store = Store(directory / "kioskd.db")
    store.bind_to_kiosk(config.kiosk.id)
    seed_catalogue(store)
    with store.transaction() as conn:
        for spec in config.lockers:
            conn.execute("INSERT OR IGNORE INTO lockers (number, size, row, col) VALUES (?, ?, ?, ?)",
                         (spec.number, spec.size, spec.row, spec.column))
    key = load_or_create_key(config.kiosk.key_file or directory / "kiosk.key")
    return config, store, key


def cmd_load(args) -> int:
    path = Path(args.file)
    try:
        changes = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        print(f"{path}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except json.JSONDecodeError as exc:
        print(f"{path}: invalid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}", file=sys.stderr)
        return 1
    config, store, key = _open(args)
    try:
        result = apply_changes(store, changes, key=key, pin_length=config.identification.pin_length,
                               now=time.time(), source=f"kioskctl:{path.name}")
    except ChangeError as exc:
        for problem in exc.problems:
            print(f"{path}: {problem}", file=sys.stderr)
        print(f"{path}: nothing applied", file=sys.stderr)
        return 1
    finally:
        store.close()
    summary = ", ".join(f"{count} {kind}" for kind, count in sorted(result.counts.items())) or "nothing"
    print(f"{path}: applied {summary}")
    return 0


def cmd_token(args) -> int:
    kiosk_id = args.kiosk or load_config(args.config).kiosk.id
    key = tokens.load_private_key(args.key)
    expires = time.time() + args.valid_hours * 3600
    print(tokens.mint(key, args.reservation, kiosk_id, expires))
    return 0


def cmd_keygen(args) -> int:
    key = Ed25519PrivateKey.generate()
    out = Path(args.out)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    print(f"private key written to {out} (keep it at the town hall)")
    print(f"qr_public_key = \"{base64.b64encode(tokens.raw_public_key(key)).decode()}\"")
    return 0


def cmd_outbox(args) -> int:
    _config, store, _key = _open(args)
    try:
        for event in store.outbox(pending_only=not args.all):
            print(json.dumps(event, sort_keys=True))
    finally:
        store.close()
    return 0


def cmd_enrol(args) -> int:
    """Exchange a one-time code for the kiosk's own token, kept in a 0600 file (never the database)."""
    from kioskd.sync import BadResponse, enrol, token_path, write_token

    config = load_config(args.config)
    path = token_path(config.sync, resolve_data_dir(config, args.data_dir))
    server = args.server.rstrip("/")
    try:
        code = args.code if args.code is not None else getpass.getpass("enrolment code: ")
        token, public_key = enrol(server, config.kiosk.id, code.strip(), timeout=args.timeout)
    except BadResponse as exc:
        print(f"kioskctl enrol: {exc}", file=sys.stderr)
        return 1
    write_token(path, token)
    print(f"kiosk {config.kiosk.id} enrolled at {server}; token written to {path} (mode 0600)")
    if config.sync is None:
        print(f"add a [sync] section with server = \"{server}\" to {config.path} to start syncing")
    elif config.sync.server != server:
        print(f"note: {config.path} sync.server is {config.sync.server}, not {server}")
    if public_key and public_key != config.identification.qr_public_key:
        print("the town hall signs QR codes with another key; set in [identification]:")
        print(f"qr_public_key = \"{public_key}\"")
    return 0


def cmd_decode(args) -> int:
    """Decode image files through the kiosk's own pipeline, one JSON line each; exit 1 if any was unreadable."""
    from kioskd.drivers.qr_pipeline import DecodePipeline, PipelineSettings, read_image

    budget = PipelineSettings.budget_ms
    if args.config_given or Path(args.config).exists():
        budget = load_config(args.config).camera.frame_budget_ms
    pipeline = DecodePipeline(PipelineSettings(budget_ms=budget))
    failed = False
    for name in args.images:
        try:
            frame = read_image(name)
        except ValueError as exc:
            print(json.dumps({"file": name, "error": str(exc)}, ensure_ascii=False), flush=True)
            failed = True
            continue
        pipeline.forget()  # each file is a first look, not the next frame of the last one
        texts = pipeline.decode(frame)
        print(json.dumps({"file": name, "texts": texts, "ms": round(pipeline.last_ms, 2)}, ensure_ascii=False),
              flush=True)
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kioskctl", description="Staff and technician tools for kioskd.")
    parser.add_argument("--config", default="/etc/kioskd/kioskd.toml", help="the kiosk's TOML configuration")
    parser.add_argument("--data-dir", help="the kiosk's data directory (overrides kiosk.data_dir)")
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load", help="apply a JSON list of changes atomically (docs/changes.md)")
    load.add_argument("file")
    load.set_defaults(func=cmd_load)
    token = sub.add_parser("token", help="mint a signed QR token for a reservation")
    token.add_argument("--key", required=True, help="the town hall's Ed25519 private key (PEM)")
    token.add_argument("--kiosk", help="kiosk id (default: the config's kiosk.id)")
    token.add_argument("--valid-hours", type=float, default=24 * 14)
    token.add_argument("reservation")
    token.set_defaults(func=cmd_token)
    keygen = sub.add_parser("keygen", help="make an Ed25519 key pair for QR tokens")
    keygen.add_argument("--out", required=True, help="where to write the private key (PEM, mode 0600)")
    keygen.set_defaults(func=cmd_keygen)
    outbox = sub.add_parser("outbox", help="print events waiting for the town hall, one JSON per line")
    outbox.add_argument("--all", action="store_true", help="include events already sent")
    outbox.set_defaults(func=cmd_outbox)
    enrol_cmd = sub.add_parser("enrol", help="enrol this kiosk at the town hall with a one-time code (docs/sync.md)")
    enrol_cmd.add_argument("--server", required=True, help="the town hall's URL, e.g. https://townhall.example.be")
    enrol_cmd.add_argument("--code", help="the one-time enrolment code staff created for this kiosk; left out, it is "
                                          "asked for without echo (kept out of the shell history)")
    enrol_cmd.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for the server")
    enrol_cmd.set_defaults(func=cmd_enrol)
    decode = sub.add_parser("decode", help="decode QR codes in image files as the kiosk's camera would, one JSON "
                                           "line per file (docs/qr.md)")
    decode.add_argument("images", nargs="+", metavar="IMAGE")
    decode.set_defaults(func=cmd_decode)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    args.config_given = any(a == "--config" or a.startswith("--config=") for a in given)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except (StartupError, StoreError, KeyFileError, ValueError, OSError) as exc:
        print(f"kioskctl: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
