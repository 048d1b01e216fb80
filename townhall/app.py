"""The ASGI application: ``create_app(config)`` builds the runtime, the kiosk API under ``/api/v1`` and, when
present, the staff console (``townhall.console``, which provides ``mount(app, townhall)``).
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from townhall.api import install_api
from townhall.config import Config
from townhall.notify import Mailer
from townhall.runtime import Townhall
from townhall.services import seed_products

API_VERSION = 1


def create_app(config: Config, *, clock: Callable[[], float] = time.time, mailer: Mailer | None = None,
               console: bool = True) -> FastAPI:
    townhall = Townhall(config, clock=clock, mailer=mailer)
    seed_products(townhall)
    townhall.housekeeping(force=True)  # retention limits, at start (then hourly, from the feed requests)
    app = FastAPI(title="kioskd town hall", version=f"{API_VERSION}.0",
                  summary="Reference town-hall server for kioskd: kiosk sync API v1 and staff console",
                  openapi_url="/api/v1/openapi.json", docs_url="/api/v1/docs", redoc_url=None)
    app.state.townhall = townhall
    install_api(app, townhall)
    if console and importlib.util.find_spec("townhall.console") is not None:
        from townhall import console as console_module

        mount = getattr(console_module, "mount", None)
        if mount is not None:
            mount(app, townhall)

            @app.get("/", include_in_schema=False)
            def home() -> RedirectResponse:  # a newcomer opening the server's address finds the console
                return RedirectResponse("/console/")
    return app
