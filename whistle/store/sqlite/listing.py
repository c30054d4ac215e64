"""The WHERE clauses and sort keys of ``list_whistles``: filters, the open queues, search.

Search itself (the FTS5 trigram table and its clause) is in whistle/store/search.py.
"""

from __future__ import annotations

from typing import Any

from whistle.store.base import WhistleQuery
from whistle.store.search import CLOSED_STATUSES, DUE_KEY
from whistle.store.sqlite._common import db_time

__all__ = ["COMMON_MATCHES", "DUE_KEY", "OPEN_STATUSES", "RETURNS_PENDING", "list_filters"]

# Cases with a return (退单) waiting for the dispatcher's decision (see whistle.cases).
RETURNS_PENDING = "json_array_length(case_doc, '$.returns_pending') > 0"
# Out of the open queues: merged into another case (cancelled), or done with.
CLOSED = CLOSED_STATUSES
OPEN_STATUSES = frozenset({"dispatched", "acknowledged", "in_progress", "resolved", "on_hold"})
# More matches than this and a search walks the list's own order (see CaseReads._common_search).
COMMON_MATCHES = 2_000


def list_filters(query: WhistleQuery) -> tuple[list[str], list[Any]]:
    """The WHERE clauses of ``list_whistles`` for the query's filters, with their parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    if query.status is not None:
        clauses.append("status = ?")
        params.append(query.status)
    if query.source is not None:
        clauses.append("source = ?")
        params.append(query.source)
    if query.category is not None:
        clauses.append("category >= ? AND category < ?")
        params += [query.category, query.category + "\U0010ffff"]
    if query.grid_path is not None:
        clauses.append("grid_path >= ? AND grid_path < ?")
        params += [query.grid_path, query.grid_path + "\U0010ffff"]
    if query.level is not None:
        clauses.append("grid_level = ?")
        params.append(query.level)
    if query.returns_pending:
        clauses.append(RETURNS_PENDING)
    if query.case_number is not None:
        clauses.append("case_number = ?")
        params.append(query.case_number)
    if query.since is not None:
        clauses.append("received_at >= ?")
        params.append(db_time(query.since))
    if query.until is not None:
        clauses.append("received_at < ?")
        params.append(db_time(query.until))
    if query.open_only:
        clauses.append(f"status NOT IN ({CLOSED})")
    return clauses, params
