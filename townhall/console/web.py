"""The console's plumbing: Jinja2 rendering with the town hall's time zone, security headers, and the two
dependencies every page uses — ``staff`` (a logged-in user, else off to the login page) and ``posted`` (the
form of a POST, refused unless it carries the session's CSRF token).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from townhall import services
from townhall.console import queries
from townhall.console.auth import FormError, LoginThrottle, Session, Sessions, csrf_ok, read_form
from townhall.runtime import Townhall

PREFIX = "/console"
HERE = Path(__file__).resolve().parent
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class LoginRequired(Exception):
    def __init__(self, method: str, path: str) -> None:
        super().__init__(path)
        self.method, self.path = method, path


class Refused(Exception):
    """A request the console answers with an error page (bad CSRF token, unreadable form, unknown thing)."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


@dataclass(frozen=True)
class Posted:
    session: Session
    form: dict[str, str]

    def get(self, name: str) -> str:
        return self.form.get(name, "").strip()


def safe_next(target: str | None) -> str:
    """Only a path inside the console: never an open redirect."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return PREFIX + "/"


class Console:
    def __init__(self, th: Townhall) -> None:
        self.th = th
        self.sessions = Sessions(th)
        self.throttle = LoginThrottle(th)
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.filters.update(when=self.when, duration=duration, percent=percent, product=self.product_name)
        self._product_names: tuple[float, dict[str, str]] = (float("-inf"), {})
        self.env.globals.update(prefix=PREFIX, zone=th.config.timezone, enrolment_hours=th.config.enrolment_hours)

    # ---- rendering -------------------------------------------------------------------------------------

    def when(self, value: datetime | None, empty: str = "—") -> Markup:
        if value is None:
            return Markup(escape(empty))
        local = value.astimezone(self.th.config.zone)
        return Markup('<time datetime="{}">{}</time>').format(value.isoformat(timespec="seconds"),
                                                                 local.strftime("%Y-%m-%d %H:%M"))

    def product_name(self, code: str) -> str:
        """The catalogue's English name of a product (re-read at most every minute), else its code."""
        read_at, names = self._product_names
        now = self.th.clock()
        if not read_at <= now < read_at + 60:
            names = {p.code: p.names.get("en") or p.code for p in services.list_products(self.th)}
            self._product_names = (now, names)
        return names.get(code, code)

    def render(self, request: Request, template: str, *, session: Session | None = None, status: int = 200,
               **context) -> HTMLResponse:
        page = self.env.get_template(template).render(
            user=session.username if session else None, csrf=session.csrf if session else "", request=request,
            **context)
        return HTMLResponse(page, status_code=status, headers=SECURITY_HEADERS)

    def error_page(self, request: Request, status: int, title: str, detail: str) -> HTMLResponse:
        return self.render(request, "error.html", session=self.sessions.current(request), status=status,
                           title=title, detail=detail, nav="")

    def redirect(self, path: str) -> RedirectResponse:
        return RedirectResponse(path, status_code=303, headers=SECURITY_HEADERS)

    def secure_cookies(self, request: Request) -> bool:
        return request.url.scheme == "https" or self.th.config.console.get("secure_cookies") is True

    # ---- dependencies ----------------------------------------------------------------------------------

    def staff(self, request: Request) -> Session:
        session = self.sessions.current(request)
        if session is not None and not queries.user_active(self.th, session.username):
            self.sessions.end_user(session.username)
            session = None
        if session is None:
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(request.method, path)
        return session

    async def posted(self, request: Request) -> Posted:
        session = self.staff(request)
        try:
            form = await read_form(request)
        except FormError as exc:
            raise Refused(400, "The form could not be read", str(exc)) from None
        if not csrf_ok(session, form.get("csrf", "")):
            raise Refused(403, "Form expired", "This form was not sent from the console page you opened (its "
                          "security token is missing or old). Go back, reload the page and try again.")
        return Posted(session, form)

    # ---- exception handlers ----------------------------------------------------------------------------

    async def on_login_required(self, request: Request, exc: LoginRequired) -> Response:
        if exc.method == "GET":
            return self.redirect(f"{PREFIX}/login?next={quote(safe_next(exc.path), safe='/')}")
        return self.error_page(request, 403, "Please log in", "Your session has ended. Log in again, then repeat "
                               "what you were doing.")

    async def on_refused(self, request: Request, exc: Refused) -> Response:
        return self.error_page(request, exc.status, exc.title, exc.detail)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes = int(round(seconds / 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


def percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.0f} %"
