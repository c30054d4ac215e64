"""The 受理编号 (a case's short number) as pages show it.

The citizen branch gives every whistle document a ``case_number`` (``TY2612-0042``); until it
has one, pages show a short form of the id instead of the 26-character ULID.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["case_number", "short_id"]


def short_id(whistle_id: str) -> str:
    """The last eight characters of a ULID: its random part, distinct enough to read out."""
    return whistle_id[-8:]


def case_number(doc: Mapping[str, Any] | None, whistle_id: str) -> str:
    """``doc["case_number"]`` when the document has one, else :func:`short_id`."""
    number = None if doc is None else doc.get("case_number")
    return str(number) if number else short_id(whistle_id)
