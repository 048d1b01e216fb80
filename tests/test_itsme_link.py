"""The kiosk's itsme link (kioskd/itsme_link.py) against the real town hall and the itsme protocol double over
127.0.0.1: a session to a match, expiry, cancel, the town hall down, and malformed answers (hypothesis) that end
as ``unavailable`` without raising. Also the simulator twin."""

import json
import queue
import socket

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from townhall_helpers import HOLDER, STRANGER, Clock, itsme_server, strong_reservation

from kioskd.events import ItsmeResult, ItsmeStarted
from kioskd.itsme_link import ItsmeLink, SimItsmeLink, Unusable, parse_started, parse_status

WAIT = 15.0


class Posted:
    """The main loop's event queue, as the link sees it."""

    def __init__(self) -> None:
        self.events: queue.Queue = queue.Queue()

    def __call__(self, event) -> None:
        self.events.put(event)

    def next(self, timeout: float = WAIT):
        return self.events.get(timeout=timeout)

    def empty_for(self, seconds: float) -> bool:
        try:
            self.events.get(timeout=seconds)
        except queue.Empty:
            return True
        return False


class TickingClock(Clock):
    """The server's clock, moved on by every read: the kiosk's polls (every 1 s, the link's floor) make itsme's
    interval pass without the test sleeping for it."""

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def kiosk_token(kiosk: httpx.Client) -> str:
    return kiosk.headers["Authorization"].removeprefix("Bearer ")


def test_a_session_to_a_match(tmp_path):
    clock = TickingClock()
    with itsme_server(tmp_path, clock, interval=1.0) as (th, url, kiosk, double):
        rid = strong_reservation(th)
        posted = Posted()
        link = ItsmeLink(url, kiosk_token(kiosk), posted, clock=clock)
        link.start(rid)
        started = posted.next()
        assert isinstance(started, ItsmeStarted) and started.qr.startswith(double.issuer)
        assert started.expires_at > clock.now
        double.scan(started.qr)
        double.confirm(HOLDER)
        assert posted.next() == ItsmeResult(started.session_id, "match", rid)
        link.stop()


def test_another_person_is_a_mismatch_and_a_second_start_replaces_the_first(tmp_path):
    clock = TickingClock()
    with itsme_server(tmp_path, clock, interval=1.0) as (th, url, kiosk, double):
        rid = strong_reservation(th)
        posted = Posted()
        link = ItsmeLink(url, kiosk_token(kiosk), posted, clock=clock)
        link.start(rid)
        first = posted.next()
        link.start(rid)
        second = posted.next()
        assert isinstance(second, ItsmeStarted) and second.session_id != first.session_id
        double.scan(second.qr)
        double.confirm(STRANGER, second.qr)
        assert posted.next() == ItsmeResult(second.session_id, "mismatch", rid)  # nothing about the first one
        link.stop()
        assert posted.empty_for(0.5)


def test_past_its_expiry_the_session_is_expired(tmp_path):
    server_clock = Clock()
    with itsme_server(tmp_path, server_clock) as (th, url, kiosk, _double):
        posted = Posted()
        kiosk_clock = Clock()
        link = ItsmeLink(url, kiosk_token(kiosk), posted, clock=kiosk_clock)
        rid = strong_reservation(th)
        link.start(rid)
        started = posted.next()
        kiosk_clock.now = started.expires_at + 1
        assert posted.next() == ItsmeResult(started.session_id, "expired", rid)
        link.stop()


def test_cancel_stops_polling_and_deletes_the_session(tmp_path):
    clock = Clock()
    with itsme_server(tmp_path, clock) as (th, url, kiosk, _double):
        posted = Posted()
        link = ItsmeLink(url, kiosk_token(kiosk), posted, clock=clock)
        link.start(strong_reservation(th))
        started = posted.next()
        link.cancel()
        link.stop()
        assert posted.empty_for(0.5)  # the flow asked for it: no result follows
        assert kiosk.get(f"/api/v1/itsme/sessions/{started.session_id}").json() == {"status": "cancelled"}


def test_a_non_strong_reservation_or_a_town_hall_without_itsme_is_unavailable(tmp_path):
    from townhall import services

    clock = Clock()
    with itsme_server(tmp_path, clock) as (th, url, kiosk, _double):
        voucher = services.create_reservation(th, kiosk_id="aalter-1", product="vouchers",
                                              citizen=services.Citizen("An")).reservation.id
        posted = Posted()
        link = ItsmeLink(url, kiosk_token(kiosk), posted, clock=clock)
        link.start(voucher)
        assert posted.next() == ItsmeResult("", "unavailable", voucher)
        link.stop()


def test_the_town_hall_down_is_unavailable():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    posted = Posted()
    link = ItsmeLink(f"http://127.0.0.1:{port}", "t" * 43, posted, timeout=2.0)
    link.start("R-1")
    assert posted.next() == ItsmeResult("", "unavailable", "R-1")
    link.stop()


