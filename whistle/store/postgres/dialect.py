"""PostgreSQL's spelling of the shared write statements, in one place.

The shared statements (whistle/store/case_writes.py, whistle/store/facts.py, the records) are
written in SQLite's SQL with ``?``, ``?NNN`` or ``:name`` parameters. :func:`pg` gives each
its PostgreSQL form: the parameters as ``$n``, and for the few statements whose SQL differs
(SQLite's JSON functions, ``INSERT OR IGNORE``, the FTS5 table, parameters whose type
PostgreSQL cannot infer) the statement written out in :data:`OVERRIDES`. A statement with
neither is used as it is, so a new shared statement in portable SQL needs nothing here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from whistle.store import case_writes, facts, search

__all__ = ["OVERRIDES", "named", "pg"]

_RESPONSE_FROM_ASSIGNMENTS = (
    facts.RESPONSE_FROM_ASSIGNMENTS.replace(
        "responded_in_time = EXISTS (", "responded_in_time = (EXISTS ("
    )
    + ")::int"
)

# SQLite statement -> its PostgreSQL form (already in $n parameters).
OVERRIDES: dict[str, str] = {
    # The whistle's row with its 受理编号 also set in its document.
    case_writes.WHISTLE_INSERT_NUMBERED: (
        "INSERT INTO whistles (id, received_at, source, category, urgency, status, grid_code, "
        "grid_path, grid_level, external_id, idempotency_key, request_hash, doc, version, "
        "case_doc, camera_id, near, case_number) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
        "$10, $11, $12, jsonb_set($13::jsonb, '{case_number}', to_jsonb($18::text)), $14, $15, "
        "$16, $17, $18)"
    ),
    case_writes.DUPLICATE_LINK: (
        "UPDATE whistles SET doc = jsonb_set(doc, '{possible_duplicates}', "
        "coalesce(doc->'possible_duplicates', '[]'::jsonb) || jsonb_build_array($1::text)) "
        "WHERE id = $2 AND coalesce(jsonb_array_length(doc->'possible_duplicates'), 0) < 100"
    ),
    case_writes.INFORMED_INSERT: (
        "INSERT INTO informed (responder_id, received_at, whistle_id) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING"
    ),
    # A held whistle placed by hand (待定位): its old search row and who is informed.
    case_writes.PLACE_UNINDEX: "DELETE FROM whistle_search WHERE whistle_id = $1",
    case_writes.PLACE_INFORMED: (
        "INSERT INTO informed (responder_id, received_at, whistle_id) "
        "SELECT $1::text, received_at, id FROM whistles WHERE id = $2 ON CONFLICT DO NOTHING"
    ),
    # Search: a plain table with a trigram index in place of the FTS5 table.
    search.SEARCH_INSERT: "INSERT INTO whistle_search (whistle_id, body) VALUES ($2, $1)",
    # Parameters in a SELECT list and in CASE have no column to take their type from.
    facts.ASSIGNMENT_ADD: (
        "INSERT INTO assignment_facts (assignment_id, whistle_id, received_at, grid_path, "
        "responder_id, kind, mode, ack_due) SELECT $1::text, whistle_id, received_at, "
        "grid_path, $2::text, $3::text, $4::text, $5::float8 FROM case_facts WHERE whistle_id = $6"
    ),
    facts.CASE_UPDATE: (
        "UPDATE case_facts SET status = $1, due_at = $2, rework = $3, resolved_at = $4, "
        "rating = $5, rectify_due = $6, rectified_at = $7, "
        "first_ack_at = coalesce(first_ack_at, $8::float8), "
        "closed_at = CASE $9::int WHEN 1 THEN $10::float8 WHEN 2 THEN NULL ELSE closed_at END, "
        "on_time = CASE $11::int WHEN 1 THEN $12::int WHEN 2 THEN NULL ELSE on_time END, "
        # facts.RESPONSE_FROM_ASSIGNMENTS, with EXISTS as the int column it sets
        f"{_RESPONSE_FROM_ASSIGNMENTS} WHERE whistle_id = $13"
    ),
}

# A parameter: ?NNN, ?, or :name (not a :: cast); string literals are skipped whole.
_TOKEN = re.compile(r"'(?:[^']|'')*'|\?(\d+)|\?|(?<!:):([A-Za-z_]\w*)")


@functools.lru_cache(maxsize=512)
def _rewrite(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` with $n parameters, and the names of its :name parameters in $n order."""
    override = OVERRIDES.get(sql)
    if override is not None:
        return override, ()
    names: list[str] = []
    counter = [0]

    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        if text.startswith("'"):
            return text
        if match.group(1) is not None:
            return f"${int(match.group(1))}"
        if match.group(2) is not None:
            name = match.group(2)
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"
        counter[0] += 1
        return f"${counter[0]}"

    return _TOKEN.sub(replace, sql), tuple(names)


def pg(sql: str) -> str:
    """The PostgreSQL form of a statement with positional parameters."""
    return _rewrite(sql)[0]


def named(sql: str, params: Mapping[str, Any]) -> tuple[str, Sequence[Any]]:
    """The PostgreSQL form of a statement with ``:name`` parameters, and its arguments."""
    text, names = _rewrite(sql)
    return text, [params[n] for n in names]
