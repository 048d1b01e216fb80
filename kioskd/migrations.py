"""Versioned schema migrations, applied in order; ``PRAGMA user_version`` holds the version reached.

Each migration is a list of statements run in one transaction, so a kiosk that loses power while
upgrading is either at the old version or the new one, never between. A migration is never edited
once released: a kiosk in the field may be at any version, so changes go into a new one.

SQLite cannot alter a CHECK constraint in place; a table is rebuilt (create ``x_v2``, copy, drop,
rename). Foreign keys are on while migrations run and ``PRAGMA foreign_keys`` cannot be switched off
inside a transaction, so a parent table is rebuilt together with its children: the new children
reference the new parent, the old children are dropped before the old parent (no orphaned rows at
any moment) and ``RENAME`` rewrites the children's references to the final name.
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
    # 2: staff badges, loans with RFID-tagged items, returns, suspect lockers
    [
        # a badge's uid and PIN exist only as keyed hashes (kioskd.identify.badge_digest, badge_pin_digest)
        """CREATE TABLE badges (
            uid_digest TEXT PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN ('staff', 'technician')),
            pin_digest TEXT NOT NULL,
            name TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        # a door that stayed shut after a retry; only staff clear it
        "ALTER TABLE lockers ADD COLUMN suspect INTEGER NOT NULL DEFAULT 0 CHECK (suspect IN (0, 1))",
        """CREATE TABLE reservations_v2 (
            id TEXT PRIMARY KEY,
            product TEXT NOT NULL REFERENCES products(code),
            status TEXT NOT NULL
                CHECK (status IN ('awaiting_stock', 'ready', 'collected', 'on_loan', 'partially_returned',
                                  'returned', 'closed', 'cancelled', 'expired')),
            locker INTEGER REFERENCES lockers(number),
            expires_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            collected_at TEXT,
            kind TEXT NOT NULL DEFAULT 'pickup' CHECK (kind IN ('pickup', 'loan')),
            returned_at TEXT,
            closed_at TEXT,
            CHECK (kind = 'loan' OR status NOT IN ('on_loan', 'partially_returned', 'returned'))
        )""",
        """INSERT INTO reservations_v2 (id, product, status, locker, expires_at, created_at, updated_at, collected_at)
            SELECT id, product, status, locker, expires_at, created_at, updated_at, collected_at FROM reservations""",
        """CREATE TABLE credentials_v2 (
            kind TEXT NOT NULL,
            digest TEXT NOT NULL,
            reservation_id TEXT NOT NULL REFERENCES reservations_v2(id),
            PRIMARY KEY (kind, digest)
        )""",
        """INSERT INTO credentials_v2 (kind, digest, reservation_id)
            SELECT kind, digest, reservation_id FROM credentials""",
        "DROP TABLE credentials",
        "DROP TABLE reservations",
        "ALTER TABLE reservations_v2 RENAME TO reservations",
        "ALTER TABLE credentials_v2 RENAME TO credentials",
        "CREATE INDEX reservations_locker ON reservations(locker, status)",
        "CREATE INDEX reservations_status ON reservations(status, created_at)",
        "CREATE INDEX credentials_reservation ON credentials(reservation_id)",
        # the items of a loan; tags are not secrets (anyone holding the item reads them)
        """CREATE TABLE reservation_tags (
            reservation_id TEXT NOT NULL REFERENCES reservations(id),
            tag TEXT NOT NULL
                CHECK (length(tag) BETWEEN 4 AND 20 AND tag NOT GLOB '*[^0-9A-F]*'),
            returned_at TEXT,
            return_locker INTEGER REFERENCES lockers(number),
            taken_out_at TEXT,
            PRIMARY KEY (reservation_id, tag),
            CHECK ((returned_at IS NULL) = (return_locker IS NULL)),
            CHECK (taken_out_at IS NULL OR returned_at IS NOT NULL)
        )""",
        "CREATE INDEX reservation_tags_tag ON reservation_tags(tag)",
        "CREATE INDEX reservation_tags_in_locker ON reservation_tags(return_locker) WHERE taken_out_at IS NULL",
        # releases for returns, staff loading and taking out, and technicians' door tests (no reservation)
        """CREATE TABLE releases_v2 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            reservation_id TEXT,
            locker INTEGER NOT NULL,
            reason TEXT NOT NULL
                CHECK (reason IN ('pickup', 'retry', 'reopen', 'return', 'load', 'take_out', 'service')),
            method TEXT NOT NULL,
            state TEXT NOT NULL
                CHECK (state IN ('pending', 'opened', 'closed', 'unopened', 'left_open', 'interrupted')),
            created_at TEXT NOT NULL,
            opened_at TEXT,
            closed_at TEXT
        )""",
        """INSERT INTO releases_v2 (id, reservation_id, locker, reason, method, state, created_at, opened_at, closed_at)
            SELECT id, reservation_id, locker, reason, method, state, created_at, opened_at, closed_at FROM releases""",
        # release ids are never reused, even if the newest rows were ever deleted
        "DELETE FROM sqlite_sequence WHERE name = 'releases_v2'",
        """INSERT INTO sqlite_sequence (name, seq)
            SELECT 'releases_v2', seq FROM sqlite_sequence WHERE name = 'releases'""",
        "DROP TABLE releases",
        "ALTER TABLE releases_v2 RENAME TO releases",
        "CREATE INDEX releases_open ON releases(locker, state)",
        "CREATE INDEX releases_reservation ON releases(reservation_id, state)",
    ],
    # 3: alarms with their state, for service mode (the outbox tells the town hall; this says what is active)
    [
        """CREATE TABLE alarms (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            locker INTEGER,
            device TEXT,
            detail TEXT NOT NULL,
            raised_at TEXT NOT NULL,
            cleared_at TEXT
        )""",
        "CREATE INDEX alarms_active ON alarms(kind, locker, device) WHERE cleared_at IS NULL",
    ],
    # 4: what a return, load or emptying was about (tags counted, the staff badge's hash), so the work is
    # recorded even if the kiosk dies between the door closing and the record
    ["ALTER TABLE releases ADD COLUMN detail TEXT",
     # a locker's latest door event, asked for each locker when choosing a free one
     "CREATE INDEX door_events_locker ON door_events(locker, id)"],
    # 5: who may collect a reservation for a strong product (issue 7): keyed hashes of national register
    # numbers only, the holder's and those of people the holder authorised; never the numbers themselves
    [
        """CREATE TABLE reservation_people (
            reservation_id TEXT NOT NULL REFERENCES reservations(id),
            digest TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('holder', 'authorised')),
            PRIMARY KEY (reservation_id, digest)
        )""",
        # kept no longer than needed: once a reservation is finished nobody is to be proven for it again
        """CREATE TRIGGER reservation_people_forget AFTER UPDATE OF status ON reservations
            WHEN NEW.status IN ('collected', 'cancelled', 'expired', 'closed')
            BEGIN DELETE FROM reservation_people WHERE reservation_id = NEW.id; END""",
    ],
]