def test_a_town_hall_that_stops_answering_mid_session_is_unavailable():
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(201, json={"session_id": "s" * 24, "qr": "itsme://x", "poll_seconds": 1,
                                             "expires_at": "2999-01-01T00:00:00Z"})
        raise httpx.ConnectError("connection refused", request=request)

    posted = Posted()
    link = ItsmeLink("http://townhall.invalid", "t" * 43, posted, transport=httpx.MockTransport(answer))
    link.start("R-1")
    assert isinstance(posted.next(), ItsmeStarted)
    assert posted.next() == ItsmeResult("s" * 24, "unavailable", "R-1")
    link.stop()


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                    max_leaves=12)
STARTED_FIELDS = st.fixed_dictionaries({}, optional={
    "session_id": st.one_of(st.text(max_size=70), st.just("a" * 24), JSON),
    "qr": st.one_of(st.text(max_size=40), st.just("x" * 3000), JSON),
    "expires_at": st.one_of(st.text(max_size=30), st.just("2999-01-01T00:00:00"), st.just("2999-01-01T00:00:00Z"),
                            JSON),
    "poll_seconds": st.one_of(st.integers(), st.floats(), JSON)})


@settings(max_examples=300, deadline=None)
@given(body=st.one_of(JSON, STARTED_FIELDS))
def test_malformed_answers_are_refused_never_raise_something_else(body):
    for parse in (parse_started, parse_status):
        try:
            parse(body)
        except Unusable:  # the link's own refusal; anything else would fail the test
            pass


BODIES = st.one_of(JSON.map(json.dumps), st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
                   STARTED_FIELDS.map(json.dumps))


def mock_link(answer) -> tuple[ItsmeLink, Posted]:
    posted = Posted()
    return ItsmeLink("http://townhall.invalid", "t" * 43, posted, transport=httpx.MockTransport(answer)), posted


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=BODIES, status=st.sampled_from([200, 201, 404, 409, 500, 503]))
def test_a_malformed_answer_to_the_start_is_unavailable(body, status):
    try:
        valid = status == 201 and parse_started(json.loads(body))
    except (ValueError, Unusable):
        valid = False
    assume(not valid)
    link, posted = mock_link(lambda request: httpx.Response(status, text=body))
    link.start("R-1")
    assert posted.next() == ItsmeResult("", "unavailable", "R-1")
    link.stop()


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.one_of(BODIES, st.just('{"status": "maybe"}'), st.just('{"status": "match"}')))
def test_a_malformed_status_is_unavailable(body):
    try:
        expected = parse_status(json.loads(body))
    except (ValueError, Unusable):
        expected = "unavailable"
    assume(expected != "pending")

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(201, json={"session_id": "s" * 24, "qr": "q", "poll_seconds": 1,
                                             "expires_at": "2999-01-01T00:00:00Z"})
        return httpx.Response(200, text=body)

    link, posted = mock_link(answer)
    link.start("R-1")
    assert isinstance(posted.next(), ItsmeStarted)
    assert posted.next() == ItsmeResult("s" * 24, expected, "R-1")
    link.stop()


def test_an_oversized_answer_is_unavailable():
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, content=b"{" + b" " * 100_000 + b"}")

    posted = Posted()
    link = ItsmeLink("http://townhall.invalid", "t" * 43, posted, transport=httpx.MockTransport(answer))
    link.start("R-1")
    assert posted.next() == ItsmeResult("", "unavailable", "R-1")


# ---- the simulator twin ----------------------------------------------------------------------------------------

def test_sim_link_acts_as_the_citizens_app():
    posted = Posted()
    link = SimItsmeLink(posted, matches=lambda rid, nn: (rid, nn) == ("R-1", HOLDER), clock=lambda: 1000.0)
    assert not link.confirm(HOLDER)  # no session yet
    link.start("R-1")
    started = posted.next()
    assert started == ItsmeStarted(started.session_id, f"itsme-sim:{started.session_id}", 1120.0, "R-1")
    assert link.confirm(HOLDER) and posted.next() == ItsmeResult(started.session_id, "match", "R-1")
    link.start("R-1")
    second = posted.next()
    assert link.confirm(STRANGER) and posted.next() == ItsmeResult(second.session_id, "mismatch", "R-1")
    for act, outcome in ((link.reject, "rejected"), (link.expire, "expired")):
        link.start("R-1")
        sid = posted.next().session_id
        assert act() and posted.next() == ItsmeResult(sid, outcome, "R-1")
    link.start("R-1")
    posted.next()
    link.cancel()
    assert not link.reject() and posted.empty_for(0.1)
    link.stop()


@pytest.mark.parametrize("failures, expected", [(2, "match"), (3, "unavailable")])
def test_a_slow_poll_is_tried_again_before_giving_up(failures, expected):
    """The town hall may still be finishing with itsme when a poll times out: the link asks again (the outcome
    the town hall recorded meanwhile is what it then hears), up to three failures in a row."""
    polls = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(201, json={"session_id": "s" * 24, "qr": "q", "poll_seconds": 1,
                                             "expires_at": "2999-01-01T00:00:00Z"})
        if request.method == "DELETE":
            return httpx.Response(204)
        polls.append(1)
        if len(polls) <= failures:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, json={"status": "match"})

    link, posted = mock_link(answer)
    link.start("R-1")
    assert isinstance(posted.next(), ItsmeStarted)
    assert posted.next(timeout=10) == ItsmeResult("s" * 24, expected, "R-1")
    assert len(polls) == min(failures + 1, 3)
    link.stop()
