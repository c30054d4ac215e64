"""How times look: on the wire RFC 3339 with the county's offset, to the millisecond; on a
page one form, ``2026-12-03 10:32`` in the county's time (the page scripts write the same)."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import overload

__all__ = ["display", "display_time", "rfc3339"]


@overload
def rfc3339(when: datetime, tz: tzinfo) -> str: ...
@overload
def rfc3339(when: datetime | None, tz: tzinfo) -> str | None: ...
def rfc3339(when: datetime | None, tz: tzinfo) -> str | None:
    """``2026-11-21T22:09:16.123+08:00``; None stays None."""
    if when is None:
        return None
    return when.astimezone(tz).isoformat(timespec="milliseconds")


def display(when: datetime | None, tz: tzinfo) -> str:
    """``2026-12-03 10:32`` in ``tz``: the one date-time form pages show; None is ""."""
    if when is None:
        return ""
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def display_time(when: datetime, tz: tzinfo) -> str:
    """``10:32`` in ``tz``: the time of day, for lines under a date already shown."""
    return when.astimezone(tz).strftime("%H:%M")
