"""Versioned schema migrations, applied in order; ``PRAGMA user_version`` holds the version reached.

Each migration is a list of statements run in one transaction, so a kiosk that loses power while
upgrading is either at the old version or the new one, never between.
"""

MIGRATIONS: list[list[str]] = [
    # 1: the foundation
    [
        """CREATE TABLE lockers (
            number INTEGER PRIMARY KEY,
            size TEXT NOT NULL CHECK (size IN ('S', 'M', 'L')),
            row INTEGER NOT NULL,
            col INTEGER NOT NULL,
            out_of_service INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE products (
            code TEXT PRIMARY KEY,
            identification TEXT NOT NULL CHECK (identification IN ('code', 'strong')),
            returnable INTEGER NOT NULL,
            rfid_tagged INTEGER NOT NULL,
            locker_size TEXT NOT NULL CHECK (locker_size IN ('S', 'M', 'L')),
            pickup_days INTEGER NOT NULL,
            requestable INTEGER NOT NULL,
            names TEXT NOT NULL
        )""",
        """CREATE TABLE reservations (
            id TEXT PRIMARY KEY,
            product TEXT NOT NULL REFERENCES products(code),
            status TEXT NOT NULL
                CHECK (status IN ('awaiting_stock', 'ready', 'collected', 'cancelled', 'expired')),
            locker INTEGER REFERENCES lockers(number),
            expires_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            collected_at TEXT
        )""",
        "CREATE INDEX reservations_locker ON reservations(locker, status)",
        """CREATE TABLE credentials (
            kind TEXT NOT NULL,
            digest TEXT NOT NULL,
            reservation_id TEXT NOT NULL REFERENCES reservations(id),
            PRIMARY KEY (kind, digest)
        )""",
        "CREATE INDEX credentials_reservation ON credentials(reservation_id)",
        """CREATE TABLE spent_tokens (
            token_id TEXT PRIMARY KEY,
            reservation_id TEXT NOT NULL,
            release_id INTEGER NOT NULL,
            spent_at TEXT NOT NULL
        )""",
        """CREATE TABLE releases (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            reservation_id TEXT NOT NULL,
            locker INTEGER NOT NULL,
            reason TEXT NOT NULL CHECK (reason IN ('pickup', 'retry', 'reopen')),
            method TEXT NOT NULL,
            state TEXT NOT NULL
                CHECK (state IN ('pending', 'opened', 'closed', 'unopened', 'left_open', 'interrupted')),
            created_at TEXT NOT NULL,
            opened_at TEXT,
            closed_at TEXT
        )""",
        "CREATE INDEX releases_open ON releases(locker, state)",
        # changes and new releases look up a reservation's open releases
        "CREATE INDEX releases_reservation ON releases(reservation_id, state)",
        """CREATE TABLE door_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            locker INTEGER NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('opened', 'closed')),
            at TEXT NOT NULL,
            release_id INTEGER
        )""",
        """CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at TEXT NOT NULL,
            sent_at TEXT
        )""",
        """CREATE TABLE audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            detail TEXT NOT NULL
        )""",
        """CREATE TABLE lockouts (
            method TEXT PRIMARY KEY,
            failures INTEGER NOT NULL,
            locked_until REAL NOT NULL,
            last_failure REAL NOT NULL
        )""",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ],
]
