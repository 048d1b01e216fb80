"""The town-hall server's TOML configuration; every key is documented in docs/townhall.md.

Every problem is collected and reported at once as ``file: section.key: what is wrong`` (with "did you mean"
for a misspelt key), so a broken file is fixed in one go. Relative paths are relative to the config file.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class ConfigError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class MailConfig:
    mode: str = "outbox"  # "outbox": .eml files in outbox_dir (development); "smtp"
    outbox_dir: Path = Path("var/townhall/outbox")
    sender: str = "kiosk@townhall.invalid"
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_user: str = ""
    smtp_password_file: Path | None = None
    timeout_seconds: float = 10.0


ACR_ADVANCED = "http://itsme.services/v2/claim/acr_advanced"
NATIONAL_NUMBER_CLAIM = "http://itsme.services/v2/claim/BENationalNumber"
ITSME_REQUIRED = ("issuer", "client_id", "private_key", "service_code")


@dataclass
class ItsmeConfig:
    """The town hall as itsme relying party (docs/itsme.md). Without an ``[itsme]`` section it is disabled."""

    enabled: bool = False
    issuer: str = ""  # the OP's issuer URL; endpoints come from its /.well-known/openid-configuration
    client_id: str = ""  # given by itsme at onboarding
    private_key: Path | None = None  # the RP's signing key (PEM, RSA or EC), mode 0600; its public half is registered
    key_id: str = ""  # the "kid" registered with itsme; empty: the key's RFC 7638 thumbprint
    # the RP's private decryption key (PEM, RSA >= 2048), mode 0600: itsme encrypts userinfo (and maybe id_tokens)
    # to its public half; None: JWE answers are refused
    encryption_key: Path | None = None
    encryption_key_id: str = ""  # its "kid" registered with itsme; empty: its RFC 7638 thumbprint
    service_code: str = ""  # given by itsme at onboarding; sent as the scope "service:<code>"
    acr_values: str = ACR_ADVANCED
    national_number_claim: str = NATIONAL_NUMBER_CLAIM
    session_seconds: int = 120  # how long a kiosk's QR code stays valid (itsme may make it shorter)
    timeout_seconds: float = 10.0  # every request to itsme
    starts_per_minute: int = 6  # POST /itsme/sessions per kiosk and minute at most; more: 429 with Retry-After
    audit_days: int = 180  # rows of the itsme_sessions audit are deleted this many days after they started


@dataclass
class Config:
    source: str = "<defaults>"
    host: str = "127.0.0.1"
    port: int = 8470
    # the address of the TLS reverse proxy in front of the server, whose X-Forwarded-For is believed (so the
    # console's log-in limit counts the real client address); empty: no proxy, headers ignored
    trusted_proxy: str = ""
    database_url: str = "sqlite:///var/townhall/townhall.db"
    qr_private_key: Path = Path("var/townhall/qr-signing.key")
    secret_key: Path = Path("var/townhall/secret.key")
    enrolment_hours: int = 24
    requests_per_minute: int = 120
    burst: int = 30
    max_events: int = 500
    max_changes: int = 500
    # PINs and national numbers sealed in feed rows that their kiosk has not confirmed are erased after this
    sealed_secret_days: int = 30
    qr_await_days: int = 30
    pin_length: int = 8
    timezone: str = "Europe/Brussels"
    # the pilot town hall's counter hours (minutes from midnight): Mon-Fri 09:00-12:00, Wed also 14:00-19:00,
    # Sat 09:00-11:30; "outside opening hours" in the KPIs is counted against these unless configured
    opening_hours: dict[str, list[tuple[int, int]]] = field(default_factory=lambda: {
        **{day: [(540, 720)] for day in DAYS[:5]}, "wed": [(540, 720), (840, 1140)], "sat": [(540, 690)]})
    mail: MailConfig = field(default_factory=MailConfig)
    itsme: ItsmeConfig = field(default_factory=ItsmeConfig)
    console: dict = field(default_factory=dict)  # the staff console's own section, passed through

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


# section -> key -> (attribute, type check, description of the expected value)
def _int_range(low: int, high: int):
    return (lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high,
            f"a whole number from {low} to {high}")


_STR = (lambda v: isinstance(v, str) and v != "", "a non-empty string")
_BOOL = (lambda v: isinstance(v, bool), "true or false")
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def secure_url(url: object) -> bool:
    """An ``https://`` URL, or ``http://`` to a loopback host (the protocol double in tests and the demo):
    itsme's issuer and every endpoint its discovery document names must be one."""
    if not isinstance(url, str) or re.match(r"^https?://[^\s/]+(/\S*)?$", url) is None:
        return False
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return bool(host) and (parts.scheme == "https" or parts.scheme == "http" and host in LOOPBACK_HOSTS)


