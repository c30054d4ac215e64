"""受理编号: the short case number a citizen reads aloud over the phone (``DX2612-0042``).

A number is two letters for the town (:func:`letters`), the month it was received in
(``YYMM``, in the deployment's time zone), a hyphen and the sequence of that prefix in that
month, four digits (five past 9,999): at most 12 characters.

The sequence lives in the database, not in a process: one row per prefix in
``case_numbers``, incremented by ``UPDATE ... RETURNING`` (:func:`allocate`) inside the very
transaction that writes the whistle. SQLite lets one writer at a time hold that transaction
(``BEGIN IMMEDIATE``), so two processes sharing one database file can never draw the same
number; a write that rolls back gives its number back with everything else, and a restart
continues from the stored row. A unique index on ``whistles.case_number`` is the last guard.

The store's writer calls :func:`allocate`; the intake only names the prefix
(:func:`prefix`).
"""

from __future__ import annotations

import re
import sqlite3
import zlib
from datetime import datetime, tzinfo

__all__ = ["CASE_NUMBER", "MAX_LENGTH", "allocate", "format_number", "letters", "prefix"]

MAX_LENGTH = 12
# Two letters, YYMM, a hyphen, 4-5 digits: what an operator may type to find a case.
CASE_NUMBER = re.compile(r"[A-Z]{2}\d{4}-\d{4,5}")

_ALLOCATE = (
    "INSERT INTO case_numbers (prefix, n) VALUES (?, 1) "
    "ON CONFLICT (prefix) DO UPDATE SET n = n + 1 RETURNING n"
)


def letters(code: str) -> str:
    """Two capital letters for a town (or the county) from its grid code: its last three
    digits (``530524101`` -> 101) in base 26, or a checksum of a code without digits.

    Stable as long as the code is. Two towns that happen to share letters share one
    sequence, so their numbers stay unique all the same."""
    digits = re.search(r"(\d{1,3})$", code)
    value = int(digits[1]) if digits else zlib.crc32(code.encode())
    value %= 26 * 26
    return chr(ord("A") + value // 26) + chr(ord("A") + value % 26)


def prefix(code: str, received_at: datetime, tz: tzinfo) -> str:
    """``DX2612-``: the letters of ``code`` and the month of ``received_at`` in ``tz``."""
    return f"{letters(code)}{received_at.astimezone(tz):%y%m}-"


def format_number(prefix_: str, n: int) -> str | None:
    """The case number of the ``n``-th whistle of ``prefix_``; None past the 12 characters
    (100,000 whistles of one town in one month): the whistle is kept, without a number."""
    number = f"{prefix_}{n:04d}"
    return number if len(number) <= MAX_LENGTH else None


def allocate(db: sqlite3.Connection, prefix_: str) -> str | None:
    """Draw the next number of ``prefix_``, inside the caller's open write transaction."""
    row = db.execute(_ALLOCATE, (prefix_,)).fetchone()
    return format_number(prefix_, int(row[0]))
