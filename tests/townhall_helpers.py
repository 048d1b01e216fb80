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
