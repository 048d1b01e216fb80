"""Console pages for reservations: the list with its filters, the create form (pickup or loan; waiting for
stock or already in a locker), the result page that shows the PIN and QR code once, each reservation's page
with its states over time, and cancel / extend / re-send."""


import re
from datetime import datetime, time
from typing import Annotated

import qrcode
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup
from qrcode.image.svg import SvgPathImage

from townhall import services
from townhall.console import queries
from townhall.console.web import PREFIX, Console, Posted, Refused
from townhall.models import RESERVATION_STATUSES

PER_PAGE = 50
STATUS_FILTERS = ("open",) + RESERVATION_STATUSES
FIELD_OF_ERROR = {"unknown_kiosk": "kiosk", "unknown_product": "product", "not_loanable": "product",
                  "invalid_kind": "kind", "invalid_citizen": "citizen_name", "invalid_email": "citizen_email",
                  "invalid_tags": "tags", "tag_lent": "tags", "tag_is_badge": "tags", "invalid_locker": "locker",
                  "unknown_locker": "locker", "locker_occupied": "locker",
                  "national_number_required": "national_number", "invalid_national_number": "national_number",
                  "national_number_not_needed": "national_number", "national_number_differs": "national_number",
                  "invalid_authorised": "authorised"}
CANCELLABLE = services.TOWN_HALL_STATUSES
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def qr_svg(token: str) -> Markup:
    """The QR code as inline SVG (no image file, nothing stored): staff can show or print it for the citizen."""
    svg = qrcode.make(token, image_factory=SvgPathImage, box_size=10, border=4).to_string(encoding="unicode")
    svg = svg.replace("<svg ", '<svg class="qr" role="img" aria-label="QR code of the reservation" ', 1)
    return Markup(svg)


def split_tags(text: str) -> list[str]:
    return [tag for tag in re.split(r"[\s,;]+", text.strip()) if tag]


