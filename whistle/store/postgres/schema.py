"""The PostgreSQL schema as an ordered list of migrations, like SQLite's
(whistle/store/_schema.py); the table ``schema_version`` holds the version.

Version 1 is the whole of SQLite's schema at its version 14, written once for PostgreSQL
(there is no older PostgreSQL database to bring forward). To add one: append a list of
statements at the end of :data:`MIGRATIONS` with a comment ``# <issue>: <what>``, mirroring the
SQLite migration of the same change; :func:`whistle.store.postgres.backend.migrate` runs it in
one transaction under an advisory lock, so processes starting together migrate once.

Differences from SQLite, on purpose:
- documents (``doc``, ``case_doc``, event ``data``) are ``jsonb``;
- every text column that is compared by range (grid paths, times, ids) is ``COLLATE "C"``: a
  subtree is the range [path, path + U+10FFFF) and times are fixed-width UTC text, which only
  byte order keeps right (a database created with a language's collation would not);
- ``log_position`` holds the last sequence number of the event log: the write batches of every
  process take it FOR UPDATE, so sequence numbers are given in commit order, database-wide;
- search is ``whistle_search`` with a pg_trgm GIN index, in place of SQLite's FTS5 table;
- each event records the process that wrote it (``origin``), for the listener;
- a deadline records which process claimed it to fire and until when (``claimed_by``,
  ``lease_until``).
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

# Text compared by byte order (see above).
_T = 'text COLLATE "C"'

# Each migration is a list of statements run in one transaction. Append, never edit.
MIGRATIONS: list[list[str]] = [
    # 23: the schema of SQLite's version 14 (issues up to 17), for PostgreSQL.
    [
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        f"""CREATE TABLE events (
            seq        bigint PRIMARY KEY,
            whistle_id {_T} NOT NULL,
            type       {_T} NOT NULL,
            at         {_T} NOT NULL,
            actor      {_T},
            data       jsonb NOT NULL,
            -- which process wrote it (its write connection's whistle.origin): the
            -- listener publishes the others' (whistle/store/postgres/listener.py)
            origin     text DEFAULT current_setting('whistle.origin', true)
        )""",
        "CREATE INDEX events_by_whistle ON events (whistle_id, seq)",
        """CREATE TABLE log_position (
            id  int PRIMARY KEY CHECK (id = 1),
            seq bigint NOT NULL
        )""",
        "INSERT INTO log_position (id, seq) VALUES (1, 0)",
        f"""CREATE TABLE whistles (
            id              {_T} PRIMARY KEY,
            received_at     {_T} NOT NULL,
            source          {_T} NOT NULL,
            category        {_T} NOT NULL,
            urgency         {_T} NOT NULL,
            status          {_T} NOT NULL,
            grid_code       {_T} NOT NULL,
            grid_path       {_T} NOT NULL,
            grid_level      int NOT NULL,
            external_id     {_T},
            idempotency_key {_T} UNIQUE,
            request_hash    {_T},
            doc             jsonb NOT NULL,
            version         int NOT NULL DEFAULT 0,
            case_doc        jsonb,
            camera_id       {_T},
            near            {_T},
            case_number     {_T}
        )""",
        "CREATE INDEX whistles_by_path ON whistles (grid_path, id)",
        "CREATE INDEX whistles_by_received ON whistles (received_at)",
        "CREATE INDEX whistles_by_status ON whistles (status, id)",
        "CREATE INDEX whistles_by_external ON whistles (source, external_id)",
        "CREATE INDEX whistles_by_camera ON whistles (camera_id, category, received_at) "
        "WHERE camera_id IS NOT NULL",
        "CREATE INDEX whistles_nearby ON whistles (category, near, received_at)",
        "CREATE UNIQUE INDEX whistles_by_case_number ON whistles (case_number) "
        "WHERE case_number IS NOT NULL",
        # The open queue by time left (see whistle/store/postgres/reads.py, DUE_KEY).
        """CREATE INDEX whistles_open_by_due ON whistles
            ((coalesce(case_doc->'next_due'->>'at', '~') COLLATE "C"), id)
            WHERE status NOT IN ('cancelled', 'closed', 'rated', 'verified')""",
        f"""CREATE TABLE assignments (
            id              {_T} PRIMARY KEY,
            whistle_id      {_T} NOT NULL REFERENCES whistles (id),
            responder_id    {_T},
            kind            {_T} NOT NULL,
            mode            {_T} NOT NULL,
            status          {_T} NOT NULL,
            cell            {_T} NOT NULL,
            acknowledge_due {_T},
            claim_due       {_T},
            resolve_due     {_T},
            doc             jsonb NOT NULL
        )""",
        "CREATE INDEX assignments_by_whistle ON assignments (whistle_id)",
        "CREATE INDEX assignments_by_responder ON assignments (responder_id, status)",
        "CREATE INDEX assignments_boards ON assignments (cell, status) WHERE mode = 'claim'",
        """CREATE TABLE outbox (
            id            int PRIMARY KEY CHECK (id = 1),
            published_seq bigint NOT NULL
        )""",
        "INSERT INTO outbox (id, published_seq) VALUES (1, 0)",
        f"""CREATE TABLE deadlines (
            whistle_id {_T} NOT NULL REFERENCES whistles (id),
            key        {_T} NOT NULL,
            due_at     {_T} NOT NULL,
            status     {_T} NOT NULL,
            -- the process firing it, until lease_until (Store.claim_deadlines)
            claimed_by  text,
            lease_until {_T},
            PRIMARY KEY (whistle_id, key)
        )""",
        "CREATE INDEX deadlines_pending ON deadlines (due_at, whistle_id, key) "
        "WHERE status = 'pending'",
        f"""CREATE TABLE silences (
            id         {_T} PRIMARY KEY,
            matchers   text NOT NULL,
            starts_at  {_T} NOT NULL,
            ends_at    {_T} NOT NULL,
            author     text NOT NULL,
            comment    text NOT NULL,
            created_at {_T} NOT NULL
        )""",
        f"""CREATE TABLE tokens (
            id           {_T} PRIMARY KEY,
            hash         text NOT NULL,
            role         text NOT NULL,
            scope        {_T},
            responder_id {_T},
            source       text,
            label        text NOT NULL,
            created_at   {_T} NOT NULL,
            expires_at   {_T},
            revoked_at   {_T}
        )""",
        f"""CREATE TABLE users (
            name          {_T} PRIMARY KEY,
            password_hash text NOT NULL,
            role          text NOT NULL,
            scope         {_T},
            responder_id  {_T},
            created_at    {_T} NOT NULL
        )""",
        f"""CREATE TABLE sessions (
            id_hash    {_T} PRIMARY KEY,
            "user"     {_T} NOT NULL REFERENCES users (name),
            csrf       text NOT NULL,
            created_at {_T} NOT NULL,
            expires_at {_T} NOT NULL
        )""",
        f"""CREATE TABLE audit (
            seq    bigserial PRIMARY KEY,
            at     {_T} NOT NULL,
            actor  text NOT NULL,
            action text NOT NULL,
            target text,
            detail text NOT NULL
        )""",
        f"""CREATE TABLE citizen_links (
            whistle_id {_T} PRIMARY KEY REFERENCES whistles (id),
            key_hash   text NOT NULL
        )""",
        f"""CREATE TABLE case_facts (
            whistle_id   {_T} NOT NULL,
            received_at  float8 NOT NULL,
            day          {_T} NOT NULL,
            source       {_T} NOT NULL,
            category     {_T} NOT NULL,
            major        {_T} NOT NULL,
            grid_path    {_T} NOT NULL,
            status       {_T} NOT NULL,
            first_ack_at float8,
            resolved_at  float8,
            closed_at    float8,
            on_time      int,
            due_at       float8,
            rework       int NOT NULL DEFAULT 0,
            rating       {_T},
            rectify_due  float8,
            rectified_at float8,
            PRIMARY KEY (day, received_at, whistle_id)
        )""",
        "CREATE UNIQUE INDEX case_facts_by_whistle ON case_facts (whistle_id)",
        "CREATE INDEX case_facts_by_place ON case_facts (grid_path, source, major)",
        f"""CREATE TABLE assignment_facts (
            assignment_id   {_T} NOT NULL,
            whistle_id      {_T} NOT NULL,
            received_at     float8 NOT NULL,
            grid_path       {_T} NOT NULL,
            responder_id    {_T},
            kind            {_T} NOT NULL,
            mode            {_T} NOT NULL,
            ack_due         float8,
            acknowledged_at float8,
            resolved_at     float8,
            ended_at        float8,
            claimed         int NOT NULL DEFAULT 0,
            PRIMARY KEY (received_at, assignment_id)
        )""",
        "CREATE UNIQUE INDEX assignment_facts_by_id ON assignment_facts (assignment_id)",
        "CREATE INDEX assignment_facts_by_whistle ON assignment_facts (whistle_id)",
        f"""CREATE TABLE detections (
            key        {_T} PRIMARY KEY,
            whistle_id {_T} NOT NULL REFERENCES whistles (id)
        )""",
        f"""CREATE TABLE media (
            name     {_T} NOT NULL,
            uploader {_T} NOT NULL,
            scope    {_T},
            PRIMARY KEY (name, uploader)
        )""",
        f"""CREATE TABLE informed (
            responder_id {_T} NOT NULL,
            received_at  {_T} NOT NULL,
            whistle_id   {_T} NOT NULL,
            PRIMARY KEY (responder_id, received_at, whistle_id)
        )""",
        f"""CREATE TABLE case_numbers (
            prefix {_T} PRIMARY KEY,
            n      bigint NOT NULL
        )""",
        f"""CREATE TABLE whistle_search (
            whistle_id {_T} PRIMARY KEY REFERENCES whistles (id),
            body       text NOT NULL
        )""",
        "CREATE INDEX whistle_search_trgm ON whistle_search USING gin (body gin_trgm_ops)",
    ],
    # issue 23 (main's migration 15): 响应率 on the case's own row (issue 17), as SQLite's:
    # what its assignments say of its response, kept with the rest of its facts.
    [
        "ALTER TABLE case_facts ADD COLUMN response_due_from float8",
        "ALTER TABLE case_facts ADD COLUMN responded_in_time int NOT NULL DEFAULT 0",
        # The same SET as whistle.store.facts.RESPONSE_FROM_ASSIGNMENTS, frozen here.
        """UPDATE case_facts SET
            response_due_from = (SELECT min(CASE WHEN acknowledged_at IS NOT NULL THEN 0
                WHEN ended_at IS NULL OR ack_due <= ended_at THEN ack_due END)
                FROM assignment_facts a
                WHERE a.whistle_id = case_facts.whistle_id AND a.mode = 'push'),
            responded_in_time = (EXISTS (SELECT 1 FROM assignment_facts a
                WHERE a.whistle_id = case_facts.whistle_id AND a.mode = 'push'
                AND acknowledged_at IS NOT NULL
                AND (ack_due IS NULL OR acknowledged_at <= ack_due)))::int""",
    ],
    # issue 23 (main's migration 16): config versions (issue 20): every version's files (a
    # jsonb object, name -> text), hash, author, time, reason and state; at most one active.
    [
        f"""CREATE TABLE config_versions (
            id         int PRIMARY KEY,
            hash       {_T} NOT NULL UNIQUE,
            files      jsonb NOT NULL,
            author     text NOT NULL,
            reason     text NOT NULL,
            created_at {_T} NOT NULL,
            state      {_T} NOT NULL,
            applied_at {_T}
        )""",
        "CREATE UNIQUE INDEX config_versions_active ON config_versions (state) "
        "WHERE state = 'active'",
    ],
    # issue 23 (main's migration 17): privacy (issue 18): when retention blanked a case's
    # personal fields.
    [f"ALTER TABLE whistles ADD COLUMN redacted_at {_T}"],
    # issue 23 (main's migration 18): party-building (issue 19): the records and service
    # hours of whistle/store/party.py (whistle/store/postgres/party.py).
    [
        f"""CREATE TABLE party_records (
            kind      {_T} NOT NULL,
            id        {_T} NOT NULL,
            grid_path {_T} NOT NULL,
            status    {_T} NOT NULL,
            at        {_T} NOT NULL,
            ref       {_T},
            person    {_T},
            doc       jsonb NOT NULL,
            PRIMARY KEY (kind, id)
        )""",
        "CREATE INDEX party_by_place ON party_records (kind, grid_path, at)",
        "CREATE INDEX party_by_ref ON party_records (kind, ref) WHERE ref IS NOT NULL",
        "CREATE INDEX party_by_person ON party_records (kind, person) WHERE person IS NOT NULL",
        f"""CREATE TABLE party_hours (
            claim_id  {_T} NOT NULL,
            person    {_T} NOT NULL,
            grid_path {_T} NOT NULL,
            at        {_T} NOT NULL,
            hours     float8 NOT NULL,
            unit_id   {_T},
            team_id   {_T},
            PRIMARY KEY (claim_id, person)
        )""",
        "CREATE INDEX party_hours_by_place ON party_hours (grid_path, at)",
        "CREATE INDEX party_hours_by_unit ON party_hours (unit_id) WHERE unit_id IS NOT NULL",
    ],
    # issue 23 (cluster): the webhook outbox, one row per notice of an event, written in the
    # event's transaction and claimed like the deadlines (whistle/store/postgres/outbox.py).
    [
        f"""CREATE TABLE webhook_outbox (
            seq         bigint NOT NULL,
            idx         int NOT NULL,
            whistle_id  {_T} NOT NULL,
            -- the process delivering it, until lease_until (whistle/deliveries.py)
            claimed_by  {_T},
            lease_until {_T},
            PRIMARY KEY (seq, idx)
        )""",
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)
