"""The staff console: server-rendered pages under ``/console`` (docs/console.md).

``create_app`` calls ``mount(app, townhall)``. Every page needs a console login (``townhall create-user``);
every form is a plain POST with a CSRF token, so the console works without JavaScript.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from townhall.runtime import Townhall


def mount(app: FastAPI, townhall: Townhall) -> None:
    from townhall.console import pages, reservations
    from townhall.console.web import PREFIX, Console, LoginRequired, Refused

    console = Console(townhall)
    router = APIRouter(prefix=PREFIX, include_in_schema=False)
    pages.add_routes(router, console)
    reservations.add_routes(router, console)
    app.include_router(router)
    app.add_exception_handler(LoginRequired, console.on_login_required)
    app.add_exception_handler(Refused, console.on_refused)
    app.state.console = console
