"""Search over the queue (issue 17): one FTS5 table with the trigram tokenizer.

Operators search as they type, in Chinese, for a word of a description (``堆放``), a reporter,
a place (a micro-grid, grid or community name), a category name or the 受理编号. Chinese has
no spaces, so a word tokenizer finds nothing inside a sentence; the trigram tokenizer indexes
every three characters and answers any substring of three or more from the index. PostgreSQL's
pg_trgm does the same for the later backend.

``whistle_search`` holds one row per whistle: its id (not indexed, the join key) and ``body``,
the searchable text. The row is written by the same ``executemany`` batch as the whistle's own
row (``search_statement``), so it commits with it or not at all. Nothing it indexes changes
after intake (a reassignment keeps the place; a merge keeps the text), so there is no update.

A query of one or two characters has no trigram: it is answered by ``LIKE`` over the same
``body`` column, a scan of the search table rather than an index lookup (slower at a
county-year, still one table; see docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "MIGRATION",
    "SEARCH_INSERT",
    "TRIGRAM",
    "search_clause",
    "search_statement",
    "search_text",
]

# The trigram tokenizer indexes runs of three characters: shorter queries cannot use it.
TRIGRAM = 3

# Place names are indexed from the community down: a town's or the county's name would match
# every case under it.
_PLACE_LEVELS = frozenset({"community", "grid", "micro_grid"})

SEARCH_INSERT = "INSERT INTO whistle_search (id, body) VALUES (?, ?)"

# Migration 14: the table, and every stored whistle indexed from its document (the same
# fields as ``search_text``, in SQL).
MIGRATION: list[str] = [
    "CREATE VIRTUAL TABLE whistle_search USING fts5(id UNINDEXED, body, tokenize = 'trigram')",
    """INSERT INTO whistle_search (id, body)
    SELECT w.id,
        coalesce(json_extract(w.doc, '$.case_number'), w.id)
        || ' ' || coalesce(json_extract(w.doc, '$.description'), '')
        || ' ' || coalesce(json_extract(w.doc, '$.reporter'), '')
        || ' ' || coalesce(json_extract(w.doc, '$.category.name'), '')
        || ' ' || coalesce(json_extract(w.doc, '$.category.name_en'), '')
        || ' ' || coalesce((SELECT group_concat(json_extract(p.value, '$.name'), ' ')
            FROM json_each(w.doc, '$.grid.path') p
            WHERE json_extract(p.value, '$.level') IN ('community', 'grid', 'micro_grid')), '')
    FROM whistles w""",
]


def search_text(doc: Mapping[str, Any]) -> str:
    """The searchable text of a whistle document: 受理编号 (or the id until there is one),
    description, reporter, category name and the names of its place."""
    category = doc.get("category") or {}
    places = [
        str(p.get("name") or "")
        for p in (doc.get("grid") or {}).get("path") or ()
        if p.get("level") in _PLACE_LEVELS
    ]
    parts = [
        doc.get("case_number") or doc.get("id"),
        doc.get("description"),
        doc.get("reporter"),
        category.get("name"),
        category.get("name_en"),
        *places,
    ]
    return " ".join(str(p) for p in parts if p)


def search_statement(doc: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """The statement that indexes a new whistle, for its write batch."""
    return SEARCH_INSERT, (doc["id"], search_text(doc))


def search_clause(text: str) -> tuple[str, list[Any]]:
    """A WHERE clause on ``whistles`` (``id IN ...``) for the whistles whose text contains
    ``text``, with its parameters. Each blank-separated word must occur (AND)."""
    words = [w for w in text.split() if w]
    clauses: list[str] = []
    params: list[Any] = []
    long = [w for w in words if len(w) >= TRIGRAM]
    short = [w for w in words if len(w) < TRIGRAM]
    if long:
        # Each word as an FTS5 string (quotes doubled): its characters are never operators.
        clauses.append("body MATCH ?")
        params.append(" AND ".join('"' + w.replace('"', '""') + '"' for w in long))
    for word in short:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append("body LIKE ? ESCAPE '\\'")
        params.append(f"%{escaped}%")
    if not clauses:
        return "1", []
    return f"id IN (SELECT id FROM whistle_search WHERE {' AND '.join(clauses)})", params
