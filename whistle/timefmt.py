"""How times look on the wire: RFC 3339 with the county's offset, to the millisecond."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import overload

__all__ = ["rfc3339"]


@overload
def rfc3339(when: datetime, tz: tzinfo) -> str: ...
@overload
def rfc3339(when: datetime | None, tz: tzinfo) -> str | None: ...
def rfc3339(when: datetime | None, tz: tzinfo) -> str | None:
    """``2026-11-21T22:09:16.123+08:00``; None stays None."""
    if when is None:
        return None
    return when.astimezone(tz).isoformat(timespec="milliseconds")