def split_lines(text: str) -> list[str]:
    """One national number a line (each may be written with dots and dashes, as on the eID card)."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def add_routes(router: APIRouter, console: Console) -> None:
    th = console.th
    Staff = Annotated[object, Depends(console.staff)]
    Post = Annotated[Posted, Depends(console.posted)]

    def product_choices():
        return [(p.code, p.names.get("en") or p.code, p) for p in services.list_products(th)]

    def form_page(request: Request, session, *, values: dict, error: str = "", field: str = "", status: int = 200):
        return console.render(request, "reservation_new.html", session=session, status=status,
                              title="New reservation", nav="new", kiosks=services.list_kiosks(th),
                              products=product_choices(), values=values, error=error, error_field=field)

    @router.get("/reservations")
    def reservation_list(request: Request, session: Staff, kiosk: str = "", status: str = "",
                         page: int = 1) -> Response:
        page = max(1, min(page, 10_000))
        status = status if status in STATUS_FILTERS else ""
        rows = services.list_reservations(th, kiosk_id=kiosk or None,
                                          status=status if status and status != "open" else None,
                                          open_only=status == "open", limit=PER_PAGE + 1,
                                          offset=(page - 1) * PER_PAGE)
        return console.render(request, "reservations.html", session=session, title="Reservations",
                              nav="reservations", rows=rows[:PER_PAGE], more=len(rows) > PER_PAGE, page=page,
                              kiosks=services.list_kiosks(th), kiosk=kiosk, status_filter=status,
                              statuses=STATUS_FILTERS)

    @router.get("/reservations/new")
    def new_reservation(request: Request, session: Staff, kiosk: str = "") -> Response:
        return form_page(request, session, values={"kiosk": kiosk, "kind": "pickup", "placement": "awaiting_stock"})

    @router.post("/reservations")
    def create(request: Request, posted: Post) -> Response:
        values = dict(posted.form)
        values.pop("csrf", None)
        # a refused form is shown again without the national numbers: they are never echoed into a page
        values.pop("national_number", None)
        values.pop("authorised", None)
        kind = posted.get("kind") or "pickup"
        locker = None
        if posted.get("placement") == "locker":
            text = posted.get("locker")
            if not text.isdigit():
                return form_page(request, posted.session, values=values, status=400, field="locker",
                                 error="Give the number of the locker the item is already in.")
            locker = int(text)
        try:
            created = services.create_reservation(
                th, kiosk_id=posted.get("kiosk"), product=posted.get("product"),
                citizen=services.Citizen(posted.get("citizen_name"), posted.get("citizen_email") or None),
                kind=kind, tags=split_tags(posted.get("tags")) if kind == "loan" else [], locker=locker,
                created_by=posted.session.username, national_number=posted.get("national_number") or None,
                authorised=split_lines(posted.get("authorised")))
        except services.ServiceError as exc:
            return form_page(request, posted.session, values=values, status=400,
                             field=FIELD_OF_ERROR.get(exc.code, ""), error=exc.detail)
        return console.render(request, "reservation_created.html", session=posted.session, status=201,
                              title=f"Reservation {created.reservation.id} created", nav="new", created=created,
                              r=created.reservation, qr=qr_svg(created.qr_token))

    @router.get("/reservations/{reservation_id}")
    def reservation_page(request: Request, reservation_id: str, session: Staff, done: str = "") -> Response:
        return show(request, session, reservation_id, done=done)

    def show(request: Request, session, reservation_id: str, *, done: str = "", error: str = "", status: int = 200):
        reservation = services.get_reservation(th, reservation_id)
        if reservation is None:
            raise Refused(404, "No such reservation", f"There is no reservation {reservation_id!r}.")
        messages = {"cancelled": "The reservation is cancelled. Its codes stop working when the kiosk syncs.",
                    "extended": "The new expiry is sent to the kiosk; the citizen gets a new QR code by e-mail.",
                    "resent": "The citizen's code and QR code were e-mailed again.",
                    "sent": "The reservation is sent to the kiosk again with its next pull."}
        today = th.now().astimezone(th.config.zone).date()
        return console.render(request, "reservation.html", session=session, status=status,
                              title=f"Reservation {reservation.id}", nav="reservations", r=reservation,
                              timeline=queries.reservation_timeline(th, reservation.id), done=messages.get(done, ""),
                              error=error, can_change=reservation.status in CANCELLABLE, today=today.isoformat())

    @router.post("/reservations/{reservation_id}/cancel")
    def cancel(request: Request, reservation_id: str, posted: Post) -> Response:
        if posted.get("confirm") != "yes":
            return show(request, posted.session, reservation_id, status=400,
                        error="Tick “Yes, cancel this reservation” to cancel it.")
        try:
            services.cancel_reservation(th, reservation_id, by=posted.session.username)
        except services.ServiceError as exc:
            return show(request, posted.session, reservation_id, status=409, error=exc.detail)
        return console.redirect(f"{PREFIX}/reservations/{reservation_id}?done=cancelled")

    @router.post("/reservations/{reservation_id}/extend")
    def extend(request: Request, reservation_id: str, posted: Post) -> Response:
        day, at = posted.get("expires_on"), posted.get("expires_time") or "23:59"
        if not DATE.match(day) or not TIME.match(at):
            return show(request, posted.session, reservation_id, status=400,
                        error="Give the new expiry as a date (YYYY-MM-DD) and a time (HH:MM).")
        try:
            local = datetime.combine(datetime.strptime(day, "%Y-%m-%d").date(), time.fromisoformat(at),
                                     tzinfo=th.config.zone)
        except ValueError:
            return show(request, posted.session, reservation_id, status=400, error="That date does not exist.")
        try:
            services.extend_reservation(th, reservation_id, local, by=posted.session.username)
        except services.ServiceError as exc:
            return show(request, posted.session, reservation_id, status=409, error=exc.detail)
        return console.redirect(f"{PREFIX}/reservations/{reservation_id}?done=extended")

    @router.post("/reservations/{reservation_id}/send-again")
    def send_again(request: Request, reservation_id: str, posted: Post) -> Response:
        try:
            services.send_to_kiosk_again(th, reservation_id, national_number=posted.get("national_number") or None,
                                         authorised=split_lines(posted.get("authorised")))
        except services.ServiceError as exc:
            return show(request, posted.session, reservation_id, status=409, error=exc.detail)
        return console.redirect(f"{PREFIX}/reservations/{reservation_id}?done=sent")

    @router.post("/reservations/{reservation_id}/resend")
    def resend(request: Request, reservation_id: str, posted: Post) -> Response:
        try:
            services.resend_notification(th, reservation_id)
        except services.ServiceError as exc:
            return show(request, posted.session, reservation_id, status=409, error=exc.detail)
        return console.redirect(f"{PREFIX}/reservations/{reservation_id}?done=resent")
