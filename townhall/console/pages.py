"""Console pages other than reservations: login and logout, the dashboard, a kiosk's locker grid, enrolment
codes, the event log, the KPIs, and the style sheet."""


import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from kioskd.catalogue import CatalogueError, product_from_mapping
from townhall import services
from townhall.console import queries
from townhall.console.auth import LOGIN_COOKIE, FormError, read_form
from townhall.console.web import HERE, PREFIX, Console, Posted, Refused, safe_next
from townhall.monitor import event_log, kiosk_grid

EVENTS_PER_PAGE = 50
PRODUCT_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def add_routes(router: APIRouter, console: Console) -> None:
    th = console.th
    Staff = Annotated[object, Depends(console.staff)]
    Post = Annotated[Posted, Depends(console.posted)]
    css = (HERE / "static" / "console.css").read_bytes()

    @router.get("/static/console.css")
    def stylesheet() -> Response:
        return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=300",
                                                             "X-Content-Type-Options": "nosniff"})

    # ---- login -----------------------------------------------------------------------------------------

    def login_page(request: Request, *, status: int = 200, error: str = "", username: str = "", next_path: str = ""):
        token, cookie = console.sessions.login_token(request)
        response = console.render(request, "login.html", status=status, title="Log in", nav="", error=error,
                                  username=username, login_token=token, next_path=safe_next(next_path),
                                  no_users=queries.user_count(th) == 0,
                                  logged_out=request.query_params.get("done") == "logout")
        if cookie is not None:
            response.set_cookie(LOGIN_COOKIE, cookie, max_age=3600, path=PREFIX, httponly=True, samesite="strict",
                                secure=console.secure_cookies(request))
        return response

    @router.get("/login")
    def login_form(request: Request, next: str = "") -> Response:
        if console.sessions.current(request) is not None:
            return console.redirect(safe_next(next))
        return login_page(request, next_path=next)

    @router.post("/login")
    async def login(request: Request) -> Response:
        try:
            form = await read_form(request)
        except FormError as exc:
            raise Refused(400, "The form could not be read", str(exc)) from None
        username = form.get("username", "").strip()[:64]
        password = form.get("password", "")
        next_path = form.get("next", "")
        if not console.sessions.login_token_ok(request, form.get("login_token", "")):
            return login_page(request, status=403, username=username, next_path=next_path,
                              error="The login form had expired. Please try again.")
        host = request.client.host if request.client else "?"
        wait = console.throttle.wait_seconds(username, host)
        if wait:
            minutes = max(1, round(wait / 60))
            return login_page(request, status=429, username=username, next_path=next_path,
                              error=f"Too many failed log-ins. Try again in {minutes} minute"
                                    f"{'s' if minutes > 1 else ''}.")
        if not username or not password or not await run_in_threadpool(services.verify_user, th, username,
                                                                        password):
            console.throttle.failed(username, host)
            return login_page(request, status=401, username=username, next_path=next_path,
                              error="Wrong user name or password.")
        console.throttle.succeeded(username)
        response = console.redirect(safe_next(next_path))
        console.sessions.start(response, username, console.secure_cookies(request))
        response.delete_cookie(LOGIN_COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return response

    @router.post("/logout")
    def logout(request: Request, posted: Post) -> Response:
        response = console.redirect(f"{PREFIX}/login?done=logout")
        console.sessions.end(request, response)
        return response

    # ---- dashboard and kiosks --------------------------------------------------------------------------

    @router.get("/")
    def dashboard(request: Request, session: Staff) -> Response:
        return console.render(request, "dashboard.html", session=session, title="Kiosks", nav="dashboard",
                              kiosks=queries.kiosk_summaries(th), now=th.now())

    @router.post("/kiosks")
    def enrolment_code(request: Request, posted: Post) -> Response:
        kiosk_id, name = posted.get("kiosk_id"), posted.get("name")
        try:
            code, expires = services.create_enrolment_code(th, kiosk_id, name or None)
        except services.ServiceError as exc:
            return console.render(request, "dashboard.html", session=posted.session, status=400, title="Kiosks",
                                  nav="dashboard", kiosks=queries.kiosk_summaries(th), now=th.now(),
                                  enrol_error=exc.detail, enrol_values=posted.form)
        return console.render(request, "enrolment_code.html", session=posted.session, title="Enrolment code",
                              nav="dashboard", kiosk_id=kiosk_id, code=code, expires=expires)

    @router.get("/kiosks/{kiosk_id}")
    def kiosk_page(request: Request, kiosk_id: str, session: Staff) -> Response:
        grid = kiosk_grid(th, kiosk_id)
        if grid is None:
            raise Refused(404, "No such kiosk", f"There is no kiosk {kiosk_id!r}.")
        return console.render(request, "kiosk.html", session=session, title=f"Kiosk {grid.name}", nav="dashboard",
                              grid=grid, alarms=queries.alarm_union(grid),
                              open_reservations=services.list_reservations(th, kiosk_id=kiosk_id, open_only=True,
                                                                           limit=50))

    # ---- badges ----------------------------------------------------------------------------------------

    def badges_page(request: Request, session, kiosk_id: str, *, status: int = 200, error: str = "",
                    error_field: str = "", values: dict | None = None, created=None, created_pin: str = ""):
        if services.get_kiosk(th, kiosk_id) is None:
            raise Refused(404, "No such kiosk", f"There is no kiosk {kiosk_id!r}.")
        return console.render(request, "badges.html", session=session, status=status, title=f"Badges at {kiosk_id}",
                              nav="dashboard", kiosk_id=kiosk_id, badges=services.list_badges(th, kiosk_id),
                              error=error, error_field=error_field, values=values or {}, created=created,
                              created_pin=created_pin)

    @router.get("/kiosks/{kiosk_id}/badges")
    def badges(request: Request, kiosk_id: str, session: Staff) -> Response:
        return badges_page(request, session, kiosk_id)

    @router.post("/kiosks/{kiosk_id}/badges")
    def enrol_badge(request: Request, kiosk_id: str, posted: Post) -> Response:
        values = {"uid": posted.get("uid").strip(), "name": posted.get("name").strip(), "role": posted.get("role")}
        pin = services.new_badge_pin()  # chosen by the server, shown once: nobody picks "1234"
        try:
            created = services.save_badge(th, kiosk_id, values["uid"], values["role"], values["name"], pin)
        except services.ServiceError as exc:
            field = {"invalid_uid": "uid", "tag_lent": "uid", "invalid_name": "name"}.get(exc.code, "")
            return badges_page(request, posted.session, kiosk_id, status=400, error=exc.detail, error_field=field,
                               values=values)
        return badges_page(request, posted.session, kiosk_id, created=created, created_pin=pin)

    @router.post("/kiosks/{kiosk_id}/badges/revoke")
    def revoke(request: Request, kiosk_id: str, posted: Post) -> Response:
        try:
            services.revoke_badge(th, kiosk_id, posted.get("uid"))
        except services.ServiceError as exc:
            return badges_page(request, posted.session, kiosk_id, status=400, error=exc.detail)
        return console.redirect(f"{PREFIX}/kiosks/{kiosk_id}/badges")

    # ---- catalogue -------------------------------------------------------------------------------------

    def catalogue_page(request: Request, session, *, status: int = 200, error: str = "", values: dict | None = None,
                       saved: str = ""):
        return console.render(request, "catalogue.html", session=session, status=status, title="Catalogue",
                              nav="catalogue", products=services.list_products(th), error=error,
                              values=values or {}, saved=saved)

    @router.get("/catalogue")
    def catalogue(request: Request, session: Staff) -> Response:
        return catalogue_page(request, session)

    @router.post("/catalogue")
    def save_product(request: Request, posted: Post) -> Response:
        values = {key: posted.get(key).strip() for key in ("code", "name_nl", "name_fr", "name_en", "identification",
                                                            "locker_size", "pickup_days", "returnable",
                                                            "rfid_tagged")}
        code = values["code"]
        data = {"identification": values["identification"], "locker_size": values["locker_size"],
                "pickup_days": int(values["pickup_days"]) if values["pickup_days"].isdecimal() else None,
                "returnable": bool(values["returnable"]), "rfid_tagged": bool(values["rfid_tagged"]),
                "names": {lang: values[f"name_{lang}"] for lang in ("nl", "fr", "en")}}
        problem = "" if PRODUCT_CODE.match(code) else "A code is 1–40 lower-case letters, digits and dashes."
        if not problem and data["rfid_tagged"] and not data["returnable"]:
            problem = "Only a returnable product can carry RFID tags."
        try:
            product = product_from_mapping(code, data) if not problem else None
        except CatalogueError as exc:
            problem = str(exc)
        if problem or product is None:
            return catalogue_page(request, posted.session, status=400, error=problem, values=values)
        services.save_product(th, product)
        return catalogue_page(request, posted.session, saved=code)

    # ---- event log and KPIs ----------------------------------------------------------------------------

    @router.get("/events")
    def events(request: Request, session: Staff, kiosk: str = "", type: str = "",
               before: int | None = None) -> Response:
        if before is not None and not 0 < before < 2 ** 62:  # a hand-made URL: start from the newest
            before = None
        rows = event_log(th, kiosk_id=kiosk or None, type_prefix=type.strip() or None, limit=EVENTS_PER_PAGE + 1,
                         before=before)
        more = len(rows) > EVENTS_PER_PAGE
        rows = rows[:EVENTS_PER_PAGE]
        return console.render(request, "events.html", session=session, title="Event log", nav="events",
                              rows=rows, more=more, kiosks=services.list_kiosks(th), kiosk=kiosk, type=type.strip(),
                              before=before, types=queries.event_types(th))

    @router.get("/kpis")
    def kpis(request: Request, session: Staff, kiosk: str = "", month: str = "") -> Response:
        month = month.strip()
        problem = "" if not month or MONTH.match(month) else "A month is written YYYY-MM, for example 2026-11."
        rows = queries.kpis(th, kiosk_id=kiosk or None, month=month if month and not problem else None)
        kiosks = services.list_kiosks(th)
        hours = [(k, queries.describe_hours(queries.opening_hours_for(th, k.id))) for k in kiosks
                 if not kiosk or k.id == kiosk]
        return console.render(request, "kpis.html", session=session, title="Figures", nav="kpis", rows=rows,
                              kiosks=kiosks, kiosk=kiosk, month=month, problem=problem, hours=hours,
                              status=400 if problem else 200)
