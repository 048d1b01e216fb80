"""Shared pieces of the town-hall tests: a config in tmp_path, a settable clock, the app served by uvicorn on
127.0.0.1 in a thread, and an enrolled kiosk's HTTP client."""

import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from townhall.app import create_app
from townhall.config import Config, MailConfig

NOW = 1_796_000_000.0  # 2026-11-30T00:53:20Z, Monday 01:53 in Brussels


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_config(tmp_path: Path, **overrides) -> Config:
    config = Config(database_url=f"sqlite:///{tmp_path / 'townhall.db'}", qr_private_key=tmp_path / "qr.key",
                    secret_key=tmp_path / "secret.key", mail=MailConfig(outbox_dir=tmp_path / "outbox"),
                    burst=1000)  # the fake clock stands still, so the rate buckets would never refill
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


@contextmanager
def served(app):
    """Run ``app`` with uvicorn on an ephemeral 127.0.0.1 port in a thread; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def running_server(tmp_path: Path, clock: Clock | None = None, **overrides):
    """The whole server over HTTP: yields (townhall runtime, base URL)."""
    app = create_app(make_config(tmp_path, **overrides), clock=clock or Clock(), console=False)
    try:
        with served(app) as url:
            yield app.state.townhall, url
    finally:
        app.state.townhall.close()


def enrol(th, url: str, kiosk_id: str) -> httpx.Client:
    """Create an enrolment code and spend it; returns a client carrying the kiosk's token."""
    from townhall import services

    code, _ = services.create_enrolment_code(th, kiosk_id)
    answer = httpx.post(f"{url}/api/v1/enrol", json={"kiosk_id": kiosk_id, "code": code})
    assert answer.status_code == 200, answer.text
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {answer.json()['token']}"})


HOLDER = "85073003328"  # valid national register numbers (mod 97), made up
AUTHORISED = "90020100130"
STRANGER = "01010100126"


@contextmanager
def itsme_server(tmp_path: Path, clock: Clock | None = None, *, kiosk_id: str = "aalter-1", interval: float = 5.0,
                 rp_key: Path | None = None, **double_options):
    """The town hall configured as itsme RP against the protocol double, both over 127.0.0.1.

    Yields (townhall runtime, base URL, the enrolled kiosk's client, the double). ``rp_key``: the key the town hall
    signs with (default: the one registered with the double)."""
    from townhall.config import ItsmeConfig
    from townhall.itsme_double import create_rp_key, start_itsme_double

    clock = clock or Clock()
    registered = tmp_path / "rp-registered.key"
    issuer, double = start_itsme_double(registered, clock=clock, interval=interval, service_code="KIOSKD_TEST",
                                        client_id="kioskd-test", **double_options)
    if rp_key is not None:
        create_rp_key(rp_key)
    itsme = ItsmeConfig(enabled=True, issuer=issuer, client_id="kioskd-test", private_key=rp_key or registered,
                        service_code="KIOSKD_TEST", timeout_seconds=5.0)
    try:
        with running_server(tmp_path, clock, itsme=itsme) as (th, url):
            kiosk = enrol(th, url, kiosk_id)
            yield th, url, kiosk, double
    finally:
        double.stop()


def strong_reservation(th, kiosk_id: str = "aalter-1", *, holder: str = HOLDER, authorised=(), locker: int | None = 3,
                       product: str = "passport") -> str:
    """A ready passport for ``holder`` at ``kiosk_id``; returns its id."""
    from townhall import services

    created = services.create_reservation(th, kiosk_id=kiosk_id, product=product, locker=locker,
                                          citizen=services.Citizen("Jan Janssens"), national_number=holder,
                                          authorised=list(authorised))
    return created.reservation.id
