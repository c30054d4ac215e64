"""Durations as written in config files: wall time (``30m``) or working time (``4wh``, ``5wd``).

Working units only mean something against a :class:`~dispatch.calendar.WorkCalendar`, so a
Duration is kept symbolic and the calendar turns it into a deadline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

__all__ = ["MAX_DAYS", "Duration", "Unit"]


class Unit(StrEnum):
    """The unit suffix of a duration."""

    SECONDS = "s"
    MINUTES = "m"
    HOURS = "h"
    DAYS = "d"  # 24 hours of wall time, not a calendar or working day
    WORKING_HOURS = "wh"  # 工作时: only time inside working periods of working days counts
    WORKING_DAYS = "wd"  # 工作日: whole working days

    @property
    def is_working(self) -> bool:
        """True for the units that need a working calendar."""
        return self in (Unit.WORKING_HOURS, Unit.WORKING_DAYS)


_SECONDS = {Unit.SECONDS: 1, Unit.MINUTES: 60, Unit.HOURS: 3600, Unit.DAYS: 86400}

# The longest duration: ten years in its unit (working hours and days counted as wall hours
# and days). Nothing in the loop lasts longer, and the cap keeps a client's "99999999999d"
# from overflowing timedelta and "99999999999999wd" from walking the calendar for ever.
MAX_DAYS = 3650
MAX_AMOUNT = {
    Unit.SECONDS: MAX_DAYS * 86400,
    Unit.MINUTES: MAX_DAYS * 1440,
    Unit.HOURS: MAX_DAYS * 24,
    Unit.DAYS: MAX_DAYS,
    Unit.WORKING_HOURS: MAX_DAYS * 24,
    Unit.WORKING_DAYS: MAX_DAYS,
}

# Longest suffix first so that "4wh" is not read as "4w" + junk. ASCII digits only: \d would
# take other scripts' digits too.
_PATTERN = re.compile(r"([0-9]+)(wh|wd|s|m|h|d)")

FORMS = (
    "a whole number followed by s, m, h or d (wall time), wh (working hours) or "
    "wd (working days), e.g. 90s, 30m, 2h, 7d, 4wh, 5wd"
)


@dataclass(frozen=True, slots=True)
class Duration:
    """A positive whole number of one unit, e.g. ``Duration(30, Unit.MINUTES)``."""

    amount: int
    unit: Unit
    # Precomputed because routing asks for it on every decision.
    _delta: timedelta | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise ValueError(f"duration {self} must be positive")
        if self.amount > MAX_AMOUNT[self.unit]:
            longest = MAX_AMOUNT[self.unit]
            raise ValueError(f"duration {self} is too long: at most {longest}{self.unit.value}")
        if not self.unit.is_working:
            delta = timedelta(seconds=self.amount * _SECONDS[self.unit])
            object.__setattr__(self, "_delta", delta)

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Read ``90s``, ``30m``, ``2h``, ``7d``, ``4wh`` or ``5wd``.

        Raises ValueError naming the accepted forms.
        """
        match = _PATTERN.fullmatch(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"invalid duration {text!r}; expected {FORMS}")
        digits, unit = match.group(1), Unit(match.group(2))
        longest = MAX_AMOUNT[unit]
        # Compared as text first: a run of digits longer than the cap's need not be read.
        if len(digits) > len(str(longest)) or int(digits) > longest:
            raise ValueError(f"invalid duration {text!r}: too long, at most {longest}{unit.value}")
        if int(digits) == 0:
            raise ValueError(f"invalid duration {text!r}: must be positive")
        return cls(int(digits), unit)

    def __str__(self) -> str:
        return f"{self.amount}{self.unit.value}"

    def __repr__(self) -> str:
        return f"Duration({str(self)!r})"

    @property
    def is_working(self) -> bool:
        """True when the duration counts working time (``wh``/``wd``) and needs a calendar."""
        return self.unit.is_working

    def as_timedelta(self) -> timedelta:
        """The wall-time length; raises ValueError for working units, which need a calendar."""
        if self._delta is None:
            raise ValueError(
                f"duration {self} counts working time; use WorkCalendar.add() to apply it"
            )
        return self._delta
