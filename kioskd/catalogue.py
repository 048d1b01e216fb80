"""The product catalogue: what each product needs. New products are data, not code."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from importlib import resources

from kioskd.store import Store

IDENTIFICATION_LEVELS = ("code", "strong")
SIZES = ("S", "M", "L")
LANGUAGES = ("nl", "fr", "en")


@dataclass(frozen=True)
class Product:
    code: str
    identification: str  # "code": PIN or QR is enough; "strong": eID or itsme required
    returnable: bool
    rfid_tagged: bool
    locker_size: str
    pickup_days: int
    requestable: bool
    names: dict[str, str]

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names.get("en") or self.code


class CatalogueError(ValueError):
    pass


def product_from_mapping(code: str, data: dict) -> Product:
    """Validate one catalogue entry (from the packaged file or a ``product`` change)."""
    problems = []
    known = {"identification", "returnable", "rfid_tagged", "locker_size", "pickup_days", "requestable",
             "names", "type", "code"}
    problems += [f"unknown field {key!r}" for key in data if key not in known]
    if data.get("identification") not in IDENTIFICATION_LEVELS:
        problems.append(f"identification must be one of {', '.join(IDENTIFICATION_LEVELS)}")
    if data.get("locker_size") not in SIZES:
        problems.append(f"locker_size must be one of {', '.join(SIZES)}")
    for flag in ("returnable", "rfid_tagged", "requestable"):
        if not isinstance(data.get(flag, False), bool):
            problems.append(f"{flag} must be true or false")
    days = data.get("pickup_days")
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 365:
        problems.append("pickup_days must be a whole number of days from 1 to 365")
    names = data.get("names")
    if not isinstance(names, dict) or any(not isinstance(names.get(lang), str) or not names.get(lang)
                                          for lang in LANGUAGES):
        problems.append("names must give a name in nl, fr and en")
    if problems:
        raise CatalogueError(f"product {code!r}: " + "; ".join(problems))
    return Product(code, data["identification"], data.get("returnable", False), data.get("rfid_tagged", False),
                   data["locker_size"], days, data.get("requestable", False), dict(names))


def pilot_products() -> list[Product]:
    text = resources.files("kioskd").joinpath("data/catalogue.toml").read_text(encoding="utf-8")
    return [product_from_mapping(code, entry) for code, entry in tomllib.loads(text).items()]


def save_product(store: Store, product: Product) -> None:
    """Insert or replace a product; must run inside the caller's transaction."""
    store.conn.execute(
        "INSERT OR REPLACE INTO products (code, identification, returnable, rfid_tagged, locker_size,"
        " pickup_days, requestable, names) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (product.code, product.identification, int(product.returnable), int(product.rfid_tagged),
         product.locker_size, product.pickup_days, int(product.requestable),
         json.dumps(product.names, sort_keys=True)),
    )


def seed_catalogue(store: Store) -> None:
    """First start: the pilot products, unless the town hall has already sent a catalogue."""
    if store.conn.execute("SELECT COUNT(*) FROM products").fetchone()[0]:
        return
    with store.transaction():
        for product in pilot_products():
            save_product(store, product)


def get_product(store: Store, code: str) -> Product | None:
    row = store.conn.execute(
        "SELECT code, identification, returnable, rfid_tagged, locker_size, pickup_days, requestable, names"
        " FROM products WHERE code = ?", (code,)).fetchone()
    if row is None:
        return None
    return Product(row[0], row[1], bool(row[2]), bool(row[3]), row[4], row[5], bool(row[6]), json.loads(row[7]))
