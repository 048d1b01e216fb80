"""The kiosk API v1 (docs/api.md) as FastAPI routes: enrolment, events, changes, snapshot, heartbeat, itsme.

No endpoint commands a locker (DESIGN.md rule 7). Every error is JSON ``{"error", "detail"}``; every
authenticated request spends one token of its kiosk's rate bucket, and enrolment attempts have their own.
"""


import logging
import secrets
import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from townhall import exchange, services
from townhall.itsme import ItsmeUnavailable, SessionNotFound
from townhall.itsme_service import NotStrong, TooManyStarts
from townhall.ratelimit import RateLimiter
from townhall.runtime import Townhall
from townhall.schemas import (
    ChangesResponse,
    Cursor,
    EnrolRequest,
    EnrolResponse,
    ErrorResponse,
    EventsRequest,
    EventsResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    ItsmeSessionRequest,
    ItsmeSessionResponse,
    ItsmeStatusResponse,
    SessionId,
    SnapshotResponse,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4 * 1024 * 1024
TOUCH_SECONDS = 10.0  # last_seen_at is written at most this often per kiosk


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail, self.headers = status, error, detail, headers or {}


class BodyLimit:
    """Refuse a request body over ``limit`` bytes with 413 before any of it is parsed, however it is sent
    (a ``Content-Length`` or chunked): the body is counted as it arrives, never trusted from a header."""

    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or ()).get(b"content-length")
        too_large = length is not None and (not length.isdigit() or int(length) > self.limit)
        chunks: list[dict] = []
        received = 0
        while not too_large:
            message = await receive()
            chunks.append(message)
            if message["type"] != "http.request":
                break
            received += len(message.get("body", b""))
            too_large = received > self.limit
            if not message.get("more_body", False):
                break
        if too_large:
            await _error(413, "too_large", f"request bodies are limited to {self.limit} bytes")(scope, receive, send)
            return

        async def replay():
            return chunks.pop(0) if chunks else await receive()

        await self.app(scope, replay, send)


