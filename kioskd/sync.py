"""The link with the town hall (docs/sync.md, docs/api.md): push the outbox, pull the change feed, heartbeat.

It runs in its own thread with its own database connection, so the main loop never waits on the network
and the kiosk serves on while the town hall is unreachable (rule 6). Every answer is checked against the
contract before anything of it is used: a malformed or hostile answer is logged with what is wrong and
changes nothing (rule 5). Events are marked sent only for the ids the server acknowledged from the batch
sent, so an event is sent at least once and the server's idempotency makes it count once (rule 2).
The bearer token lives in a 0600 file written by ``kioskctl enrol``; it is never logged or stored in the
database (rule 4).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import sqlite3
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from kioskd import __version__, journal
from kioskd.changes import CURSOR_KEY, ChangeError, apply_changes, store_cursor
from kioskd.clock import Clock, iso, parse_iso
from kioskd.config import SyncSection
from kioskd.diagnostics import ServiceDesk
from kioskd.events import DeviceStatus
from kioskd.reconcile import RECONCILED_KEY, SNAPSHOT_TYPES, change_summary, reconcile
from kioskd.store import Store

log = logging.getLogger(__name__)

API = "/api/v1"
API_VERSION = 1
MAX_CURSOR_LENGTH = 256
MAX_RETRY_AFTER_SECONDS = 3600.0
TOKEN_MIN_LENGTH = 32
NOT_ENROLLED = "not enrolled"
MAX_HEARTBEAT_ALARMS = 500  # the API's limit; the alarm events themselves are all in the outbox
CATCH_UP_AFTER_SECONDS = 26 * 3600  # a kiosk that missed its nightly reconciliation does it at once
SNAPSHOT_KEYS = {"reservation": "id", "product": "code", "badge": "uid"}



def read_capped(response: httpx.Response, cap: int, error: Callable[[str], Exception]) -> bytes:
    """A streamed answer's body, refused (``error(why)`` raised) as soon as it is declared or grows larger than
    ``cap`` bytes: a broken or hostile server cannot make the kiosk hold more than that in memory."""
    declared = response.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > cap:
        raise error(f"answer of {declared} bytes, more than the {cap} allowed")
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > cap:
            raise error(f"answer larger than the {cap} bytes allowed; dropped")
        chunks.append(chunk)
    return b"".join(chunks)

class BadResponse(Exception):
    """The server answered, but not as the contract says: nothing of the answer is used."""


class LinkDown(Exception):
    """No usable answer: connection refused or reset, timeout, 5xx, 401, 429."""

    def __init__(self, reason: str, *, retry_after: float | None = None, reachable: bool = False) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.reachable = reachable  # 429: the server is there, only busy


class TokenError(Exception):
    """The token file is missing or unusable: sync stays off, the kiosk serves on."""


# ---- the token ----------------------------------------------------------------------------------------


def token_path(settings: SyncSection | None, data_dir: Path) -> Path:
    return settings.token_file if settings is not None and settings.token_file else data_dir / "sync.token"


def read_token(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise TokenError(f"{path}: no token; enrol the kiosk with `kioskctl enrol --server URL --code CODE`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenError(f"{path}: cannot read the token: {getattr(exc, 'strerror', None) or exc}") from None
    if len(text) < TOKEN_MIN_LENGTH or not text.isprintable() or " " in text:
        raise TokenError(f"{path}: does not hold a token; enrol again")
    if mode & 0o077:
        log.warning("%s: token readable by others (mode %o); chmod 600", path, mode & 0o777)
    return text


def write_token(path: Path, token: str) -> None:
    """Atomically, mode 0600 from the first byte: a half-written or world-readable token never exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".sync-token-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(token + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def enrol(server: str, kiosk_id: str, code: str, *, timeout: float = 20.0,
          transport: httpx.BaseTransport | None = None) -> tuple[str, str | None]:
    """Exchange a one-time enrolment code for this kiosk's token: (token, the server's QR public key)."""
    try:
        with httpx.Client(base_url=server.rstrip("/"), timeout=timeout, transport=transport) as client:
            response = client.post(f"{API}/enrol", json={"kiosk_id": kiosk_id, "code": code})
    except httpx.HTTPError as exc:
        raise BadResponse(f"{server}: no answer: {type(exc).__name__}: {exc}") from None
    if response.status_code == 403:
        raise BadResponse(f"{server}: enrolment refused (a wrong, used or expired code, or another kiosk's)")
    if response.status_code != 200:
        raise BadResponse(f"{server}: enrolment failed: HTTP {response.status_code}{_error_code(response.content)}")
    try:
        body = response.json()
    except ValueError:
        raise BadResponse(f"{server}: enrolment answer is not JSON") from None
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or len(token) < TOKEN_MIN_LENGTH or not token.isprintable() or " " in token:
        raise BadResponse(f"{server}: enrolment answer holds no usable token")
    if body.get("kiosk_id") != kiosk_id:
        raise BadResponse(f"{server}: enrolment answer is for another kiosk")
    key = body.get("qr_public_key")
    return token, key if isinstance(key, str) else None


