"""``townhall demo-data``: a demo kiosk, the pilot catalogue and a few reservations waiting to be loaded, so a
newcomer sees the whole path (console → feed → kiosk → events) on 127.0.0.1. Running it twice adds nothing.

The reservations wait as ``awaiting_stock`` (staff load them at the simulated kiosk), so they never clash
with lockers the simulator fills with its own demo data. Their PINs are printed once, here.
"""

from __future__ import annotations

import os
from pathlib import Path

from townhall import services
from townhall.config import Config
from townhall.runtime import Townhall

DEMO_RESERVATIONS = (
    ("TH-2001", "vouchers", "pickup", (), "Jan Janssens", "jan@example.org"),
    ("TH-2002", "room-key", "loan", ("0A1B2C3E01",), "Vereniging De Klaproos", "klaproos@example.org"),
    ("TH-2003", "party-material", "loan", ("0A1B2C3E02", "0A1B2C3E03"), "Sofie Claes", None),
    ("TH-2004", "driving-licence", "pickup", (), "An Peeters", "an@example.org"),
)
# the driving licence is a personal document: it names its holder, the simulator's demo eID card and itsme user
# (a valid test number, nobody's; kioskd.ui.simpanel.DEMO_HOLDER)
DEMO_HOLDERS = {"TH-2004": "85073003328"}


def load_demo_data(config: Config, *, kiosk_id: str = "demo-1", code_file: Path | None = None) -> None:
    th = Townhall(config)
    try:
        services.seed_products(th)
        services.create_kiosk(th, kiosk_id, "Demo kiosk (simulator)")
        for rid, product, kind, tags, name, email in DEMO_RESERVATIONS:
            if services.get_reservation(th, rid) is not None:
                continue
            created = services.create_reservation(
                th, kiosk_id=kiosk_id, product=product, citizen=services.Citizen(name, email), kind=kind,
                tags=list(tags), reservation_id=rid, created_by="demo-data", national_number=DEMO_HOLDERS.get(rid))
            where = f", e-mail in {created.notified_to}" if created.notified_to else ""
            print(f"{rid}: {product} for {name}, awaiting stock at {kiosk_id}, PIN {created.pin}{where}")
        if code_file is not None:
            code, expires = services.create_enrolment_code(th, kiosk_id)
            code_file.parent.mkdir(parents=True, exist_ok=True)
            if code_file.exists():
                code_file.unlink()
            fd = os.open(code_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(code + "\n")
            print(f"enrolment code for {kiosk_id} written to {code_file} (valid until {expires:%Y-%m-%d %H:%M} UTC)")
    finally:
        th.close()
