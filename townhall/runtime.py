"""The composition root of the server: config → database → keys → mailer → itsme, in one object.

``create_app`` builds one ``Townhall`` and keeps it as ``app.state.townhall``; the API and the console pass it
to the functions of ``townhall.services``. No module-level singletons.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from townhall.config import Config
from townhall.keys import Sealer, load_or_create_qr_key, load_or_create_secret, public_key_b64
from townhall.models import Base
from townhall.notify import Mailer
from townhall.ratelimit import RateLimiter

HOUSEKEEPING_SECONDS = 3600.0  # the retention limits are applied at start, then at most this often


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # noqa: ANN001 - DB-API connection
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # an erased PIN or national number is overwritten with zeros, not left in the page's free space
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()
            # SQLAlchemy begins transactions itself (below), not the driver, which starts none for a SELECT
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection):  # noqa: ANN001 - SQLAlchemy connection
            # every transaction, reads included, is one consistent view, and takes the write lock at once:
            # a snapshot's cursor and its reservations come from the same moment, and a reader that goes on
            # to write never fails with SQLITE_BUSY_SNAPSHOT
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")  # psycopg 3, not psycopg2
    return create_engine(url, pool_pre_ping=True)


class Townhall:
    def __init__(self, config: Config, *, clock: Callable[[], float] = time.time,
                 mailer: Mailer | None = None) -> None:
        if config.database_url.startswith("sqlite:///"):
            from pathlib import Path
            Path(config.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.clock = clock
        self.engine = make_engine(config.database_url)
        Base.metadata.create_all(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.qr_key = load_or_create_qr_key(config.qr_private_key)
        self.qr_public_key = public_key_b64(self.qr_key)
        self.sealer = Sealer(load_or_create_secret(config.secret_key))
        self.mailer = mailer or Mailer(config.mail)
        self.limiter = RateLimiter(config.requests_per_minute / 60.0, config.burst, clock=clock)
        from townhall.itsme_service import ItsmeService  # it needs the services, which need this module

        self.itsme = ItsmeService.from_config(self)
        self._housekeeping_at: float | None = None
        self._housekeeping_lock = threading.Lock()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed on success, rolled back on any exception."""
        with self.sessions() as session, session.begin():
            yield session

    def housekeeping(self, *, force: bool = False) -> None:
        """The retention limits (docs/townhall.md): sealed secrets older than ``sync.sealed_secret_days``, the
        itsme audit older than ``itsme.audit_days``. Run at start (``create_app``) and then from the kiosks' feed
        requests at most once an hour: no thread of the server's own."""
        now = self.clock()
        with self._housekeeping_lock:
            last = self._housekeeping_at
            if not force and last is not None and 0 <= now - last < HOUSEKEEPING_SECONDS:
                return
            self._housekeeping_at = now
        from townhall.itsme_service import prune_audit  # they need this module
        from townhall.services import erase_stale_secrets

        erase_stale_secrets(self)
        prune_audit(self)

    def close(self) -> None:
        self.itsme.close()
        self.engine.dispose()