# ---- pure policies ------------------------------------------------------------------------------------


class Backoff:
    """Exponential backoff with full jitter: after n failures in a row, uniform(0, min(high, low * 2^(n-1)))."""

    def __init__(self, low: float, high: float, rand: Callable[[], float] = random.random) -> None:
        self.low, self.high, self._rand = low, high, rand
        self.failures = 0

    def failed(self) -> float:
        self.failures += 1
        ceiling = min(self.high, self.low * 2 ** min(self.failures - 1, 60))
        return max(self.low / 10, self._rand() * ceiling)

    def succeeded(self) -> None:
        self.failures = 0


class RateLimit:
    """At most ``per_minute`` requests in any sliding minute."""

    def __init__(self, per_minute: int, monotonic: Callable[[], float]) -> None:
        self._limit, self._monotonic = per_minute, monotonic
        self._sent: deque[float] = deque()

    def wait(self) -> float:
        now = self._monotonic()
        while self._sent and self._sent[0] <= now - 60:
            self._sent.popleft()
        return 0.0 if len(self._sent) < self._limit else self._sent[0] + 60 - now

    def note(self) -> None:
        self._sent.append(self._monotonic())


@dataclass(frozen=True)
class Page:
    changes: list
    cursor: str
    more: bool


def parse_acks(body: object, sent: set[str]) -> tuple[set[str], int]:
    """(ids of this batch the server holds, how many acks named ids not in it)."""
    acked = body.get("acked") if isinstance(body, dict) else None
    if not isinstance(acked, list) or not all(isinstance(item, str) for item in acked):
        raise BadResponse("events: expected {\"acked\": [event ids]}")
    named = set(acked)
    return named & sent, len(named - sent)


def parse_page(body: object, *, after: str | None, limit: int, kiosk_id: str) -> Page:
    """A page of the change feed, or BadResponse: wrong shape, a cursor that goes backwards or stands still
    while changes come, more changes than asked for, or changes addressed to another kiosk."""
    if not isinstance(body, dict):
        raise BadResponse("changes: expected an object with changes, cursor and more")
    changes, cursor, more = body.get("changes"), body.get("cursor"), body.get("more", False)
    if not isinstance(changes, list):
        raise BadResponse("changes: \"changes\" is not a list")
    cursor = _check_cursor("changes", cursor)
    if not isinstance(more, bool):
        raise BadResponse("changes: \"more\" is not true or false")
    if len(changes) > limit:
        raise BadResponse(f"changes: {len(changes)} changes on a page of at most {limit}")
    changes = _addressed_here("changes", body, changes, kiosk_id)
    if after is not None:
        if cursor == after and (changes or more):
            raise BadResponse(f"changes: the cursor stayed at {after!r} with changes or more to come")
        if after.isdecimal() and cursor.isdecimal() and int(cursor) < int(after):
            raise BadResponse(f"changes: the cursor went backwards from {after!r} to {cursor!r}")
    return Page(changes, cursor, more)


