"""The kiosk's side of itsme (docs/itsme.md): ask the town hall for a session, show its QR code, poll the outcome.

The town hall is the itsme relying party; the kiosk never sees itsme's credentials, tokens or the citizen's
national number, only the outcome: ``match`` (the person is the reservation's holder or someone the holder
authorised), ``mismatch``, ``rejected``, ``expired``, ``cancelled`` or ``unavailable``. itsme is the one
identification that needs the network (rule 6), so anything that goes wrong — no network, the town hall down or
without itsme, an answer that breaks the contract — ends the session as ``unavailable`` and the flow offers the
eID instead; it never raises into the main loop.

Like every driver, the link runs in its own thread and only posts events (``ItsmeStarted``, then one
``ItsmeResult``); ``start`` and ``cancel`` return at once. ``SimItsmeLink`` is its simulator twin.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from kioskd import __version__
from kioskd.events import ITSME_OUTCOMES, ItsmeResult, ItsmeStarted

if TYPE_CHECKING:  # httpx (and the sync client) load only when the real link is used: the Sim twin starts faster
    import httpx

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 64 * 1024  # the answers are a few hundred bytes; anything larger is not one of them
MAX_QR_CHARS = 2048  # a QR code holds at most ~2.9 kB; the kiosk's screen shows far less
MIN_POLL_SECONDS, MAX_POLL_SECONDS = 1.0, 30.0
POLL_FAILURES_TO_GIVE_UP = 3  # transient poll failures in a row before the session is "unavailable"
SIM_SESSION_SECONDS = 120.0
JOIN_SECONDS = 10.0


class Unusable(Exception):
    """No usable answer from the town hall (the reason is for the log, never shown to the citizen)."""


class Transient(Unusable):
    """No answer in time, or the town hall busy (5xx, 429): a poll is tried again, a few times. The town hall
    may be finishing the itsme exchange (up to four requests to itsme) when the kiosk stops waiting; the
    outcome it records is then what the next poll hears, so one slow answer does not lose a confirmed login."""


@dataclass
class _Job:
    reservation_id: str
    cancelled: threading.Event = field(default_factory=threading.Event)
    session_id: str = ""
    thread: threading.Thread | None = None


def parse_started(body: object) -> tuple[str, str, float, float]:
    """(session id, QR text, expiry as a timestamp, poll interval) from the answer to POST /itsme/sessions."""
    if not isinstance(body, dict):
        raise Unusable("answer is not an object")
    session_id, qr, expires, poll = (body.get(k) for k in ("session_id", "qr", "expires_at", "poll_seconds"))
    if not isinstance(session_id, str) or not 1 <= len(session_id) <= 64 or not session_id.isascii() \
            or not all(c.isalnum() or c in "-_" for c in session_id):
        raise Unusable("session_id missing or malformed")
    if not isinstance(qr, str) or not 1 <= len(qr) <= MAX_QR_CHARS:
        raise Unusable("qr missing or malformed")
    try:
        when = datetime.fromisoformat(expires) if isinstance(expires, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise Unusable("expires_at is not an ISO-8601 time with its offset")
    if isinstance(poll, bool) or not isinstance(poll, int | float) or poll != poll:
        raise Unusable("poll_seconds is not a number")
    return session_id, qr, when.timestamp(), min(max(float(poll), MIN_POLL_SECONDS), MAX_POLL_SECONDS)


def parse_status(body: object) -> str:
    status = body.get("status") if isinstance(body, dict) else None
    if status != "pending" and status not in ITSME_OUTCOMES:
        raise Unusable("status missing or unknown")
    return status


class ItsmeLink:
    """One itsme session at a time against the town hall's ``/api/v1/itsme/sessions`` (docs/api.md)."""

    def __init__(self, base_url: str, token: str, post: Callable[[object], None], *,
                 clock: Callable[[], float] = time.time, timeout: float = 5.0, verify: bool | str = True,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._post = post
        self._clock = clock
        self._timeout = timeout
        self._verify = verify
        self._transport = transport
        self._lock = threading.Lock()
        self._job: _Job | None = None
        self._jobs: list[_Job] = []

    def start(self, reservation_id: str) -> None:
        """Open a session for ``reservation_id`` in a worker thread (a running one is cancelled first)."""
        job = _Job(reservation_id)
        with self._lock:
            if self._job is not None:
                self._job.cancelled.set()
            self._jobs = [j for j in self._jobs if j.thread is not None and j.thread.is_alive()]
            self._job = job
            job.thread = threading.Thread(target=self._run, args=(job,), daemon=True, name="itsme-link")
            self._jobs.append(job)
        job.thread.start()

    def cancel(self) -> None:
        """Stop polling; the worker then deletes the session at the town hall (best effort). No result follows."""
        with self._lock:
            if self._job is not None:
                self._job.cancelled.set()
                self._job = None

    def stop(self, timeout: float = JOIN_SECONDS) -> None:
        """At shutdown: cancel and wait for the workers (each finishes its request, bounded by ``timeout``)."""
        self.cancel()
        with self._lock:
            jobs = list(self._jobs)
        for job in jobs:
            if job.thread is not None:
                job.thread.join(timeout)

    # ---- the worker --------------------------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        import httpx

        from kioskd.sync import API

        return httpx.Client(base_url=self._base_url + API, transport=self._transport, verify=self._verify,
                            follow_redirects=False, timeout=self._timeout,
                            headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json",
                                     "User-Agent": f"kioskd/{__version__}"})

    def _finish(self, job: _Job, outcome: str) -> None:
        # a cancelled session reports nothing: the flow has moved on. Posted under the lock, so a cancel (and a
        # new start) cannot come between the check and the post (posting only queues: it never blocks)
        with self._lock:
            if job.cancelled.is_set():
                return
            if self._job is job:
                self._job = None
            self._post(ItsmeResult(job.session_id, outcome, job.reservation_id))

    def _run(self, job: _Job) -> None:
        try:
            with self._client() as http:
                try:
                    self._follow(job, http)
                except Unusable as exc:
                    log.warning("itsme session for reservation %s: unavailable: %s", job.reservation_id, exc)
                    self._finish(job, "unavailable")
                if job.cancelled.is_set() and job.session_id:
                    self._delete(http, job.session_id)
        except Exception:  # last resort: a driver thread never dies silently nor leaves the flow waiting
            log.exception("itsme link failed unexpectedly")
            self._finish(job, "unavailable")

    def _follow(self, job: _Job, http: httpx.Client) -> None:
        started = self._call(http, "POST", "/itsme/sessions", {"reservation_id": job.reservation_id}, 201)
        job.session_id, qr, expires_at, poll = parse_started(started)
        with self._lock:
            if job.cancelled.is_set():
                return
            self._post(ItsmeStarted(job.session_id, qr, expires_at, job.reservation_id))
        failures = 0
        while not job.cancelled.wait(poll):
            if self._clock() >= expires_at:
                self._finish(job, "expired")
                self._delete(http, job.session_id)
                return
            try:
                status = parse_status(self._call(http, "GET", f"/itsme/sessions/{job.session_id}", None, 200))
            except Transient as exc:
                failures += 1
                if failures >= POLL_FAILURES_TO_GIVE_UP:
                    raise
                log.info("itsme session %s: poll failed (%s); trying again", job.session_id, exc)
                continue
            failures = 0
            if status != "pending":
                self._finish(job, status)
                return

    def _call(self, http: httpx.Client, method: str, path: str, body: dict | None, expected: int) -> object:
        import httpx

        from kioskd.sync import read_capped

        try:
            with http.stream(method, path, json=body) as response:
                content = read_capped(response, MAX_ANSWER_BYTES, lambda why: Unusable(f"{method} {path}: {why}"))
                status = response.status_code
        except httpx.HTTPError as exc:
            raise Transient(f"{method} {path}: {type(exc).__name__}") from None
        if status != expected:
            kind = Transient if status >= 500 or status == 429 else Unusable
            raise kind(f"{method} {path}: HTTP {status}")
        try:
            return json.loads(content)
        except (ValueError, RecursionError):
            raise Unusable(f"{method} {path}: answer is not JSON") from None

    def _delete(self, http: httpx.Client, session_id: str) -> None:
        import httpx

        try:
            http.delete(f"/itsme/sessions/{session_id}")
        except httpx.HTTPError as exc:
            log.info("itsme session %s: could not cancel at the town hall (%s)", session_id, type(exc).__name__)


