"""A private pcscd with a virtual reader (vsmartcard's vpcd), a virtual card that serves an emulated eID, and
a child process that runs ``PcscEidReader`` against them: the real PC/SC path without a real reader.

pcscd always listens on /run/pcscd/pcscd.comm, so it runs in its own mount namespace with a private
directory bound there; clients find it through PCSCLITE_CSOCK_NAME, which libpcsclite reads once per
process: hence the child process, so the rest of the test suite never talks to this pcscd.

vpcd listens on a TCP port per slot; a virtual card ("vicc") connects to it, and every message either way is
a 2-byte big-endian length and a payload: from vpcd a 1-byte control (0 power off, 1 power on, 2 reset,
4 "send the ATR") or a command APDU, answered with the ATR or the response APDU. Connected = inserted.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
PCSCD = Path("/usr/sbin/pcscd")
READER_NAME = "kioskd test reader 00 00"
CONTROL_POWER_OFF, CONTROL_POWER_ON, CONTROL_RESET, CONTROL_ATR = 0, 1, 2, 4


@functools.lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """Why the private pcscd cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (mount namespace for a private pcscd)"
    for needed in (PCSCD, VPCD_DRIVER):
        if not needed.exists():
            return f"{needed} missing (Debian packages pcscd and vsmartcard-vpcd)"
    if shutil.which("unshare") is None:
        return "unshare missing (util-linux)"
    try:  # the mount point for the private pcscd's socket: made by pcscd's own unit, absent on a fresh machine
        Path("/run/pcscd").mkdir(mode=0o755, exist_ok=True)
    except OSError as exc:
        return f"/run/pcscd missing and cannot be made ({exc.strerror})"
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True, timeout=10)
    if probe.returncode != 0:  # a container without CAP_SYS_ADMIN
        return f"no mount namespace here (unshare -m: {probe.stderr.strip() or probe.returncode})"
    return None


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise RuntimeError("no pair of free TCP ports")


class PrivatePcscd:
    """pcscd with one vpcd reader (two slots) in a temporary directory; ``socket_path`` for clients."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = _free_port_pair()
        self.socket_path = directory / "run" / "pcscd.comm"
        self._process: subprocess.Popen | None = None

    def start(self, timeout: float = 5.0) -> None:
        (self.directory / "conf.d").mkdir(parents=True, exist_ok=True)
        (self.directory / "run").mkdir(exist_ok=True)
        (self.directory / "conf.d" / "kioskd").write_text(
            f'FRIENDLYNAME "kioskd test reader"\nDEVICENAME /dev/null:{self.port}\n'
            f"LIBPATH {VPCD_DRIVER}\nCHANNELID {self.port}\n")
        script = (f"mount --bind {self.directory / 'run'} /run/pcscd && "
                  f"exec {PCSCD} -f -c {self.directory / 'conf.d'}")
        self._process = subprocess.Popen(["unshare", "-m", "sh", "-c", script],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not self.socket_path.exists() or not _port_open(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("private pcscd did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def client_env(self) -> dict[str, str]:
        return {**os.environ, "PCSCLITE_CSOCK_NAME": str(self.socket_path)}


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class VirtualCard:
    """Connects an emulated card (``transmit``, ``atr``) to vpcd: inserted while connected."""

    def __init__(self, card, port: int) -> None:
        self.card = card
        self._socket = socket.create_connection(("127.0.0.1", port), timeout=5)
        self._socket.settimeout(None)
        self._thread = threading.Thread(target=self._serve, name="vicc", daemon=True)
        self._thread.start()

    def remove(self) -> None:
        try:
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._socket.close()
        self._thread.join(timeout=2)

    def _receive(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            piece = self._socket.recv(size - len(data))
            if not piece:
                raise ConnectionError("vpcd closed the connection")
            data += piece
        return data

    def _send(self, payload: bytes) -> None:
        self._socket.sendall(len(payload).to_bytes(2, "big") + payload)

    def _serve(self) -> None:
        try:
            while True:
                message = self._receive(int.from_bytes(self._receive(2), "big"))
                if len(message) == 1:
                    if message[0] == CONTROL_ATR:
                        self._send(bytes(self.card.atr))
                    elif message[0] in (CONTROL_RESET, CONTROL_POWER_OFF) and hasattr(self.card, "reset"):
                        self.card.reset()
                    continue
                data, sw1, sw2 = self.card.transmit(list(message))
                self._send(bytes(data) + bytes([sw1, sw2]))
        except (OSError, ConnectionError):
            return


class ReaderChild:
    """``PcscEidReader`` in a child process (its own PCSCLITE_CSOCK_NAME); events come back as JSON lines."""

    def __init__(self, env: dict[str, str], roots_dir: Path, reader_name: str = READER_NAME) -> None:
        self._process = subprocess.Popen(
            [sys.executable, __file__, str(roots_dir), reader_name], env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=Path(__file__).parent.parent)
        self._lines: queue.Queue[dict] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self._process.stdout:
            self._lines.put(json.loads(line))
        self._lines.put({"event": "exited"})

    def next(self, timeout: float = 5.0) -> dict:
        return self._lines.get(timeout=timeout)

    def send(self, command: str) -> None:
        self._process.stdin.write(command + "\n")
        self._process.stdin.flush()

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                self.send("quit")
                self._process.wait(timeout=3)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()


def _child(roots_dir: str, reader_name: str) -> None:
    from kioskd.drivers.eid_reader import PcscEidReader
    from kioskd.eid_verify import load_roots

    def say(message: dict) -> None:
        print(json.dumps(message), flush=True)

    def post(event: object) -> None:
        message: dict = {"event": type(event).__name__}
        for name in ("outcome", "detail", "ok", "tries_left"):
            if hasattr(event, name):
                message[name] = getattr(event, name)
        identity = getattr(event, "identity", None)
        if identity is not None:  # test data only: the parent checks whom the card named
            message["national_number"] = identity.national_number
            message["surname"] = identity.surname
        say(message)

    reader = PcscEidReader(post, roots=load_roots(roots_dir), reader_name=reader_name)
    try:
        reader.start()
    except RuntimeError as exc:
        say({"event": "start_failed", "detail": str(exc)})
        return
    say({"event": "started"})
    for line in sys.stdin:
        if line.strip() == "read":
            reader.read()
        elif line.strip() == "quit":
            break
    reader.stop()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    _child(sys.argv[1], sys.argv[2])
