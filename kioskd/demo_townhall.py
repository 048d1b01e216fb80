"""The town hall of ``make demo``: the reference server (``townhall serve``) in a child process on 127.0.0.1,
its demo data, a console login for the demo, and the kiosk config that syncs with it.

The kiosk side never imports the server: everything goes through the ``townhall`` command line and HTTP, as
it would between two machines. The console is driven with plain form POSTs (log-in and CSRF tokens read from
the pages), as a browser without JavaScript does.

The demo town hall signs QR codes with the simulator's test key (``config/sim-test-backend.key``, copied with
mode 0600), so the QR code the console shows is accepted by ``config/sim.toml`` unchanged. Never for real use.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

DEMO_USER = "demo"
SIM_KEY = "sim-test-backend.key"
CHROMIUM = "/usr/bin/chromium"
# how the demo kiosk syncs: quick enough that a reservation shows up at the kiosk in a couple of seconds
DEMO_SYNC = {"push_interval_seconds": 1, "pull_interval_seconds": 2, "heartbeat_interval_seconds": 10,
             "max_requests_per_minute": 600, "backoff_min_seconds": 0.5, "backoff_max_seconds": 10,
             "connect_timeout_seconds": 2, "request_timeout_seconds": 10}


class DemoError(RuntimeError):
    pass


def free_port(preferred: int = 0) -> int:
    """``preferred`` when nothing listens there (0: any free port)."""
    for port in ((preferred, 0) if preferred else (0,)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise DemoError("no free port on 127.0.0.1")


def kiosk_sync_config(base: Path, out: Path, *, data_dir: Path, server: str, itsme: bool = False) -> Path:
    """``base`` (config/sim.toml) with its data_dir pointed at ``data_dir`` and a [sync] section for ``server``,
    written to ``out`` beside a copy of the simulator's test key (the harness and the panel mint QR codes with it).
    With ``itsme`` the kiosk asks the town hall for itsme (``[itsme] driver = "townhall"``)."""
    text = base.read_text(encoding="utf-8")
    if re.search(r"^\s*\[sync\]", text, re.MULTILINE):
        raise DemoError(f"{base} has a [sync] section already; give the demo a config without one")
    text, found = re.subn(r"^data_dir\s*=.*$", lambda _: f"data_dir = {json.dumps(str(data_dir.resolve()))}", text,
                          count=1, flags=re.MULTILINE)
    if not found:
        raise DemoError(f"{base}: no kiosk.data_dir line to point at {data_dir}")
    if itsme:
        text, found = re.subn(r"^(\[itsme\][^\[]*?^driver\s*=\s*)\"\w+\"", r'\1"townhall"', text, count=1,
                              flags=re.MULTILINE | re.DOTALL)
        if not found:
            raise DemoError(f"{base}: no [itsme] driver line to point at the town hall")
    lines = ["", "# added by `make demo` (kioskd/demo_townhall.py): the demo town hall on 127.0.0.1", "[sync]",
             f"server = {json.dumps(server)}"] + [f"{key} = {value}" for key, value in DEMO_SYNC.items()]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text.rstrip("\n") + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    shutil.copyfile(base.parent / SIM_KEY, out.parent / SIM_KEY)
    return out


def _itsme_table(itsme: dict | None) -> str:
    """The server's [itsme] section pointing at the demo's itsme double (never the real itsme)."""
    if not itsme:
        return ""
    lines = ["# the demo's itsme protocol double on 127.0.0.1 (townhall.itsme_double), not the real itsme", "[itsme]"]
    return "\n".join(lines + [f"{key} = {json.dumps(value)}" for key, value in itsme.items()]) + "\n"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """The server must not outlive a demo killed with SIGKILL (Linux; elsewhere nothing happens)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class DemoTownhall:
    """The reference server with the demo's data in ``directory``: config, database, keys, mail, log."""

    def __init__(self, directory: Path, *, kiosk_id: str, sim_key: Path, port: int = 0,
                 itsme: dict | None = None) -> None:
        self.directory = directory.resolve()
        self.itsme = itsme  # the [itsme] table: the demo's itsme protocol double (townhall.itsme_double)
        self.itsme_app = None  # that double, stopped with the server
        self.kiosk_id = kiosk_id
        self.sim_key = sim_key
        self.port = free_port(port)
        self.config = self.directory / "townhall.toml"
        self.log = self.directory / "server.log"
        self.code_file = self.directory / "enrolment.code"
        self.password = ""
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def console_url(self) -> str:
        return f"{self.url}/console/"

    @property
    def exists(self) -> bool:
        return (self.directory / "townhall.db").exists()

    def _command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "townhall.cli", "--config", str(self.config), *args]

    def prepare(self, *, enrolment_code: bool) -> None:
        """Config, QR key, demo data (printed), the demo's console login and, if asked, an enrolment code."""
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        self.config.write_text(
            "# written by `make demo` (kioskd/demo_townhall.py); docs/townhall.md explains every key\n"
            "[database]\nurl = \"sqlite:///townhall.db\"\n"
            "[keys]\n"
            "qr_private_key = \"qr-signing.key\"   # the simulator's TEST key: QR codes config/sim.toml accepts\n"
            "secret_key = \"secret.key\"\n"
            "[sync]\nrequests_per_minute = 6000\nburst = 600\n"
            "[mail]\noutbox_dir = \"mail\"           # the citizens' e-mails (with their PIN) land here as .eml\n"
            + _itsme_table(self.itsme), encoding="utf-8")
        qr_key = self.directory / "qr-signing.key"
        if not qr_key.exists():
            fd = os.open(qr_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(self.sim_key.read_bytes())
        self._run("demo-data", "--kiosk", self.kiosk_id,
                  *(("--enrol-code-file", str(self.code_file)) if enrolment_code else ()))
        # no default password in the product: the demo makes its own login with a new password every start
        self.password = secrets.token_urlsafe(12)
        self._run("create-user", DEMO_USER, "--password-stdin", stdin=self.password + "\n", quiet=True)

    def _run(self, *args: str, stdin: str | None = None, quiet: bool = False) -> None:
        result = subprocess.run(self._command(*args), input=stdin, text=True, capture_output=True, timeout=60)
        if result.returncode != 0:
            raise DemoError(f"townhall {args[0]} failed: {result.stderr.strip() or result.stdout.strip()}")
        if not quiet:
            for line in result.stdout.splitlines():
                print(f"  {line}", flush=True)

    def take_enrolment_code(self) -> str:
        """The code ``prepare`` wrote; its file is removed (the code is for one use)."""
        code = self.code_file.read_text(encoding="ascii").strip()
        self.code_file.unlink()
        return code

    def start(self, timeout: float = 30.0) -> None:
        """``townhall serve`` on 127.0.0.1; returns once its API answers. Its log goes to ``self.log``."""
        with open(self.log, "ab") as log:
            self._process = subprocess.Popen(
                self._command("serve", "--host", "127.0.0.1", "--port", str(self.port)), stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)  # noqa: PLW1509
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                tail = self.log.read_text(errors="replace").splitlines()[-5:]
                self._process = None
                raise DemoError("townhall serve stopped at once:\n  " + "\n  ".join(tail))
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/api/v1/openapi.json", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise DemoError(f"townhall serve did not answer on {self.url} within {timeout:.0f} s (see {self.log})")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (uvicorn shuts down cleanly), then SIGKILL if it lingers; and the itsme double, if any."""
        itsme_app, self.itsme_app = self.itsme_app, None
        if itsme_app is not None:
            itsme_app.stop()
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class ConsoleClient:
    """The staff console over HTTP as a browser without JavaScript uses it: log-in form, CSRF tokens, forms."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=10, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    @staticmethod
    def hidden(page: str, name: str) -> str:
        match = re.search(rf'name="{name}" value="([^"]*)"', page)
        if match is None:
            raise DemoError(f"the console page has no {name} field")
        return match[1]

    def log_in(self, username: str, password: str) -> None:
        page = self.http.get("/console/login")
        answer = self.http.post("/console/login", data={"login_token": self.hidden(page.text, "login_token"),
                                                        "username": username, "password": password,
                                                        "next": "/console/"})
        if answer.status_code != 303:
            raise DemoError(f"console log-in refused ({answer.status_code})")

    def create_reservation(self, **form: str) -> tuple[str, str]:
        """POST the "New reservation" form; (reservation id, PIN) from the page that shows the PIN once."""
        page = self.http.get("/console/reservations/new", params={"kiosk": form.get("kiosk", "")})
        answer = self.http.post("/console/reservations", data={"csrf": self.hidden(page.text, "csrf"), **form})
        title = re.search(r"<h1>Reservation (\S+) created</h1>", answer.text)
        pin = re.search(r'<p class="secret"[^>]*>([\d ]+)</p>', answer.text)
        if answer.status_code != 201 or title is None or pin is None:
            error = re.search(r'role="alert">([^<]*)<', answer.text)
            raise DemoError(f"reservation not created ({answer.status_code}): {error[1] if error else '?'}")
        return title[1], pin[1].replace(" ", "")

    def reservation_status(self, reservation_id: str) -> str:
        """The status the console's reservation page shows."""
        page = self.http.get(f"/console/reservations/{reservation_id}")
        match = re.search(r'<dt>Status</dt><dd><span class="status status-([a-z_]+)">', page.text)
        if page.status_code != 200 or match is None:
            raise DemoError(f"no status on the page of {reservation_id} ({page.status_code})")
        return match[1]


def console_screenshots(base_url: str, username: str, password: str, pages: list[tuple[str, str]],
                        out: Path) -> list[Path]:
    """Full-page screenshots of console pages in headless Chromium (``[(file name, path)]``); none without
    Debian's chromium or Playwright."""
    if not Path(CHROMIUM).exists():
        return []
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        return []
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"]
    shots = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.set_default_timeout(10_000)
                page.goto(f"{base_url}/console/login")
                page.get_by_label("User name").fill(username)
                page.get_by_label("Password").fill(password)
                page.get_by_role("button", name="Log in").click()
                page.wait_for_url(f"{base_url}/console/")
                for name, path in pages:
                    page.goto(f"{base_url}{path}")
                    page.screenshot(path=str(out / name), full_page=True)
                    shots.append(out / name)
            finally:
                browser.close()
    except Error as exc:
        print(f"  console screenshots skipped: {str(exc).splitlines()[0]}", flush=True)
    return shots
