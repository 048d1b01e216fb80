"""``townhall``: serve the API and console, create console users, enrolment codes, the OpenAPI file, demo data.

Logging is configured here and nowhere else.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from pathlib import Path

from townhall.config import ConfigError, load_config
from townhall.keys import KeyFileError

log = logging.getLogger("townhall")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="townhall", description="kioskd's reference town-hall server")
    parser.add_argument("--config", metavar="FILE", help="TOML configuration (docs/townhall.md); default: built-in"
                        " development settings under var/townhall")
    parser.add_argument("--verbose", "-v", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the API and the staff console")
    serve.add_argument("--host", help="override server.host")
    serve.add_argument("--port", type=int, help="override server.port")
    user = commands.add_parser("create-user", help="create a console login (or set its password); asks the password")
    user.add_argument("username")
    user.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    code = commands.add_parser("enrol-code", help="a one-time enrolment code for a kiosk (valid 24 h)")
    code.add_argument("kiosk_id")
    code.add_argument("--name", help="the kiosk's display name (e.g. 'Aalter town hall')")
    openapi = commands.add_parser("openapi", help="write the OpenAPI document")
    openapi.add_argument("--out", default="docs/openapi.json")
    demo = commands.add_parser("demo-data", help="a demo kiosk, the catalogue and some reservations")
    demo.add_argument("--kiosk", default="demo-1")
    demo.add_argument("--enrol-code-file", metavar="FILE",
                      help="also write a fresh enrolment code for the demo kiosk into FILE (mode 0600)")
    commands.add_parser("itsme-jwks", help="print the RP's public JWK set (signing and encryption keys) to register"
                        " with itsme")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    try:
        return COMMANDS[args.command](config, args)
    except KeyFileError as exc:
        print(f"townhall: {exc}", file=sys.stderr)
        return 2


def _serve(config, args) -> int:
    import uvicorn

    from townhall.app import create_app

    config.host = args.host or config.host
    config.port = args.port or config.port
    app = create_app(config)
    # behind a reverse proxy its forwarded client address is believed, from that proxy only
    uvicorn.run(app, host=config.host, port=config.port, log_config=None,
                proxy_headers=bool(config.trusted_proxy), forwarded_allow_ips=config.trusted_proxy or None)
    return 0


def _create_user(config, args) -> int:
    from townhall import services
    from townhall.runtime import Townhall

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"Password for {args.username}: ")
        if getpass.getpass("Again: ") != password:
            print("townhall: the passwords differ; nothing changed", file=sys.stderr)
            return 1
    th = Townhall(config)
    try:
        services.create_user(th, args.username, password)
    except services.ServiceError as exc:
        print(f"townhall: {exc.detail}", file=sys.stderr)
        return 1
    finally:
        th.close()
    print(f"user {args.username} can log in to the console")
    return 0


def _enrol_code(config, args) -> int:
    from townhall import services
    from townhall.runtime import Townhall

    th = Townhall(config)
    try:
        services.seed_products(th)
        code, expires = services.create_enrolment_code(th, args.kiosk_id, args.name)
    except services.ServiceError as exc:
        print(f"townhall: {exc.detail}", file=sys.stderr)
        return 1
    finally:
        th.close()
    print(f"enrolment code for {args.kiosk_id}: {code}  (valid until {expires.isoformat(timespec='minutes')},"
          " once)")
    print(f"on the kiosk: kioskctl enrol --server URL --code {code}")
    return 0


def write_openapi(path: Path) -> None:
    import tempfile

    from townhall.app import create_app
    from townhall.config import Config

    with tempfile.TemporaryDirectory() as scratch:  # the document does not depend on any data
        base = Path(scratch)
        config = Config(database_url=f"sqlite:///{base / 'openapi.db'}", qr_private_key=base / "qr.key",
                        secret_key=base / "secret.key")
        app = create_app(config, console=False)
        document = app.openapi()
        app.state.townhall.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _openapi(config, args) -> int:
    write_openapi(Path(args.out))
    print(f"wrote {args.out}")
    return 0


def _demo_data(config, args) -> int:
    from townhall.demo import load_demo_data

    load_demo_data(config, kiosk_id=args.kiosk, code_file=Path(args.enrol_code_file) if args.enrol_code_file
                   else None)
    return 0


def _itsme_jwks(config, args) -> int:
    """The public JWK set a municipality sends to itsme at onboarding (docs/itsme.md): public members only."""
    from townhall.itsme import configured_jwks

    if not config.itsme.enabled:
        print("townhall: no [itsme] section in the configuration", file=sys.stderr)
        return 2
    print(json.dumps(configured_jwks(config.itsme), indent=2))
    return 0


COMMANDS = {"serve": _serve, "create-user": _create_user, "enrol-code": _enrol_code, "openapi": _openapi,
            "demo-data": _demo_data, "itsme-jwks": _itsme_jwks}


if __name__ == "__main__":
    sys.exit(main())
