"""The SQLite schema as an ordered list of migrations; PRAGMA user_version is the version."""

from __future__ import annotations

from whistle.store import party, search

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

# Each migration is a list of statements run in one transaction. Append, never edit.
MIGRATIONS: list[list[str]] = [
    [
        # The append-only log: the source of truth for what happened, in order.
        """CREATE TABLE events (
            seq        INTEGER PRIMARY KEY,
            whistle_id TEXT NOT NULL,
            type       TEXT NOT NULL,
            at         TEXT NOT NULL,
            actor      TEXT,
            data       TEXT NOT NULL
        )""",
        "CREATE INDEX events_by_whistle ON events (whistle_id, seq)",
        # Current state, derived from the log and written in the same transaction.
        """CREATE TABLE whistles (
            id              TEXT PRIMARY KEY,
            received_at     TEXT NOT NULL,
            source          TEXT NOT NULL,
            category        TEXT NOT NULL,
            urgency         TEXT NOT NULL,
            status          TEXT NOT NULL,
            grid_code       TEXT NOT NULL,
            grid_path       TEXT NOT NULL,
            grid_level      INTEGER NOT NULL,
            external_id     TEXT,
            idempotency_key TEXT UNIQUE,
            request_hash    TEXT,
            doc             TEXT NOT NULL
        )""",
        "CREATE INDEX whistles_by_path ON whistles (grid_path, id)",
        "CREATE INDEX whistles_by_received ON whistles (received_at)",
        "CREATE INDEX whistles_by_status ON whistles (status, id)",
        "CREATE INDEX whistles_by_external ON whistles (source, external_id)",
        """CREATE TABLE assignments (
            id              TEXT PRIMARY KEY,
            whistle_id      TEXT NOT NULL REFERENCES whistles (id),
            responder_id    TEXT,
            kind            TEXT NOT NULL,
            mode            TEXT NOT NULL,
            status          TEXT NOT NULL,
            cell            TEXT NOT NULL,
            acknowledge_due TEXT,
            claim_due       TEXT,
            resolve_due     TEXT,
            doc             TEXT NOT NULL
        )""",
        "CREATE INDEX assignments_by_whistle ON assignments (whistle_id)",
        "CREATE INDEX assignments_by_responder ON assignments (responder_id, status)",
        # The outbox is the log itself: everything after published_seq still has to be
        # handed to the bus. One row, moved forward in the same transactions as the writes.
        """CREATE TABLE outbox (
            id            INTEGER PRIMARY KEY CHECK (id = 1),
            published_seq INTEGER NOT NULL
        )""",
        "INSERT INTO outbox (id, published_seq) VALUES (1, 0)",
    ],
    [
        # The case lifecycle: an optimistic version (events folded) guards every transition;
        # the case document is the fold's summary for reads.
        "ALTER TABLE whistles ADD COLUMN version INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE whistles ADD COLUMN case_doc TEXT",
        # Pending deadlines, re-armed from here after a restart. A firing marks its row
        # 'fired' in the same transaction as its events: that is what makes it exactly once.
        """CREATE TABLE deadlines (
            whistle_id TEXT NOT NULL REFERENCES whistles (id),
            key        TEXT NOT NULL,
            due_at     TEXT NOT NULL,
            status     TEXT NOT NULL,
            PRIMARY KEY (whistle_id, key)
        )""",
        "CREATE INDEX deadlines_pending ON deadlines (status, due_at)",
        # Open claim boards of a community, for members' inboxes.
        "CREATE INDEX assignments_boards ON assignments (cell, status) WHERE mode = 'claim'",
    ],
    [
        # Grouping repeated camera detections into the camera's open case.
        "ALTER TABLE whistles ADD COLUMN camera_id TEXT",
        "CREATE INDEX whistles_by_camera ON whistles (camera_id, category, received_at) "
        "WHERE camera_id IS NOT NULL",
        # Likely duplicates: one category in one grid (the level-4 cell the whistle is in, or
        # its own cell when placed higher), recent first: an equality and a range, so a seek.
        "ALTER TABLE whistles ADD COLUMN near TEXT",
        "CREATE INDEX whistles_nearby ON whistles (category, near, received_at)",
        # Silences: whistles that match are stored and shown, but not dispatched.
        """CREATE TABLE silences (
            id         TEXT PRIMARY KEY,
            matcher    TEXT NOT NULL,
            value      TEXT NOT NULL,
            starts_at  TEXT NOT NULL,
            ends_at    TEXT NOT NULL,
            author     TEXT NOT NULL,
            comment    TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
    ],
    [
        # Who may do what: API tokens (hashed), logins (argon2id), sessions (hashed ids),
        # the admin audit trail, and citizens' private links to their cases (hashed keys).
        """CREATE TABLE tokens (
            id           TEXT PRIMARY KEY,
            hash         TEXT NOT NULL,
            role         TEXT NOT NULL,
            scope        TEXT,
            responder_id TEXT,
            source       TEXT,
            label        TEXT NOT NULL,
            created_at   TEXT NOT NULL,
            expires_at   TEXT,
            revoked_at   TEXT
        )""",
        """CREATE TABLE users (
            name          TEXT PRIMARY KEY,
            password_hash TEXT NOT NULL,
            role          TEXT NOT NULL,
            scope         TEXT,
            responder_id  TEXT,
            created_at    TEXT NOT NULL
        )""",
        """CREATE TABLE sessions (
            id_hash    TEXT PRIMARY KEY,
            user       TEXT NOT NULL REFERENCES users (name),
            csrf       TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )""",
        """CREATE TABLE audit (
            seq    INTEGER PRIMARY KEY AUTOINCREMENT,
            at     TEXT NOT NULL,
            actor  TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT,
            detail TEXT NOT NULL
        )""",
        """CREATE TABLE citizen_links (
            whistle_id TEXT PRIMARY KEY REFERENCES whistles (id),
            key_hash   TEXT NOT NULL
        )""",
    ],
    [
        # Statistics (统计): a projection of each case and each assignment, kept by the store
        # in the same transaction as the events it summarises, so that the committee's
        # figures are plain aggregates over indexed columns. Times are Unix seconds (REAL):
        # durations and the shift of a hold are then arithmetic, not string work.
        """CREATE TABLE case_facts (
            whistle_id   TEXT NOT NULL,
            received_at  REAL NOT NULL,
            day          TEXT NOT NULL,
            source       TEXT NOT NULL,
            category     TEXT NOT NULL,
            major        TEXT NOT NULL,
            grid_path    TEXT NOT NULL,
            status       TEXT NOT NULL,
            first_ack_at REAL,
            resolved_at  REAL,
            closed_at    REAL,
            on_time      INTEGER,
            due_at       REAL,
            rework       INTEGER NOT NULL DEFAULT 0,
            rating       TEXT,
            PRIMARY KEY (day, received_at, whistle_id)
        ) WITHOUT ROWID""",
        # Clustered by day and time: a period's rows lie together, so a county-year is one
        # sequential range (no lookup per row), and grouping by day needs no sort.
        "CREATE UNIQUE INDEX case_facts_by_whistle ON case_facts (whistle_id)",
        """CREATE TABLE assignment_facts (
            assignment_id   TEXT NOT NULL,
            whistle_id      TEXT NOT NULL,
            received_at     REAL NOT NULL,
            grid_path       TEXT NOT NULL,
            responder_id    TEXT,
            kind            TEXT NOT NULL,
            mode            TEXT NOT NULL,
            ack_due         REAL,
            acknowledged_at REAL,
            resolved_at     REAL,
            ended_at        REAL,
            claimed         INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (received_at, assignment_id)
        ) WITHOUT ROWID""",
        "CREATE UNIQUE INDEX assignment_facts_by_id ON assignment_facts (assignment_id)",
        "CREATE INDEX assignment_facts_by_whistle ON assignment_facts (whistle_id)",
        # Backfill what an older database already holds, from its current-state rows and its
        # event log ((julianday - 2440587.5) * 86400 is Unix seconds).
        """INSERT INTO case_facts (whistle_id, received_at, day, source, category, major,
            grid_path, status, first_ack_at, resolved_at, closed_at, on_time, due_at, rework,
            rating)
        SELECT w.id,
            (julianday(w.received_at) - 2440587.5) * 86400.0,
            date(w.received_at, '+8 hours'),
            w.source, w.category, substr(w.category, 1, 3), w.grid_path, w.status,
            (SELECT min((julianday(e.at) - 2440587.5) * 86400.0) FROM events e
                WHERE e.whistle_id = w.id
                AND e.type IN ('assignment.acknowledged', 'assignment.claimed')),
            (julianday(json_extract(w.case_doc, '$.resolution.at')) - 2440587.5) * 86400.0,
            CASE WHEN w.status IN ('closed', 'rated') THEN
                (SELECT max((julianday(e.at) - 2440587.5) * 86400.0) FROM events e
                 WHERE e.whistle_id = w.id AND e.type = 'case.closed') END,
            CASE WHEN w.status IN ('closed', 'rated') THEN
                (SELECT json_extract(e.data, '$.on_time') FROM events e
                 WHERE e.whistle_id = w.id AND e.type = 'case.closed'
                 ORDER BY e.seq DESC LIMIT 1) END,
            (julianday(json_extract(w.case_doc, '$.resolve_due')) - 2440587.5) * 86400.0,
            coalesce(json_extract(w.case_doc, '$.rework'), 0),
            json_extract(w.case_doc, '$.rating.grade')
        FROM whistles w""",
        """INSERT INTO assignment_facts (assignment_id, whistle_id, received_at, grid_path,
            responder_id, kind, mode, ack_due, acknowledged_at, resolved_at, ended_at, claimed)
        SELECT a.id, a.whistle_id, f.received_at, f.grid_path, a.responder_id, a.kind, a.mode,
            (julianday(a.acknowledge_due) - 2440587.5) * 86400.0,
            (SELECT min((julianday(e.at) - 2440587.5) * 86400.0) FROM events e
                WHERE e.whistle_id = a.whistle_id
                AND e.type IN ('assignment.acknowledged', 'assignment.claimed')
                AND json_extract(e.data, '$.assignment') = a.id),
            (SELECT max((julianday(e.at) - 2440587.5) * 86400.0) FROM events e
                WHERE e.whistle_id = a.whistle_id AND e.type = 'assignment.resolved'
                AND json_extract(e.data, '$.assignment') = a.id),
            CASE a.status
                WHEN 'escalated' THEN (julianday(a.acknowledge_due) - 2440587.5) * 86400.0
                WHEN 'returned' THEN (SELECT max((julianday(e.at) - 2440587.5) * 86400.0)
                    FROM events e WHERE e.whistle_id = a.whistle_id
                    AND e.type = 'assignment.returned'
                    AND json_extract(e.data, '$.assignment') = a.id)
                WHEN 'cancelled' THEN (SELECT max((julianday(e.at) - 2440587.5) * 86400.0)
                    FROM events e WHERE e.whistle_id = a.whistle_id
                    AND e.type IN ('case.closed', 'case.merged')) END,
            EXISTS (SELECT 1 FROM events e WHERE e.whistle_id = a.whistle_id
                AND e.type = 'assignment.claimed'
                AND json_extract(e.data, '$.assignment') = a.id)
        FROM assignments a JOIN case_facts f ON f.whistle_id = a.whistle_id""",
    ],
    [
        # Statistics over a long window (a county-year): covering indexes in the order the
        # aggregates want, so that SQLite streams them instead of sorting half a million rows
        # (see ``whistle.store.facts.wide``). Kept by SQLite in the same transaction as the
        # facts, so they are exact; creating them backfills an existing database in place.
        # By place, then source and 大类: the breakdown groups stream, and a town seeks to its
        # own subtree.
        """CREATE INDEX case_facts_by_place ON case_facts (grid_path, source, major, day,
            received_at, status, first_ack_at, resolved_at, closed_at, on_time, due_at, rework,
            rating)""",
        # By duration: the median and p90 are the value at an offset, read in index order.
        """CREATE INDEX case_facts_by_ack_time ON case_facts (first_ack_at - received_at,
            day, received_at, grid_path, status, first_ack_at) WHERE first_ack_at IS NOT NULL""",
        """CREATE INDEX case_facts_by_resolve_time ON case_facts (resolved_at - received_at,
            day, received_at, grid_path, status, resolved_at) WHERE resolved_at IS NOT NULL""",
        # By responder: the per-responder table groups in index order.
        """CREATE INDEX assignment_facts_by_responder ON assignment_facts (responder_id, kind,
            received_at, grid_path, mode, acknowledged_at, resolved_at)
            WHERE responder_id IS NOT NULL AND acknowledged_at IS NOT NULL""",
    ],
    [
        # Camera detections grouped into an open case: one row per detection key, so that a
        # detection sent again is recognised (the case's repeat count must not rise twice).
        # The detection itself is kept in the case's case.repeated event.
        """CREATE TABLE detections (
            key        TEXT PRIMARY KEY,
            whistle_id TEXT NOT NULL REFERENCES whistles (id)
        ) WITHOUT ROWID""",
    ],
    [
        # Re-arming after a restart reads every pending deadline in due order. A partial
        # index of the pending rows alone, covering what the timer needs, streams them with
        # no lookup per row (a third of the CPU of migration 1's (status, due_at)) and stays
        # small however much fired and cancelled history the table holds.
        "DROP INDEX deadlines_pending",
        """CREATE INDEX deadlines_pending ON deadlines (due_at, whistle_id, key, status)
            WHERE status = 'pending'""",
    ],
    [
        # A silence names several matchers, all of which must hold (camera, grid, category,
        # source): "this category in this town", not "everything in this town". Each old
        # one-matcher silence becomes a one-entry object; an old grid-only one is kept, for
        # the record, but no longer mutes anything (whistle/silences.py).
        """CREATE TABLE silences_v2 (
            id         TEXT PRIMARY KEY,
            matchers   TEXT NOT NULL,
            starts_at  TEXT NOT NULL,
            ends_at    TEXT NOT NULL,
            author     TEXT NOT NULL,
            comment    TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
        "INSERT INTO silences_v2 SELECT id, json_object(matcher, value), starts_at, ends_at, "
        "author, comment, created_at FROM silences",
        "DROP TABLE silences",
        "ALTER TABLE silences_v2 RENAME TO silences",
    ],
    [
        # 差评整改: the latest rectification of a case (its deadline, and when it was verified
        # and closed), for 整改率; the wide-window index covers them too.
        "ALTER TABLE case_facts ADD COLUMN rectify_due REAL",
        "ALTER TABLE case_facts ADD COLUMN rectified_at REAL",
        "DROP INDEX case_facts_by_place",
        """CREATE INDEX case_facts_by_place ON case_facts (grid_path, source, major, day,
            received_at, status, first_ack_at, resolved_at, closed_at, on_time, due_at, rework,
            rating, rectify_due, rectified_at)""",
    ],
    [
        # Who uploaded each photo, and their scope (NULL: everywhere): a photo is shown to its
        # uploader, and with a case to those who may read the case when it was uploaded by
        # someone on the case's branch of the tree (so that naming another town's photo in
        # one's own case does not make it readable).
        """CREATE TABLE media (
            name     TEXT NOT NULL,
            uploader TEXT NOT NULL,
            scope    TEXT,
            PRIMARY KEY (name, uploader)
        ) WITHOUT ROWID""",
    ],
    [
        # 知会: who is told of each case without owning it (the 网格长 of its grid, the 联户长
        # of a citizen's micro-grid), newest first per responder, for the inbox. Whistles
        # already stored list them in their document.
        """CREATE TABLE informed (
            responder_id TEXT NOT NULL,
            received_at  TEXT NOT NULL,
            whistle_id   TEXT NOT NULL,
            PRIMARY KEY (responder_id, received_at, whistle_id)
        ) WITHOUT ROWID""",
        "INSERT OR IGNORE INTO informed SELECT json_extract(i.value, '$.responder.id'), "
        "w.received_at, w.id FROM whistles w, json_each(w.doc, '$.informed') i "
        "WHERE json_extract(i.value, '$.responder.id') IS NOT NULL",
    ],
    # 13: the 受理编号 (issue 16).
    [
        # 受理编号: each whistle's short case number (whistle/store/case_numbers.py), drawn from
        # a sequence per prefix (town letters + YYMM) in the same transaction as the whistle,
        # so that processes sharing the file never draw one twice. Cases stored before keep
        # none (NULL), and pages show their id.
        """CREATE TABLE case_numbers (
            prefix TEXT PRIMARY KEY,
            n      INTEGER NOT NULL
        ) WITHOUT ROWID""",
        "ALTER TABLE whistles ADD COLUMN case_number TEXT",
        "CREATE UNIQUE INDEX whistles_by_case_number ON whistles (case_number) "
        "WHERE case_number IS NOT NULL",
    ],
    # 14: search over the queue (issue 17): an FTS5 table with the trigram tokenizer, kept
    # in the same write batch as each new whistle (whistle/store/search.py).
    search.MIGRATION,
    # 15: 响应率 on the case's own row (issue 17): what its assignments say of its response,
    # kept with the rest of its facts, so that the county-year figures are one scan.
    [
        "ALTER TABLE case_facts ADD COLUMN response_due_from REAL",
        "ALTER TABLE case_facts ADD COLUMN responded_in_time INTEGER NOT NULL DEFAULT 0",
        # The same SET as whistle.store.facts.RESPONSE_FROM_ASSIGNMENTS, frozen here.
        """UPDATE case_facts SET
            response_due_from = (SELECT min(CASE WHEN acknowledged_at IS NOT NULL THEN 0
                WHEN ended_at IS NULL OR ack_due <= ended_at THEN ack_due END)
                FROM assignment_facts a
                WHERE a.whistle_id = case_facts.whistle_id AND a.mode = 'push'),
            responded_in_time = EXISTS (SELECT 1 FROM assignment_facts a
                WHERE a.whistle_id = case_facts.whistle_id AND a.mode = 'push'
                AND acknowledged_at IS NOT NULL
                AND (ack_due IS NULL OR acknowledged_at <= ack_due))""",
        "DROP INDEX case_facts_by_place",
        """CREATE INDEX case_facts_by_place ON case_facts (grid_path, source, major, day,
            received_at, status, first_ack_at, resolved_at, closed_at, on_time, due_at, rework,
            rating, rectify_due, rectified_at, response_due_from, responded_in_time)""",
    ],
    # 16: config versions (issue 20). Every version of the rules, catalog, duty rota and
    # calendar: its files' text (a JSON object, name -> text), their hash, who made it, when
    # and why, and its state. At most one is active (the partial unique index); processes
    # sharing the file poll its id to pick up an applied version.
    [
        """CREATE TABLE config_versions (
            id         INTEGER PRIMARY KEY,
            hash       TEXT NOT NULL UNIQUE,
            files      TEXT NOT NULL,
            author     TEXT NOT NULL,
            reason     TEXT NOT NULL,
            created_at TEXT NOT NULL,
            state      TEXT NOT NULL,
            applied_at TEXT
        )""",
        "CREATE UNIQUE INDEX config_versions_active ON config_versions (state) "
        "WHERE state = 'active'",
    ],
    # 17: privacy (issue 18): when a case's personal fields were blanked by retention.
    ["ALTER TABLE whistles ADD COLUMN redacted_at TEXT"],
    # 18: party-building (issue 19): units, 大党委 seats, pacts, meetings, 双报到, needs,
    # projects, claims, volunteer teams, pairings and their visits, and service hours
    # (whistle/store/sqlite/party.py).
    party.MIGRATION,
]

SCHEMA_VERSION = len(MIGRATIONS)