class SimItsmeLink:
    """The simulator's itsme: the same interface, and test-instrument methods that act as the citizen's app.

    ``matches(reservation_id, national_number)`` is given by the composition root (it compares keyed hashes in the
    kiosk's own store), so a confirmed identity goes through the kiosk's real matching.
    """

    def __init__(self, post: Callable[[object], None], *, matches: Callable[[str, str], bool],
                 clock: Callable[[], float] = time.time) -> None:
        self._post = post
        self._matches = matches
        self._clock = clock
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._session: tuple[str, str] | None = None  # (session id, reservation id)

    @property
    def session_id(self) -> str | None:
        with self._lock:
            return self._session[0] if self._session else None

    def start(self, reservation_id: str) -> None:
        session_id = f"sim-{next(self._counter)}"
        with self._lock:
            self._session = (session_id, reservation_id)
        self._post(ItsmeStarted(session_id, f"itsme-sim:{session_id}", self._clock() + SIM_SESSION_SECONDS,
                                reservation_id))

    def cancel(self) -> None:
        with self._lock:
            self._session = None

    def stop(self, timeout: float = JOIN_SECONDS) -> None:
        self.cancel()

    def _end(self, outcome: Callable[[str], str]) -> bool:
        with self._lock:
            session, self._session = self._session, None
        if session is None:
            return False
        self._post(ItsmeResult(session[0], outcome(session[1]), session[1]))
        return True

    def confirm(self, national_number: str) -> bool:
        """The citizen confirms in the app as the person with ``national_number``; False: no session open."""
        return self._end(lambda rid: "match" if self._matches(rid, national_number) else "mismatch")

    def reject(self) -> bool:
        return self._end(lambda rid: "rejected")

    def expire(self) -> bool:
        return self._end(lambda rid: "expired")
