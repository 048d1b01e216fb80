"""Test instruments for the sync tests: the real town-hall server served by uvicorn on 127.0.0.1, a
fault-injecting HTTP proxy between kiosk and server, and a kiosk config with a [sync] section.

The proxy speaks just enough HTTP/1.1 (Content-Length bodies, which is what httpx sends and uvicorn
answers) to act per request: answer 5xx or 429 itself, reset the connection before or after the server
acted (a lost response), send the request to the server twice, delay it, or replace the server's answer.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FAULTS = ("ok", "503", "reset", "lost", "duplicate", "delay", "429")


def _read_message(sock: socket.socket, buffer: bytearray) -> tuple[bytes, bytes] | None:
    """(head, body) of one HTTP message with a Content-Length body, or None at EOF."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buffer.extend(chunk)
    end = buffer.index(b"\r\n\r\n") + 4
    head = bytes(buffer[:end])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(buffer) < end + length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buffer.extend(chunk)
    body = bytes(buffer[end:end + length])
    del buffer[:end + length]
    return head, body


def _with_connection_close(head: bytes) -> bytes:
    lines = [line for line in head.rstrip(b"\r\n").split(b"\r\n")
             if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n"


def _reset(sock: socket.socket) -> None:
    """Close with RST, as a dropped link or a crashed middlebox does."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def response(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    reason = {200: "OK", 401: "Unauthorized", 429: "Too Many Requests", 500: "Internal Server Error",
              503: "Service Unavailable"}.get(status, "Whatever")
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class FaultProxy:
    """Between the kiosk and the town hall; ``plan(method, path) -> fault`` decides each request's fate.

    ``rewrite(method, path, status, body) -> bytes | None`` replaces the server's answer (hostile tests).
    ``down()`` closes the listening socket (connection refused) and every open connection; ``up()`` reopens
    the same port.
    """

    def __init__(self, upstream: tuple[str, int], *, plan: Callable[[str, str], str] | None = None,
                 rewrite: Callable[[str, str, int, bytes], bytes | None] | None = None) -> None:
        self.upstream = upstream
        self.plan = plan or (lambda method, path: "ok")
        self.rewrite = rewrite
        self.counts: dict[str, int] = dict.fromkeys(FAULTS, 0)
        self.requests: list[tuple[str, str]] = []
        self._listener: socket.socket | None = None
        self._clients: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.port = 0
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown first: a thread blocked in accept() keeps a merely closed socket listening on Linux
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            clients, self._clients = self._clients, set()
        for client in clients:
            _reset(client)

    close = down

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                if self._listener is not listener:
                    _reset(client)
                    return
                self._clients.add(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        buffer = bytearray()
        try:
            while True:
                message = _read_message(client, buffer)
                if message is None:
                    break
                head, body = message
                method, path = head.split(b" ", 2)[:2]
                method, path = method.decode(), path.decode().split("?")[0]
                fault = self.plan(method, path)
                with self._lock:
                    self.counts[fault] += 1
                    self.requests.append((method, path))
                if fault == "reset":
                    _reset(client)
                    return
                if fault == "503":
                    client.sendall(response(503, b'{"error": "unavailable", "detail": "injected"}'))
                    continue
                if fault == "429":
                    client.sendall(response(429, b'{"error": "rate_limited", "detail": "injected"}',
                                            {"Retry-After": "0"}))
                    continue
                if fault == "delay":
                    time.sleep(random.uniform(0.01, 0.1))
                answer = self._forward(head, body)
                if fault == "duplicate":
                    answer = self._forward(head, body)
                if fault == "lost":
                    _reset(client)
                    return
                if self.rewrite is not None:
                    status = int(answer.split(b" ", 2)[1])
                    replaced = self.rewrite(method, path, status, answer.partition(b"\r\n\r\n")[2])
                    if replaced is not None:
                        answer = replaced
                client.sendall(answer)
        except OSError:
            pass
        finally:
            with self._lock:
                self._clients.discard(client)
            client.close()

    def _forward(self, head: bytes, body: bytes) -> bytes:
        with socket.create_connection(self.upstream, timeout=30) as upstream:
            upstream.sendall(_with_connection_close(head) + body)
            chunks = []
            while chunk := upstream.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


def random_plan(seed: int, weights: dict[str, float]) -> Callable[[str, str], str]:
    rng = random.Random(seed)
    lock = threading.Lock()
    names, values = list(weights), list(weights.values())

    def plan(method: str, path: str) -> str:
        with lock:
            return rng.choices(names, values)[0]
    return plan


# ---- the real town-hall server ----------------------------------------------------------------------


class TownhallServer:
    """townhall.app.create_app served by uvicorn in a thread on 127.0.0.1 (an ephemeral port)."""

    def __init__(self, directory: Path, *, clock: Callable[[], float] = time.time) -> None:
        import uvicorn

        from townhall.app import create_app
        from townhall.config import Config, MailConfig

        directory.mkdir(parents=True, exist_ok=True)
        self.config = Config(database_url=f"sqlite:///{directory / 'townhall.db'}",
                             qr_private_key=directory / "qr.key", secret_key=directory / "secret.key",
                             requests_per_minute=100_000, burst=10_000,
                             mail=MailConfig(outbox_dir=directory / "mail"))
        self.app = create_app(self.config, clock=clock, console=False)
        self.townhall = self.app.state.townhall
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False,
                                                     timeout_graceful_shutdown=1))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self.townhall.close()

    def enrolment_code(self, kiosk_id: str) -> str:
        from townhall import services

        if services.get_kiosk(self.townhall, kiosk_id) is None:
            services.create_kiosk(self.townhall, kiosk_id)
        return services.create_enrolment_code(self.townhall, kiosk_id)[0]

    def events(self, kiosk_id: str) -> list[tuple[str, str, dict]]:
        """(id, type, payload) of every event the server holds from the kiosk."""
        from sqlalchemy import select

        from townhall.models import Event

        with self.townhall.transaction() as session:
            rows = session.execute(select(Event.event_id, Event.type, Event.payload)
                                   .where(Event.kiosk_id == kiosk_id).order_by(Event.id)).all()
        return [(eid, etype, payload) for eid, etype, payload in rows]


def kiosk_config(directory: Path, server: str, **sync: object) -> Path:
    """config/sim.toml with a [sync] section, beside a copy of the simulator's test key."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "config" / "sim-test-backend.key", directory / "sim-test-backend.key")
    settings = {"server": server, "push_interval_seconds": 0.05, "pull_interval_seconds": 0.05,
                "heartbeat_interval_seconds": 0.5, "connect_timeout_seconds": 2, "request_timeout_seconds": 5,
                "backoff_min_seconds": 0.005, "backoff_max_seconds": 0.05, "max_requests_per_minute": 100_000,
                "offline_after_failures": 2, "refused_page_retries": 1} | sync
    lines = ["", "[sync]"] + [f"{k} = {_toml(v)}" for k, v in settings.items()]
    path = directory / "kiosk.toml"
    path.write_text((ROOT / "config" / "sim.toml").read_text() + "\n".join(lines) + "\n")
    return path


def _toml(value: object) -> str:
    return f'"{value}"' if isinstance(value, str | Path) else str(value).lower() if isinstance(value, bool) \
        else repr(value)


@pytest.fixture
def townhall(tmp_path):
    pytest.importorskip("townhall.api")
    server = TownhallServer(tmp_path / "townhall")
    yield server
    server.close()


def test_proxy_passes_requests_and_injects_faults(tmp_path):
    """The instrument itself: a 503 is answered by the proxy, a plain request reaches the server."""
    import http.server

    class Echo(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            data = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    faults = iter(["503", "ok", "reset"])
    proxy = FaultProxy(upstream.server_address[:2], plan=lambda m, p: next(faults))
    import httpx

    try:
        assert httpx.post(proxy.url + "/x", content=b"hi").status_code == 503
        assert httpx.post(proxy.url + "/x", content=b"hello").content == b"hello"
        with pytest.raises(httpx.TransportError):
            httpx.post(proxy.url + "/x", content=b"hi")
        proxy.down()
        with pytest.raises(httpx.ConnectError):
            httpx.post(proxy.url + "/x", content=b"hi")
        proxy.up()
        proxy.plan = lambda m, p: "ok"
        assert httpx.post(proxy.url + "/x", content=b"back").content == b"back"
    finally:
        proxy.down()
        upstream.shutdown()