def _addressed_here(what: str, body: dict, changes: list, kiosk_id: str) -> list:
    """The changes, unless the answer or one of them names another kiosk (BadResponse)."""
    for where in (body, *changes):
        for field_name in ("kiosk", "kiosk_id"):
            named = where.get(field_name) if isinstance(where, dict) else None
            if named is not None and named != kiosk_id:
                raise BadResponse(f"{what}: addressed to kiosk {str(named)[:64]!r}, not {kiosk_id!r}")
    # a field naming this very kiosk is redundant, not a change: apply_changes refuses unknown fields
    return [{k: v for k, v in c.items() if k not in ("kiosk", "kiosk_id")} if isinstance(c, dict) else c
            for c in changes]


def _check_cursor(what: str, cursor: object) -> str:
    if not isinstance(cursor, str) or not 0 < len(cursor) <= MAX_CURSOR_LENGTH or not cursor.isprintable():
        raise BadResponse(f"{what}: \"cursor\" must be a string of 1-{MAX_CURSOR_LENGTH} printable characters")
    return cursor


def parse_snapshot(body: object, *, after: str | None, kiosk_id: str) -> Page:
    """The snapshot as a page (``more`` false), or BadResponse: the wrong shape, an entry that is not a
    product, badge or reservation with its key, an entry twice, another kiosk's, or a cursor behind the
    kiosk's own (a snapshot older than what the kiosk has applied)."""
    if not isinstance(body, dict):
        raise BadResponse("snapshot: expected an object with cursor and changes")
    changes = body.get("changes")
    if not isinstance(changes, list):
        raise BadResponse("snapshot: \"changes\" is not a list")
    cursor = _check_cursor("snapshot", body.get("cursor"))
    changes = _addressed_here("snapshot", body, changes, kiosk_id)
    seen: set[tuple[str, str]] = set()
    for index, change in enumerate(changes):
        kind = change.get("type") if isinstance(change, dict) else None
        if kind not in SNAPSHOT_TYPES:
            raise BadResponse(f"snapshot: entry {index}: expected a {', '.join(SNAPSHOT_TYPES)} change")
        key = change.get(SNAPSHOT_KEYS[kind])
        if not isinstance(key, str) or not key:
            raise BadResponse(f"snapshot: entry {index}: a {kind} without its {SNAPSHOT_KEYS[kind]}")
        if (kind, key.upper() if kind == "badge" else key) in seen:
            raise BadResponse(f"snapshot: entry {index}: the same {kind} twice")
        seen.add((kind, key.upper() if kind == "badge" else key))
    if after is not None and after.isdecimal() and cursor.isdecimal() and int(cursor) < int(after):
        raise BadResponse(f"snapshot: its cursor {cursor!r} is behind the kiosk's {after!r}")
    return Page(changes, cursor, False)


def next_local_time(after: float, hhmm: str, timezone: str) -> float:
    """The first moment after ``after`` when the kiosk's local clock reads ``hhmm`` (a time skipped by a
    daylight-saving change counts at the same offset as the hour before it)."""
    zone = ZoneInfo(timezone)
    hours, minutes = (int(part) for part in hhmm.split(":"))
    day = datetime.fromtimestamp(after, zone).date()
    for offset in range(3):
        moment = datetime.combine(day + timedelta(days=offset), time_of_day(hours, minutes), zone).timestamp()
        if moment > after:
            return moment
    raise AssertionError("a time of day recurs within three days")


def local_hhmm(ts: float, timezone: str) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(timezone)).strftime("%H:%M")


def _error_code(body: bytes) -> str:
    try:
        data = json.loads(body[:4096])
    except ValueError:
        return ""
    code = data.get("error") if isinstance(data, dict) else None
    return f" ({code[:60]})" if isinstance(code, str) and code.isprintable() else ""


# ---- the client ---------------------------------------------------------------------------------------


