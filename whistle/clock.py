"""Injected time. Everything that reads the time takes a Clock, so tests can drive it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

__all__ = ["Clock", "FakeClock", "OffsetClock", "SystemClock", "read_offset"]


class Clock(Protocol):
    """A source of aware UTC datetimes."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class FakeClock:
    """A clock that moves only when told to; for tests."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # a Monday, 09:00 in Shanghai
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move time forward (never back) and return the new time."""
        if delta < timedelta(0):
            raise ValueError("time does not go backwards")
        self._now += delta
        return self._now

    def set(self, when: datetime) -> None:
        if when < self._now:
            raise ValueError("time does not go backwards")
        self._now = when

    def __repr__(self) -> str:
        return f"FakeClock({self._now.isoformat()})"


class OffsetClock:
    """The wall clock moved forward by an offset that can only grow: a testing aid.

    ``whistle serve --clock-offset-file PATH`` (a hidden option) runs on this clock so that a
    test can move a real server process's time past its deadlines: it writes seconds to the
    file and sends SIGUSR1, and the server re-reads the file and wakes its scheduler. Without
    the option the server runs on SystemClock.
    """

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        if offset < timedelta(0):
            raise ValueError("time does not go backwards")
        self._offset = offset

    @property
    def offset(self) -> timedelta:
        return self._offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def move_to(self, offset: timedelta) -> bool:
        """Use ``offset`` from now on; False (and no change) when it would turn time back."""
        if offset < self._offset:
            return False
        self._offset = offset
        return True

    def __repr__(self) -> str:
        return f"OffsetClock(+{self._offset.total_seconds():g}s)"


def read_offset(path: Path) -> timedelta:
    """The offset in an offset file: seconds as a decimal number; a missing or empty file is 0.

    Raises ValueError for anything else, so a typo in a test cannot pass for "no offset".
    """
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return timedelta(0)
    return timedelta(seconds=float(text)) if text else timedelta(0)