_SECURE_URL = (secure_url, "an https:// URL (http:// only to 127.0.0.1, ::1 or localhost)")
_POSITIVE = (lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v > 0, "a positive number")

SCHEMA: dict[str, dict[str, tuple[str, tuple]]] = {
    "server": {"host": ("host", _STR), "port": ("port", _int_range(1, 65535)),
               "trusted_proxy": ("trusted_proxy", _STR)},
    "database": {"url": ("database_url", _STR)},
    "keys": {"qr_private_key": ("qr_private_key", _STR), "secret_key": ("secret_key", _STR)},
    "sync": {"enrolment_hours": ("enrolment_hours", _int_range(1, 24 * 14)),
             "requests_per_minute": ("requests_per_minute", _int_range(1, 100_000)),
             "burst": ("burst", _int_range(1, 100_000)),
             "max_events": ("max_events", _int_range(1, 500)),
             "max_changes": ("max_changes", _int_range(1, 500)),
             "sealed_secret_days": ("sealed_secret_days", _int_range(1, 365))},
    "reservations": {"pin_length": ("pin_length", _int_range(6, 12)),
                     "qr_await_days": ("qr_await_days", _int_range(1, 365))},
    "kpi": {"timezone": ("timezone", _STR), "opening_hours": ("opening_hours", (lambda v: isinstance(v, dict),
                                                                                  "a table of day = [spans]"))},
    "mail": {"mode": ("mail.mode", (lambda v: v in ("outbox", "smtp"), '"outbox" or "smtp"')),
             "outbox_dir": ("mail.outbox_dir", _STR), "from": ("mail.sender", _STR),
             "smtp_host": ("mail.smtp_host", _STR), "smtp_port": ("mail.smtp_port", _int_range(1, 65535)),
             "smtp_starttls": ("mail.smtp_starttls", _BOOL), "smtp_user": ("mail.smtp_user", _STR),
             "smtp_password_file": ("mail.smtp_password_file", _STR),
             "timeout_seconds": ("mail.timeout_seconds", _POSITIVE)},
    "itsme": {"issuer": ("itsme.issuer", _SECURE_URL), "client_id": ("itsme.client_id", _STR),
              "private_key": ("itsme.private_key", _STR), "key_id": ("itsme.key_id", _STR),
              "encryption_key": ("itsme.encryption_key", _STR),
              "encryption_key_id": ("itsme.encryption_key_id", _STR),
              "service_code": ("itsme.service_code", _STR), "acr_values": ("itsme.acr_values", _STR),
              "national_number_claim": ("itsme.national_number_claim", _STR),
              "session_seconds": ("itsme.session_seconds", _int_range(30, 600)),
              "timeout_seconds": ("itsme.timeout_seconds", _POSITIVE),
              "starts_per_minute": ("itsme.starts_per_minute", _int_range(1, 600)),
              "audit_days": ("itsme.audit_days", _int_range(1, 3650))},
}
PATH_KEYS = {"qr_private_key", "secret_key", "mail.outbox_dir", "mail.smtp_password_file", "itsme.private_key",
             "itsme.encryption_key"}
