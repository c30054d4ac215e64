"""Reading numbers, instants and dates from untrusted text, within bounds.

Every number and time a client sends (a query parameter, a header, a JSON field) goes through
these before it is used, so that an extreme value is a 4xx naming the field instead of an
exception deep inside: Python's ``str.isdigit()`` accepts ``²`` that ``int()`` then refuses,
``int()`` reads 400 digits that no float or SQLite INTEGER can hold, and an aware datetime
of year 1 at ``+14:00`` (or 9999 at ``-14:00``) is valid until it is converted to UTC.

The bounds:

- a whole number is ASCII digits ``0-9`` only (no sign, no ``_``, no other script's digits),
  at most :data:`MAX_DIGITS` of them, and within the caller's ``lo``..``hi``;
- an instant has an offset and lies in ``[1970-01-01T00:00:00Z, 9000-01-01T00:00:00Z)``
  (:data:`EARLIEST`, :data:`LATEST`): nothing this system records happened before the Unix
  epoch, and 9000 leaves room for any deadline arithmetic on top (years, not millennia)
  without reaching ``datetime.max``;
- a calendar date lies in 1970-01-01 .. 8999-12-31, the same range.

Each function raises :class:`ValueError` whose message is the reason, for the caller to pair
with the field's name.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

__all__ = [
    "EARLIEST",
    "LATEST",
    "MAX_DIGITS",
    "RANGE",
    "bounded_date",
    "bounded_instant",
    "check_instant",
    "whole_number",
]

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)  # exclusive
_FIRST_DAY = EARLIEST.date()
_LAST_DAY = date(8999, 12, 31)

# Enough for any 64-bit number; a longer run of digits is refused before int() reads it.
MAX_DIGITS = 20

_ASCII_DIGITS = frozenset("0123456789")

# How the instants' range reads in messages and in the OpenAPI document.
RANGE = "between 1970-01-01T00:00:00Z and 9000-01-01T00:00:00Z"


def whole_number(text: str, *, lo: int, hi: int) -> int:
    """``text`` as a whole number from ``lo`` to ``hi`` (both included).

    Only ASCII digits count (``²``, ``٣``, ``+1``, ``1_0`` and ``-1`` are refused), at most
    :data:`MAX_DIGITS` of them. Raises ValueError with the reason.
    """
    if not text or not _ASCII_DIGITS.issuperset(text):
        raise ValueError("expected a whole number in ASCII digits (0-9)")
    if len(text) > MAX_DIGITS:  # far beyond any bound; int() need not read it
        raise ValueError(f"must be between {lo} and {hi}")
    value = int(text)
    if not lo <= value <= hi:
        raise ValueError(f"must be between {lo} and {hi}")
    return value


def check_instant(value: datetime) -> datetime:
    """``value`` itself when it is aware and within :data:`EARLIEST`..:data:`LATEST`.

    Raises ValueError otherwise. Converting to UTC is where an extreme offset overflows, so
    that is done here, once, and the overflow reported as out of range.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("needs an offset, e.g. +08:00 or Z")
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(f"out of range: must be {RANGE}") from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError(f"out of range: must be {RANGE}")
    return value


def bounded_instant(text: str) -> datetime:
    """An ISO 8601 / RFC 3339 date-time with an offset, within range (see :func:`check_instant`).

    Raises ValueError with the reason.
    """
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("expected an RFC 3339 date-time with an offset") from None
    if value.tzinfo is None:
        raise ValueError("expected an RFC 3339 date-time with an offset")
    return check_instant(value)


def bounded_date(text: str) -> date:
    """A calendar date ``YYYY-MM-DD`` from 1970-01-01 to 8999-12-31. Raises ValueError."""
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise ValueError("expected a date, YYYY-MM-DD") from None
    if not _FIRST_DAY <= value <= _LAST_DAY:
        raise ValueError(f"out of range: must be between {_FIRST_DAY} and {_LAST_DAY}")
    return value