def _error(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


ERRORS = {401: {"model": ErrorResponse, "description": "missing or wrong bearer token"},
          413: {"model": ErrorResponse, "description": "request body too large"},
          422: {"model": ErrorResponse, "description": "the request does not match the schema"},
          429: {"model": ErrorResponse, "description": "too many requests; see Retry-After"}}


def install_api(app: FastAPI, th: Townhall) -> None:
    enrol_limiter = RateLimiter(10 / 60.0, 5, clock=th.clock)
    bearer = HTTPBearer(auto_error=False, description="the kiosk's token from POST /api/v1/enrol")
    touched: dict[str, float] = {}

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.error, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = ["{}: {}".format(".".join(str(p) for p in e.get("loc", ())), e.get("msg", "invalid"))
                    for e in exc.errors()[:20]]
        return _error(422, "invalid_request", "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return _error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail),
                      getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error: %s", type(exc).__name__)
        return _error(500, "internal", "the server failed; the request may be retried")

    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)

    def kiosk(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
        """The bearer token names the kiosk; then its rate bucket is charged."""
        kiosk_id = None
        if credentials is not None and 20 <= len(credentials.credentials) <= 200:
            kiosk_id = services.kiosk_for_token(th, credentials.credentials)
        if kiosk_id is None:
            raise ApiError(401, "unauthorized", "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})
        wait = th.limiter.take(kiosk_id)
        if wait:
            raise ApiError(429, "rate_limited", f"too many requests; ask again in {int(wait)} s",
                           {"Retry-After": str(int(wait))})
        now = time.monotonic()
        if now - touched.get(kiosk_id, -TOUCH_SECONDS) >= TOUCH_SECONDS:
            touched[kiosk_id] = now
            exchange.touch(th, kiosk_id)
        return kiosk_id

    router = APIRouter(prefix="/api/v1", responses=ERRORS)

    @router.post("/enrol", response_model=EnrolResponse, tags=["enrolment"],
                 responses={403: {"model": ErrorResponse, "description": "wrong, used or expired code"}})
    def enrol(body: EnrolRequest, request: Request) -> EnrolResponse:
        """Exchange a one-time enrolment code for this kiosk's bearer token (a new one replaces the old)."""
        host = request.client.host if request.client else "?"
        wait = max(enrol_limiter.take(f"kiosk:{body.kiosk_id}"), enrol_limiter.take(f"host:{host}"))
        if wait:
            raise ApiError(429, "rate_limited", f"too many enrolment attempts; ask again in {int(wait)} s",
                           {"Retry-After": str(int(wait))})
        token = services.enrol(th, body.kiosk_id, body.code)
        if token is None:
            secrets.compare_digest("a", "b")  # same path for every refusal
            raise ApiError(403, "enrolment_refused", "the enrolment code was not accepted")
        log.info("kiosk %s enrolled", body.kiosk_id)
        return EnrolResponse(kiosk_id=body.kiosk_id, token=token, qr_public_key=th.qr_public_key)

    @router.post("/events", response_model=EventsResponse, tags=["sync"])
    def events(body: EventsRequest, kiosk_id: Annotated[str, Depends(kiosk)]) -> EventsResponse:
        """Hold a batch of the kiosk's outbox events; each id is applied once and acknowledged every time."""
        if len(body.events) > th.config.max_events:
            raise ApiError(422, "too_many_events", f"at most {th.config.max_events} events per request")
        incoming = [exchange.IncomingEvent(e.id, e.type, e.payload, e.created_at) for e in body.events]
        return EventsResponse(acked=exchange.receive_events(th, kiosk_id, incoming))

    @router.get("/changes", response_model=ChangesResponse, response_model_exclude_none=True, tags=["sync"])
    def changes(kiosk_id: Annotated[str, Depends(kiosk)],
                after: Annotated[Cursor | None, Query(description="the cursor of the last page applied")] = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 100) -> ChangesResponse:
        """This kiosk's changes after ``after`` (docs/changes.md format), oldest first."""
        th.housekeeping()  # the retention limits, at most hourly
        page, cursor, more = exchange.changes_page(th, kiosk_id, int(after) if after else None,
                                                   min(limit, th.config.max_changes))
        return ChangesResponse(changes=page, cursor=str(cursor), more=more)

    @router.get("/snapshot", response_model=SnapshotResponse, response_model_exclude_none=True, tags=["sync"])
    def snapshot(kiosk_id: Annotated[str, Depends(kiosk)]) -> SnapshotResponse:
        """Everything this kiosk should hold now, as changes, with the feed cursor it reflects."""
        cursor, page = exchange.snapshot(th, kiosk_id)
        return SnapshotResponse(cursor=str(cursor), changes=page)

    @router.post("/heartbeat", response_model=HeartbeatResponse, tags=["sync"])
    def heartbeat(body: HeartbeatRequest, kiosk_id: Annotated[str, Depends(kiosk)]) -> HeartbeatResponse:
        """The kiosk's status (doors, lockers, alarms, outbox depth, versions) for the console."""
        exchange.record_heartbeat(th, kiosk_id, body.model_dump(mode="json"))
        return HeartbeatResponse(server_time=datetime.fromtimestamp(th.clock(), UTC))

    not_found = {404: {"model": ErrorResponse, "description": "no such session for this kiosk"}}

    @router.post("/itsme/sessions", status_code=201, response_model=ItsmeSessionResponse, tags=["itsme"],
                 responses={404: {"model": ErrorResponse, "description": "no such reservation for this kiosk"},
                            409: {"model": ErrorResponse, "description": "not a reservation itsme can identify for"},
                            503: {"model": ErrorResponse, "description": "itsme is not configured or not answering"}})
    def itsme_start(body: ItsmeSessionRequest, kiosk_id: Annotated[str, Depends(kiosk)]) -> ItsmeSessionResponse:
        """Open an itsme identification for a reservation of a strong product: the kiosk shows ``qr``, then polls.
        At most ``[itsme] starts_per_minute`` (6) a minute per kiosk: more are 429 with Retry-After."""
        try:
            started = th.itsme.start(kiosk_id, body.reservation_id)
        except TooManyStarts as exc:
            raise ApiError(429, "rate_limited", str(exc), {"Retry-After": str(exc.wait)}) from None
        except services.ServiceError:
            raise ApiError(404, "not_found", "no such reservation for this kiosk") from None
        except NotStrong as exc:
            raise ApiError(409, "not_identifiable", str(exc)) from None
        except ItsmeUnavailable:
            raise ApiError(503, "itsme_unavailable", "itsme unavailable") from None
        return ItsmeSessionResponse(session_id=started.session_id, qr=started.qr, expires_at=started.expires_at,
                                    poll_seconds=started.poll_seconds)

    SessionPath = Annotated[SessionId, Path(description="the session_id the POST returned")]

    @router.get("/itsme/sessions/{session_id}", response_model=ItsmeStatusResponse, tags=["itsme"],
                responses=not_found)
    def itsme_status(session_id: SessionPath, kiosk_id: Annotated[str, Depends(kiosk)]) -> ItsmeStatusResponse:
        """Where the session stands; the server asks itsme when its polling interval allows."""
        try:
            return ItsmeStatusResponse(status=th.itsme.status(kiosk_id, session_id))
        except SessionNotFound:
            raise ApiError(404, "not_found", "no such itsme session for this kiosk") from None

    @router.delete("/itsme/sessions/{session_id}", status_code=204, response_class=Response, tags=["itsme"],
                   responses=not_found)
    def itsme_cancel(session_id: SessionPath, kiosk_id: Annotated[str, Depends(kiosk)]) -> Response:
        """The citizen walked away or chose another way: the session ends as ``cancelled`` (a finished one stays as
        it ended)."""
        try:
            th.itsme.cancel(kiosk_id, session_id)
        except SessionNotFound:
            raise ApiError(404, "not_found", "no such itsme session for this kiosk") from None
        return Response(status_code=204)

    app.include_router(router)