SUBSECTIONS = ("mail", "itsme")


def parse_opening_hours(value: dict, where: str, problems: list[str]) -> dict[str, list[tuple[int, int]]]:
    hours: dict[str, list[tuple[int, int]]] = {}
    for day, spans in value.items():
        if day not in DAYS:
            problems.append(f"{where}.{day}: not a day; use one of {', '.join(DAYS)}")
            continue
        if not isinstance(spans, list):
            problems.append(f'{where}.{day}: expected a list of "HH:MM-HH:MM" spans')
            continue
        for span in spans:
            match = _SPAN.match(span) if isinstance(span, str) else None
            if match is None:
                problems.append(f'{where}.{day}: {span!r} is not a "HH:MM-HH:MM" span')
                continue
            start = int(match[1]) * 60 + int(match[2])
            end = int(match[3]) * 60 + int(match[4])
            if end <= start or end > 24 * 60:
                problems.append(f"{where}.{day}: {span!r} ends before it starts")
                continue
            hours.setdefault(day, []).append((start, end))
    return hours


def load_config(path: str | Path | None, *, overrides: dict | None = None) -> Config:
    """Read ``path`` (None: the defaults, paths relative to the working directory)."""
    config = Config()
    data: dict = {}
    base = Path.cwd()
    if path is not None:
        path = Path(path)
        config.source = str(path)
        base = path.resolve().parent
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update(values)
    problems: list[str] = []
    for section, values in data.items():
        if section == "console":
            config.console = values if isinstance(values, dict) else {}
            continue
        if section not in SCHEMA:
            problems.append(_unknown(config.source, section, list(SCHEMA) + ["console"]))
            continue
        if not isinstance(values, dict):
            problems.append(f"{config.source}: {section}: expected a table")
            continue
        for key, value in values.items():
            where = f"{config.source}: {section}.{key}"
            if key not in SCHEMA[section]:
                problems.append(_unknown(config.source, f"{section}.{key}",
                                         [f"{section}.{k}" for k in SCHEMA[section]]))
                continue
            attribute, (check, expected) = SCHEMA[section][key]
            if not check(value):
                problems.append(f"{where}: expected {expected}, got {value!r}")
                continue
            if attribute == "opening_hours":
                value = parse_opening_hours(value, where, problems)
            elif attribute in PATH_KEYS:
                value = base / value
            prefix, _, name = attribute.rpartition(".")
            setattr(getattr(config, prefix) if prefix in SUBSECTIONS else config, name, value)
    if config.database_url.startswith("sqlite:///") and not config.database_url.startswith("sqlite:////"):
        relative = config.database_url.removeprefix("sqlite:///")
        if relative and relative != ":memory:":
            config.database_url = f"sqlite:///{base / relative}"
    for attribute in ("qr_private_key", "secret_key"):
        if not Path(getattr(config, attribute)).is_absolute():
            setattr(config, attribute, base / getattr(config, attribute))
    if not config.mail.outbox_dir.is_absolute():
        config.mail.outbox_dir = base / config.mail.outbox_dir
    try:
        ZoneInfo(config.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"{config.source}: kpi.timezone: unknown time zone {config.timezone!r}")
    if config.mail.mode == "smtp" and "smtp_host" not in data.get("mail", {}):
        problems.append(f"{config.source}: mail.smtp_host: required when mail.mode is \"smtp\"")
    if "itsme" in data and isinstance(data["itsme"], dict):
        config.itsme.enabled = True
        for key in ITSME_REQUIRED:
            if key not in data["itsme"]:
                problems.append(f"{config.source}: itsme.{key}: required when the [itsme] section is present")
        if "encryption_key_id" in data["itsme"] and "encryption_key" not in data["itsme"]:
            problems.append(f"{config.source}: itsme.encryption_key_id: given without itsme.encryption_key")
    if problems:
        raise ConfigError(problems)
    return config


def _unknown(source: str, name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
    return f"{source}: {name}: unknown key{hint}"
