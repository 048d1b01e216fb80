"""Console logins: server-side sessions named by a signed cookie, a CSRF token per session, a throttle on
failed logins, and the urlencoded form reader every POST goes through.

The cookie carries only a random session id and its HMAC under the server's secret key file
(``keys.secret_key``), HttpOnly and SameSite=Strict; the session itself (user, CSRF token, times) lives in
this process, so logging out ends it for good and a restart logs everyone out. Passwords are checked by
``services.verify_user`` (scrypt); there is no default user.
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from dataclasses import dataclass
from urllib.parse import parse_qs

from fastapi import Request, Response

from townhall.runtime import Townhall

COOKIE = "townhall_console"
LOGIN_COOKIE = "townhall_console_login"  # the login form's CSRF token (double submit), before any session
SESSION_SECONDS = 8 * 3600  # a working day, at most
IDLE_SECONDS = 3600
MAX_FORM_BYTES = 64 * 1024
FAILURE_WINDOW = 15 * 60
FAILURES_PER_USER = 5
FAILURES_PER_HOST = 20


@dataclass
class Session:
    id: str
    username: str
    csrf: str
    started: float
    last_used: float


class Sessions:
    def __init__(self, th: Townhall) -> None:
        self._th = th
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def _sign(self, value: str) -> str:
        return f"{value}.{self._th.sealer.digest('console-cookie', value)}"

    def _unsign(self, signed: str | None) -> str | None:
        if not signed or signed.count(".") != 1:
            return None
        value, _signature = signed.split(".")
        return value if secrets.compare_digest(self._sign(value), signed) else None

    def start(self, response: Response, username: str, secure: bool) -> Session:
        now = self._th.clock()
        session = Session(secrets.token_urlsafe(32), username, secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._sessions = {k: s for k, s in self._sessions.items() if not self._expired(s, now)}
            self._sessions[session.id] = session
        response.set_cookie(COOKIE, self._sign(session.id), max_age=SESSION_SECONDS, path="/console",
                            httponly=True, samesite="strict", secure=secure)
        return session

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.started > SESSION_SECONDS or now - session.last_used > IDLE_SECONDS

    def current(self, request: Request) -> Session | None:
        sid = self._unsign(request.cookies.get(COOKIE))
        if sid is None:
            return None
        now = self._th.clock()
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            if self._expired(session, now):
                del self._sessions[sid]
                return None
            session.last_used = now
            return session

    def end(self, request: Request, response: Response) -> None:
        sid = self._unsign(request.cookies.get(COOKIE))
        with self._lock:
            self._sessions.pop(sid or "", None)
        response.delete_cookie(COOKIE, path="/console", httponly=True, samesite="strict")

    def end_user(self, username: str) -> None:
        with self._lock:
            self._sessions = {k: s for k, s in self._sessions.items() if s.username != username}

    # the login form's token, before a session exists
    def login_token(self, request: Request) -> tuple[str, str | None]:
        """(token for the form, cookie value to set or None when the browser has a valid one already)."""
        current = self._unsign(request.cookies.get(LOGIN_COOKIE))
        if current is not None:
            return current, None
        token = secrets.token_urlsafe(32)
        return token, self._sign(token)

    def login_token_ok(self, request: Request, submitted: str) -> bool:
        expected = self._unsign(request.cookies.get(LOGIN_COOKIE))
        return expected is not None and bool(submitted) and secrets.compare_digest(expected, submitted)


def csrf_ok(session: Session, submitted: str) -> bool:
    return bool(submitted) and secrets.compare_digest(session.csrf, submitted)


class LoginThrottle:
    """At most ``FAILURES_PER_USER`` failed logins per user name and ``FAILURES_PER_HOST`` per client address in
    ``FAILURE_WINDOW`` seconds; beyond that the password is not even checked until the window has moved on."""

    def __init__(self, th: Townhall) -> None:
        self._clock = th.clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _keys(self, username: str, host: str) -> list[tuple[str, int]]:
        return [(f"user:{username.lower()}", FAILURES_PER_USER), (f"host:{host}", FAILURES_PER_HOST)]

    def wait_seconds(self, username: str, host: str) -> int:
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key, limit in self._keys(username, host):
                times = self._failures.get(key)
                while times and now - times[0] > FAILURE_WINDOW:
                    times.popleft()
                if times and len(times) >= limit:
                    wait = max(wait, FAILURE_WINDOW - (now - times[0]))
        return int(wait) + 1 if wait else 0

    def failed(self, username: str, host: str) -> None:
        now = self._clock()
        with self._lock:
            for key, _limit in self._keys(username, host):
                self._failures.setdefault(key, deque(maxlen=100)).append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{username.lower()}", None)


class FormError(ValueError):
    pass


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded body of a console form (first value of each field); what browsers send without JS."""
    if request.method != "POST":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormError("the form is too large")
    if not body:
        return {}  # an empty form: refused further on for its missing token, like any other
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise FormError("expected a form (application/x-www-form-urlencoded)")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=100, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormError("the form could not be read") from exc
    return {key: values[0] for key, values in fields.items()}
