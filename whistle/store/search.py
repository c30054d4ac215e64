"""Search over the queue (issue 17): one FTS5 table with the trigram tokenizer.

Operators search as they type, in Chinese, for a word of a description (``堆放``), a reporter,
a place (a micro-grid, grid or community name), a category name or the 受理编号. Chinese has
no spaces, so a word tokenizer finds nothing inside a sentence; the trigram tokenizer indexes
every three characters and answers any substring of three or more from the index. PostgreSQL's
pg_trgm does the same for the later backend.

``whistle_search`` holds one row per whistle under the whistle's own rowid, with ``body``, the
searchable text: a match is then a rowid read from the index alone, never a row of the table
(an id column would be read from the table's content for every match). The row is written by
the same ``executemany`` batch as the whistle's own row, after it (``search_statement``), so it
commits with it or not at all. Nothing it indexes changes
after intake (a reassignment keeps the place; a merge keeps the text), so there is no update.

A query of one or two characters has no trigram: it is answered by ``LIKE`` over the same
``body``, probed row by row (by rowid) as the list walks the whistles in its order, so a common
word fills a page after a few thousand probes; a rare one scans the table (see docs/search.md).

The open queue by time left has its own index (``whistles_open_by_due``): the console's
default list reads the first page in order instead of sorting the subtree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "CLOSED_STATUSES",
    "DUE_KEY",
    "MIGRATION",
    "SEARCH_INSERT",
    "TRIGRAM",
    "match_expression",
    "search_clause",
    "search_statement",
    "search_text",
]

# The trigram tokenizer indexes runs of three characters: shorter queries cannot use it.
TRIGRAM = 3

# Place names are indexed from the community down: a town's or the county's name would match
# every case under it.
_PLACE_LEVELS = frozenset({"community", "grid", "micro_grid"})

# Parameters: the text, then the whistle's id (its row is written first, in the same batch).
SEARCH_INSERT = (
    "INSERT INTO whistle_search (rowid, body) SELECT rowid, ? FROM whistles WHERE id = ?"
)

# The queue's sort key by time left, and the statuses out of the open queues: the store's list
# query spells them exactly so, which lets SQLite use the partial index below.
DUE_KEY = "coalesce(json_extract(case_doc, '$.next_due.at'), '~')"
CLOSED_STATUSES = "'cancelled', 'closed', 'rated', 'verified'"

# Migration 14: the table, and every stored whistle indexed from its document (the same
# fields as ``search_text``, in SQL).
MIGRATION: list[str] = [
    "CREATE VIRTUAL TABLE whistle_search USING fts5(body, tokenize = 'trigram')",
    """INSERT INTO whistle_search (rowid, body)
    SELECT w.rowid,
        coalesce(json_extract(w.doc, '$.case_number'), substr(w.id, -8))
        || ' ' || coalesce(json_extract(w.doc, '$.description'), '')
        || ' ' || coalesce(json_extract(w.doc, '$.reporter'), '')
        || ' ' || coalesce(json_extract(w.doc, '$.category.name'), '')
        || ' ' || coalesce((SELECT group_concat(json_extract(p.value, '$.name'), ' ')
            FROM json_each(w.doc, '$.grid.path') p
            WHERE json_extract(p.value, '$.level') IN ('community', 'grid', 'micro_grid')), '')
    FROM whistles w""",
    # Covering the filters the console combines with it: they are checked in the index.
    f"CREATE INDEX whistles_open_by_due ON whistles ({DUE_KEY}, id, grid_path, category, "
    f"source) WHERE status NOT IN ({CLOSED_STATUSES})",
]


def search_text(doc: Mapping[str, Any]) -> str:
    """The searchable text of a whistle document: 受理编号 (until there is one, the last eight
    characters of the id, as the queue shows it), description, reporter, category name and the
    names of its place."""
    category = doc.get("category")
    # Intake stores the category as {code, name}; a bare code (older or test documents) has
    # no name to search by.
    category_name = category.get("name") if isinstance(category, Mapping) else None
    places = [
        str(p.get("name") or "")
        for p in (doc.get("grid") or {}).get("path") or ()
        if p.get("level") in _PLACE_LEVELS
    ]
    # The number the queue shows: a whole id would add two dozen trigrams found in no other
    # row to the index, for every whistle, to match what nobody types.
    parts = [
        doc.get("case_number") or str(doc.get("id") or "")[-8:],
        doc.get("description"),
        doc.get("reporter"),
        category_name,
        *places,
    ]
    return " ".join(str(p) for p in parts if p)


def search_statement(doc: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """The statement that indexes a new whistle, for its write batch."""
    return SEARCH_INSERT, (search_text(doc), doc["id"])


def match_expression(text: str) -> str | None:
    """The FTS5 query for the words of three or more characters (each an FTS5 string, quotes
    doubled, so that its characters are never operators), or None when there is none."""
    # A NUL ends an FTS5 string early ("unterminated string"): it separates words here.
    long = [w for w in text.replace("\x00", " ").split() if len(w) >= TRIGRAM]
    if not long:
        return None
    return " AND ".join('"' + w.replace('"', '""') + '"' for w in long)


def search_clause(text: str, *, in_order: bool = False) -> tuple[str, list[Any]]:
    """A WHERE clause on ``whistles`` for the whistles whose text contains ``text``, with its
    parameters. Each blank-separated word must occur (AND).

    ``in_order`` (the words match many whistles): the list walks its own order (newest
    first, or by time left) and checks each row's rowid against the matches, stopping at a
    page; otherwise SQLite fetches each match by rowid and sorts them, the fast way for a rare
    word. The ``+`` keeps SQLite from using the rowid to look the matches up.
    """
    clauses: list[str] = []
    params: list[Any] = []
    match = match_expression(text)
    if match is not None:
        rowid = "+whistles.rowid" if in_order else "whistles.rowid"
        clauses.append(f"{rowid} IN (SELECT rowid FROM whistle_search WHERE body MATCH ?)")
        params.append(match)
    for word in (w for w in text.replace("\x00", " ").split() if len(w) < TRIGRAM):
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append(
            "EXISTS (SELECT 1 FROM whistle_search s WHERE s.rowid = whistles.rowid "
            "AND s.body LIKE ? ESCAPE '\\')"
        )
        params.append(f"%{escaped}%")
    if not clauses:
        return "1", []
    return " AND ".join(clauses), params