class SyncClient:
    """One thread: pushes, pulls and heartbeats as they fall due, one request at a time.

    ``clock`` stamps records and "offline since" (the harness's clock in tests); ``monotonic`` schedules
    requests and backoff; both, and ``rand`` for the jitter, are injectable.
    """

    def __init__(self, settings: SyncSection, *, token: str, db_path: Path, kiosk_id: str, key: bytes,
                 pin_length: int, timezone: str, lockers: tuple[int, ...], door_is_open: Callable[[int], bool],
                 post: Callable[[object], None], clock: Clock, monotonic: Callable[[], float] = time.monotonic,
                 rand: Callable[[], float] = random.random, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self._token = token
        self._db_path = db_path
        self.kiosk_id = kiosk_id
        self._key = key
        self._pin_length = pin_length
        self._timezone = timezone
        self._lockers = lockers
        # door_is_open only reads: a gpiozero pin's last level, or the RS485 poller's cached state; no I/O
        self._door_is_open = door_is_open
        self._post = post
        self._clock = clock
        self._monotonic = monotonic
        self._transport = transport
        self._backoff = Backoff(settings.backoff_min_seconds, settings.backoff_max_seconds, rand)
        self._rate = RateLimit(settings.max_requests_per_minute, monotonic)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._push_wanted = threading.Event()  # set by the main loop after it commits outbox rows
        self._thread: threading.Thread | None = None
        self.store: Store | None = None
        self._http: httpx.Client | None = None
        self._desk: ServiceDesk | None = None
        self._resume_at = 0.0
        self._due = {"push": 0.0, "pull": 0.0, "heartbeat": 0.0}
        self._floor = 0  # every outbox row below this seq is sent
        self._refused: tuple[str | None, int] | None = None  # (cursor asked after, times its page was refused)
        self._isolate = 0  # changes still to fetch one at a time after a refused page
        # the snapshot: wall-clock time of the next nightly one (the kiosk's local snapshot_at), whether it is
        # waiting for the outbox to drain and the feed to catch up, and (monotonic) when to try it again
        self._next_snapshot = math.inf
        self._snapshot_armed = False
        self._snapshot_retry = 0.0
        self.online: bool | None = None
        self._failing_since: float | None = None
        self.requests = 0
        self.last_error = ""
        self._skew_told = False

    # ---- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sync", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("sync thread did not stop within %.0f s", timeout)
            self._thread = None

    def wake(self) -> None:
        """Do what is due now instead of at the next interval, backoff included (tests, a technician)."""
        self._due = dict.fromkeys(self._due, 0.0)
        self._resume_at = 0.0
        self._snapshot_retry = 0.0
        self._wake.set()

    def wake_push(self) -> None:
        """Thread-safe, for the main loop after it committed outbox rows: push them now rather than at the
        next ``push_interval_seconds``. Backoff and the rate cap still hold, so a kiosk cut off from the
        town hall does not hammer it; rows committed while a push is in flight go in the next one."""
        self._push_wanted.set()
        self._wake.set()

    def open(self) -> None:
        """The connection and the HTTP client, in the thread that uses them."""
        self.store = Store(self._db_path)
        self._desk = ServiceDesk(store=self.store, lockers=self._lockers, door_is_open=self._door_is_open,
                                 devices=dict, configured={}, timezone=self._timezone)
        self._http = self._new_http()
        self._schedule_snapshot(self._clock.time(), self.store.meta(RECONCILED_KEY))

    def _schedule_snapshot(self, now: float, last: str | None) -> None:
        """The next nightly snapshot; at once when the last reconciliation is more than a day old."""
        self._next_snapshot = next_local_time(now, self.settings.snapshot_at, self._timezone)
        try:
            overdue = last is not None and now - parse_iso(last) > CATCH_UP_AFTER_SECONDS
        except ValueError:
            overdue = True
        if overdue:
            self._next_snapshot = now

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.store is not None:
            self.store.close()
            self.store = None

    def _run(self) -> None:
        try:
            self.open()
        except (sqlite3.Error, OSError) as exc:
            log.error("sync disabled: cannot open the database: %s", exc)
            return
        try:
            while not self._stop.is_set():
                try:
                    delay = self.step()
                except Exception:  # noqa: BLE001 - the thread's supervisor: a missed case must not end sync
                    log.exception("unexpected failure in the sync thread; backing off")
                    delay = self._backoff.failed()
                    self._resume_at = self._monotonic() + delay
                self._wake.wait(max(0.0, delay))
                self._wake.clear()
        finally:
            self.close()

    def _new_http(self) -> httpx.Client:
        s = self.settings
        return httpx.Client(base_url=s.server, transport=self._transport, follow_redirects=False,
                            timeout=httpx.Timeout(s.request_timeout_seconds, connect=s.connect_timeout_seconds),
                            headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json",
                                     "User-Agent": f"kioskd/{__version__}"})

    # ---- one step -----------------------------------------------------------------------------------

    def step(self) -> float:
        """Make at most one request that is due; seconds until something may be due again."""
        now = self._monotonic()
        if now < self._resume_at:
            return self._resume_at - now
        wait = self._rate.wait()
        if wait > 0:
            return wait
        try:
            self._do_due(now)
        except LinkDown as exc:
            return self._failed(str(exc), retry_after=exc.retry_after, reachable=exc.reachable)
        except BadResponse as exc:
            log.warning("bad answer from the town hall: %s; nothing of it was used", exc)
            return self._failed(str(exc), reachable=True)
        except sqlite3.Error as exc:
            log.error("sync: database busy or failing: %s", exc)
            return self._failed(f"database: {exc}", reachable=True)
        now = self._monotonic()
        due = min(self._due.values()) - now
        if self._snapshot_armed or self.store.meta(CURSOR_KEY) is None:
            due = min(due, self._snapshot_retry - now)
        else:  # a wall-clock time: a clock that jumps is seen at the next heartbeat at the latest
            due = min(due, self._next_snapshot - self._clock.time())
        return max(0.0, due)

    def _do_due(self, now: float) -> None:
        s = self.settings
        if self._push_wanted.is_set():
            self._push_wanted.clear()  # before the outbox is read: a row committed after it wakes us again
            self._due["push"] = min(self._due["push"], now)
        if not self._snapshot_armed and self._clock.time() >= self._next_snapshot:
            self._snapshot_armed = True  # first drain the outbox and catch up with the feed, then compare
            self._due["push"] = self._due["pull"] = now
        if self._due["push"] <= now:
            try:
                outcome = self.push()
            except (LinkDown, BadResponse, sqlite3.Error):
                # a batch the town hall keeps refusing must not starve the feed, the snapshot or the heartbeat:
                # after the backoff they get their turn before the push is tried again
                self._due["push"] = now + s.push_interval_seconds
                raise
            if outcome is not None:
                self._succeeded()
                self._due["push"] = now if outcome == s.batch_size else now + s.push_interval_seconds
                return
            self._due["push"] = now + s.push_interval_seconds
        starting = self.store.meta(CURSOR_KEY) is None
        if (starting or (self._snapshot_armed and self._due["pull"] > now)) and self._snapshot_retry <= now:
            try:
                self.snapshot()
            except (LinkDown, BadResponse, sqlite3.Error):
                self._snapshot_retry = now + s.pull_interval_seconds  # the heartbeat goes on meanwhile
                raise
            self._succeeded()
            self._due["push"] = self._due["pull"] = now  # the report, and the feed after the snapshot's cursor
            return
        if self._due["pull"] <= now and not starting:
            more = self.pull()
            self._succeeded()
            self._due["pull"] = now if more else now + s.pull_interval_seconds
            return
        if self._due["heartbeat"] <= now:
            self.heartbeat()
            self._succeeded()
            self._due["heartbeat"] = now + s.heartbeat_interval_seconds

    def _succeeded(self) -> None:
        self._backoff.succeeded()
        self._failing_since = None
        self.last_error = ""
        if self.online is not True:
            self.online = True
            log.info("town hall %s reachable: online", self.settings.server)
            self._post(DeviceStatus("sync", True, ""))

    def _failed(self, reason: str, *, retry_after: float | None = None, reachable: bool = False) -> float:
        delay = self._backoff.failed()
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER_SECONDS))
        self._resume_at = self._monotonic() + delay
        self.last_error = reason
        if self._failing_since is None:
            self._failing_since = self._clock.time()
        if reachable and retry_after is not None:
            log.info("town hall busy (%s); next request in %.1f s", reason, delay)
            return delay
        log.warning("sync failed: %s; retrying in %.1f s", reason, delay)
        if self.online is not False and self._backoff.failures >= self.settings.offline_after_failures:
            self.online = False
            since = local_hhmm(self._failing_since, self._timezone)
            log.warning("town hall %s unreachable since %s: offline", self.settings.server, since)
            self._post(DeviceStatus("sync", False, since))
        return delay

    # ---- HTTP ---------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, body: object = None, params: Mapping | None = None) -> object:
        self._rate.note()
        self.requests += 1
        cap = self.settings.max_response_bytes
        try:
            with self._http.stream(method, API + path, json=body, params=params) as response:
                status = response.status_code
                if status == 429 or status >= 500 or status == 401:
                    raise self._refusal(status, response)
                content = read_capped(response, cap, lambda why: BadResponse(f"{path}: {why}"))
        except httpx.TimeoutException as exc:
            self._reconnect()
            raise LinkDown(f"{method} {path}: timed out ({type(exc).__name__})") from None
        except (httpx.TransportError, httpx.DecodingError) as exc:
            self._reconnect()
            raise LinkDown(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        if status != 200:
            raise BadResponse(f"{method} {path}: HTTP {status}{_error_code(content)}")
        try:
            return json.loads(content)
        except (ValueError, RecursionError):
            raise BadResponse(f"{method} {path}: answer is not JSON ({len(content)} bytes)") from None

    def _refusal(self, status: int, response: httpx.Response) -> LinkDown:
        if status == 401:
            return LinkDown("the town hall refused this kiosk's token (HTTP 401): enrol it again")
        if status == 429:
            retry = response.headers.get("retry-after", "").strip()
            return LinkDown("HTTP 429", retry_after=float(retry) if retry.isdecimal() else None, reachable=True)
        return LinkDown(f"HTTP {status} from {response.request.url.path}")

    def _reconnect(self) -> None:
        """Drop pooled connections: the next request opens a fresh one after the backoff."""
        if self._http is not None:
            self._http.close()
        self._http = self._new_http()

    # ---- push ---------------------------------------------------------------------------------------

    def push(self) -> int | None:
        """Send the oldest pending events; how many were acknowledged, or None when none are pending."""
        rows = self.store.conn.execute(
            "SELECT seq, id, type, payload, created_at FROM outbox WHERE seq >= ? AND sent_at IS NULL"
            " ORDER BY seq LIMIT ?", (self._floor, self.settings.batch_size)).fetchall()
        if not rows:
            top = self.store.conn.execute("SELECT MAX(seq) FROM outbox").fetchone()[0]
            self._floor = (top or 0) + 1
            return None
        self._floor = rows[0][0]
        events = [{"id": eid, "type": etype, "payload": json.loads(payload), "created_at": created}
                  for _seq, eid, etype, payload, created in rows]
        sent = {event["id"] for event in events}
        started = time.monotonic()
        acked, stray = parse_acks(self._request("POST", "/events", body={"events": events}), sent)
        if stray:
            log.warning("events: the server acknowledged %d id(s) that were not in the batch sent; ignored", stray)
        if not acked:
            raise BadResponse(f"events: none of the {len(sent)} events sent was acknowledged")
        with self.store.transaction() as conn:
            conn.executemany("UPDATE outbox SET sent_at = ? WHERE id = ? AND sent_at IS NULL",
                             [(iso(self._clock.time()), eid) for eid in acked])
        if len(acked) < len(sent):
            log.warning("events: %d of %d not acknowledged; they stay queued", len(sent) - len(acked), len(sent))
        log.info("sent %d events in %.2f s", len(acked), time.monotonic() - started)
        return len(acked)

    # ---- pull ---------------------------------------------------------------------------------------

    def pull(self) -> bool:
        """Apply the next page of the change feed with its cursor, in one transaction; True when more wait."""
        after = self.store.meta(CURSOR_KEY)
        limit = 1 if self._isolate else self.settings.page_size
        params = {"limit": limit} | ({"after": after} if after is not None else {})
        page = parse_page(self._request("GET", "/changes", params=params), after=after, limit=limit,
                          kiosk_id=self.kiosk_id)
        if not page.changes and page.cursor == after:
            self._isolate = 0
            return False
        try:
            result = apply_changes(self.store, page.changes, key=self._key, pin_length=self._pin_length,
                                   now=self._clock.time(), source="sync", cursor=page.cursor)
        except ChangeError as exc:
            return self._page_refused(page, after, exc.problems)
        self._refused = None
        if self._isolate:
            self._isolate = max(0, self._isolate - len(page.changes)) if page.changes else 0
        if page.changes:
            summary = ", ".join(f"{n} {kind}" for kind, n in sorted(result.counts.items()))
            log.info("applied %s from the town hall (cursor %s)", summary, page.cursor)
        return page.more or bool(self._isolate)

    def _page_refused(self, page: Page, after: str | None, problems: list[str]) -> bool:
        """Held first (a refusal may pass: a door open right now), then narrowed to the change at fault,
        which is skipped with a ``changes.refused`` event in the same transaction as the cursor."""
        times = self._refused[1] + 1 if self._refused and self._refused[0] == after else 1
        self._refused = (after, times)
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        log.warning("refused %d change(s) after cursor %s (time %d): %s", len(page.changes), after, times, shown)
        if times <= self.settings.refused_page_retries:
            return False
        if len(page.changes) > 1:
            self._isolate, self._refused = len(page.changes), None
            log.warning("fetching the changes after cursor %s one at a time to find the one at fault", after)
            return True
        now = self._clock.time()
        with self.store.transaction():
            self.store.add_outbox("changes.refused", {
                "after": after, "cursor": page.cursor, "problems": problems[:50],
                "changes": [change_summary(c) for c in page.changes], "at": iso(now)}, now)
            self.store.add_audit("sync", "changes.refused", {"after": after, "cursor": page.cursor}, now)
            store_cursor(self.store, page.cursor)
        log.error("skipped a refused change after cursor %s (reported to the town hall): %s", after, shown)
        self._refused = None
        self._isolate = max(0, self._isolate - 1)
        return page.more or bool(self._isolate)

    # ---- snapshot -----------------------------------------------------------------------------------

    def snapshot(self) -> None:
        """Fetch the snapshot and reconcile (kioskd.reconcile): a kiosk without a cursor starts from it, the
        others compare with it every night. Its report goes to the town hall as ``sync.reconciled``."""
        after = self.store.meta(CURSOR_KEY)
        snap = parse_snapshot(self._request("GET", "/snapshot"), after=after, kiosk_id=self.kiosk_id)
        now = self._clock.time()
        report = reconcile(self.store, snap.changes, key=self._key, pin_length=self._pin_length, now=now,
                           cursor=snap.cursor, kiosk_cursor=after)
        self._snapshot_armed = False
        self._snapshot_retry = 0.0
        self._next_snapshot = next_local_time(now, self.settings.snapshot_at, self._timezone)
        counts = ", ".join(f"{n} {name}" for name, n in report.counts().items() if n)
        log.log(logging.WARNING if report.refused else logging.INFO, "%s the town hall's snapshot (cursor %s): %s",
                "started from" if after is None else "reconciled with", snap.cursor, counts or "nothing to do")

    # ---- heartbeat ----------------------------------------------------------------------------------

    def heartbeat_body(self) -> dict:
        now = self._clock.time()
        status = self._desk.status(now)
        pending = self.store.conn.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]
        return {"at": iso(now), "doors": {str(row["locker"]): row["door"] for row in status["lockers"]},
                "lockers": [{"locker": row["locker"], "contents": row["contents"], "flags": row["flags"]}
                            for row in status["lockers"]],
                "alarms": journal.active_alarms(self.store)[:MAX_HEARTBEAT_ALARMS], "outbox_depth": pending,
                "versions": {"kioskd": __version__, "api": API_VERSION}}

    def heartbeat(self) -> None:
        answer = self._request("POST", "/heartbeat", body=self.heartbeat_body())
        server_time = answer.get("server_time") if isinstance(answer, dict) else None
        try:
            skew = parse_iso(server_time) - self._clock.time() if isinstance(server_time, str) else None
        except ValueError:
            skew = None
        if skew is None:
            raise BadResponse("heartbeat: expected {\"server_time\": ISO 8601 time with offset}")
        if abs(skew) > 300 and not self._skew_told:
            self._skew_told = True
            log.warning("the kiosk's clock is %.0f s %s the town hall's", abs(skew),
                        "behind" if skew > 0 else "ahead of")
