"""The differences between the SQL of the two backends that the shared statistics SQL needs,
named in one place: the statistics (whistle/store/facts.py, whistle/store/stats_plan.py) are
written once and take a :class:`Dialect`.

Everything else those statements use is SQL both understand (``count(*) FILTER``, window
functions, ``coalesce``, ``CASE``); scalar ``min``/``max``, ``total``, ``instr`` and
``INDEXED BY`` are SQLite's alone and are either avoided or spelled here. PostgreSQL's own
rewriting of the write statements (parameters, JSON functions) is
whistle/store/postgres/dialect.py.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["POSTGRES", "SQLITE", "Dialect"]


@dataclass(frozen=True, slots=True)
class Dialect:
    """One backend's spelling of what differs."""

    name: str
    # The 1-based position of a substring: instr(text, part) / strpos(text, part).
    position_function: str
    # Whether the planner takes index hints (SQLite's INDEXED BY); PostgreSQL has none and
    # chooses from statistics.
    index_hints: bool

    def position(self, text: str, part: str) -> str:
        """The 1-based position of ``part`` in ``text`` (0 when absent)."""
        return f"{self.position_function}({text}, {part})"

    def indexed_by(self, index: str) -> str:
        """The hint to read a table through ``index``, or nothing where there are no hints."""
        return f"INDEXED BY {index}" if self.index_hints else ""


SQLITE = Dialect("sqlite", "instr", index_hints=True)
POSTGRES = Dialect("postgresql", "strpos", index_hints=False)
