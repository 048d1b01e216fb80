"""The kiosk's SQLite store: one file, WAL, synchronous=FULL, versioned migrations.

Every write goes through ``transaction()`` (BEGIN IMMEDIATE … COMMIT), so a change and the outbox
event describing it commit together or not at all. The connection runs in autocommit mode outside
those blocks, so no statement can be left hanging in an implicit transaction.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from kioskd.clock import iso
from kioskd.migrations import MIGRATIONS


class StoreError(Exception):
    """The database cannot be used: wrong kiosk, newer schema, or corruption."""


class Store:
    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 5000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=busy_timeout_ms / 1000)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self._migrate()

    # ---- schema ----------------------------------------------------------------------------------

    @property
    def version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        current = self.version
        if current > len(MIGRATIONS):
            raise StoreError(
                f"{self.path}: database schema version {current} is newer than this kioskd "
                f"({len(MIGRATIONS)}); refusing to touch it"
            )
        for number, statements in enumerate(MIGRATIONS[current:], start=current + 1):
            with self.transaction():
                for statement in statements:
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version={number}")

    # ---- transactions ----------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        if self.conn.in_transaction:
            raise StoreError("transactions do not nest; one business change is one transaction")
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    def _require_transaction(self) -> None:
        if not self.conn.in_transaction:
            raise StoreError("this write must be part of a transaction")

    # ---- helpers used inside transactions --------------------------------------------------------

    def add_outbox(self, event_type: str, payload: dict, now: float) -> str:
        """Queue an event for the town hall; its id is fixed here, at commit, for idempotent sync."""
        self._require_transaction()
        event_id = str(uuid.uuid4())
        self.conn.execute(
            "INSERT INTO outbox (id, type, payload, created_at) VALUES (?, ?, ?, ?)",
            (event_id, event_type, json.dumps(payload, sort_keys=True), iso(now)),
        )
        return event_id

    def add_audit(self, actor: str, action: str, detail: dict, now: float) -> None:
        self._require_transaction()
        self.conn.execute(
            "INSERT INTO audit (at, actor, action, detail) VALUES (?, ?, ?, ?)",
            (iso(now), actor, action, json.dumps(detail, sort_keys=True)),
        )

    # ---- reading ---------------------------------------------------------------------------------

    def outbox(self, *, pending_only: bool = True) -> list[dict]:
        where = "WHERE sent_at IS NULL" if pending_only else ""
        rows = self.conn.execute(
            f"SELECT seq, id, type, payload, created_at, sent_at FROM outbox {where} ORDER BY seq"
        ).fetchall()
        return [
            {"seq": seq, "id": eid, "type": etype, "payload": json.loads(payload), "created_at": created,
             "sent_at": sent}
            for seq, eid, etype, payload, created, sent in rows
        ]

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def bind_to_kiosk(self, kiosk_id: str) -> None:
        """A database belongs to one kiosk; opening it as another would mix two kiosks' records."""
        bound = self.meta("kiosk_id")
        if bound is None:
            with self.transaction():
                self.conn.execute("INSERT INTO meta (key, value) VALUES ('kiosk_id', ?)", (kiosk_id,))
        elif bound != kiosk_id:
            raise StoreError(f"{self.path}: this database belongs to kiosk {bound!r}, not {kiosk_id!r}")

    def integrity_ok(self) -> bool:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    def close(self) -> None:
        self.conn.close()
