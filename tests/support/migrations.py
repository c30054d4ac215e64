"""Rewinding a database to an earlier schema version, to test what a migration does to the
data an older whistle left.

Each migration after 13 says here how to take it back (``UNDO``), so a test of migration N
rewinds a database the current code wrote to N - 1 and restarts the server on it; a new
migration adds its entry, and the older tests keep working.
"""

from __future__ import annotations

import sqlite3

__all__ = ["UNDO", "rewind"]

# version -> statements that turn a database at that version into one at the version before.
UNDO: dict[int, list[str]] = {
    14: ["DROP TABLE whistle_search", "DROP INDEX whistles_open_by_due"],
    15: [
        "DROP INDEX case_facts_by_place",
        "ALTER TABLE case_facts DROP COLUMN response_due_from",
        "ALTER TABLE case_facts DROP COLUMN responded_in_time",
        "CREATE INDEX case_facts_by_place ON case_facts (grid_path, source, major, day, "
        "received_at, status, first_ack_at, resolved_at, closed_at, on_time, due_at, rework, "
        "rating, rectify_due, rectified_at)",
    ],
    16: ["DROP TABLE config_versions"],
    17: ["ALTER TABLE whistles DROP COLUMN redacted_at"],
    18: ["DROP TABLE party_records", "DROP TABLE party_hours"],
}


def rewind(conn: sqlite3.Connection, version: int) -> None:
    """Take the database on ``conn`` back to schema ``version``, newest migration first."""
    (current,) = conn.execute("PRAGMA user_version").fetchone()
    for step in range(current, version, -1):
        for statement in UNDO[step]:
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {int(version)}")
