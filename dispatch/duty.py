"""The duty roster (值班表) behind the A/B posts (AB岗): who is on duty when.

``duty.csv`` in the config directory is optional. Without it everyone is always on duty. With
it, a responder that has at least one row is on duty only inside its shifts; a responder
without rows is always on duty. When the A post (the responder) is off duty, a case goes
straight to the B post (the responder's ``backup``); when that one is off duty too, to the
duty person of the level on the rota (值班员, 值班民警: rules.toml ``[kind.<kind>].duty``).

Columns ``responder,days,start,end``, one row per shift:

``days``
    ``;``-separated weekdays ``mon;tue;wed;thu;fri;sat;sun``, or one of the words ``workdays``
    (working days of the :class:`~dispatch.calendar.WorkCalendar`, so public holidays are off
    and make-up workdays 调休上班 are on) or ``daily``. Weekday names ignore the calendar: a
    ``sat`` shift is worked on every Saturday, holiday or not.
``start``, ``end``
    Local ``HH:MM`` times in the calendar's timezone, half-open ``[start, end)``. An ``end``
    before ``start`` is a night shift that ends the next day (``22:00``-``06:00``); ``24:00``
    is allowed as an end, so ``00:00``-``24:00`` is the whole day. A night shift belongs to the
    day it starts: ``fri 22:00-06:00`` covers Saturday 00:00-06:00.

Validation collects every problem (file, line, responder id) before failing, like the grid
loader does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from dispatch.calendar import WorkCalendar
from dispatch.exceptions import DutyConfigError
from grids.configcsv import ConfigCsv
from grids.hierarchy import Hierarchy

__all__ = ["DAILY", "DAYS", "DUTY_FILE", "DUTY_HEADER", "WORKDAYS", "DutyRoster", "Shift"]

DUTY_FILE = "duty.csv"
DUTY_HEADER = ("responder", "days", "start", "end")

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index is date.weekday()
WORKDAYS = "workdays"
DAILY = "daily"

_MINUTES_PER_DAY = 24 * 60
_SECONDS_PER_DAY = _MINUTES_PER_DAY * 60
_TIME = re.compile(r"(\d{1,2}):(\d{2})")
_DAY_WORDS = f"{', '.join(DAYS)}, {WORKDAYS} or {DAILY}"
_ONE_DAY = timedelta(days=1)
_Report = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Shift:
    """One row of ``duty.csv``: the days it is worked and its local start and end.

    ``days`` is either ``("workdays",)``, ``("daily",)`` or weekday names in week order
    (``("mon", "wed")``). ``start`` and ``end`` are minutes after local midnight, ``end`` up to
    1440 (24:00); ``end <= start`` means the shift ends the next day. ``line`` is the file line
    it came from, for messages.
    """

    days: tuple[str, ...]
    start: int
    end: int
    line: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        # Programmer errors only: the loader reports bad rows before building a Shift.
        assert 0 <= self.start < _MINUTES_PER_DAY, self.start
        assert 0 <= self.end <= _MINUTES_PER_DAY, self.end
        assert self.start != self.end, "zero-length shift"

    @property
    def overnight(self) -> bool:
        """True for a night shift that ends on the day after it starts."""
        return self.end <= self.start

    @property
    def length(self) -> timedelta:
        """How long the shift lasts (8 h for 22:00-06:00)."""
        minutes = self.end - self.start
        return timedelta(minutes=minutes + _MINUTES_PER_DAY if minutes <= 0 else minutes)

    def __str__(self) -> str:
        return f"{';'.join(self.days)} {_clock(self.start)}-{_clock(self.end)}"

    def __repr__(self) -> str:
        return f"Shift({str(self)!r})"


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A shift reduced to what ``on_duty`` needs, in seconds so no division happens per call."""

    weekdays: frozenset[int]  # for weekday names and ``daily``; empty for ``workdays``
    workdays: bool
    start: int  # seconds after local midnight
    end: int  # seconds after local midnight of the start day; > start, up to two days

    @classmethod
    def of(cls, shift: Shift) -> _Compiled:
        end = shift.end + (_MINUTES_PER_DAY if shift.overnight else 0)
        if shift.days == (WORKDAYS,):
            weekdays: frozenset[int] = frozenset()
        elif shift.days == (DAILY,):
            weekdays = frozenset(range(7))
        else:
            weekdays = frozenset(DAYS.index(day) for day in shift.days)
        return cls(weekdays, shift.days == (WORKDAYS,), shift.start * 60, end * 60)

    def worked(self, day: date, calendar: WorkCalendar) -> bool:
        """True when the shift is worked on the (local) ``day`` it would start on."""
        if self.workdays:
            return calendar.is_working_day(day)
        return day.weekday() in self.weekdays


class DutyRoster:
    """Shifts per responder, and whether a responder is on duty at an instant.

    Build with :meth:`load` or :meth:`always`. Read-only after construction; ``on_duty`` is a
    dict lookup plus a few comparisons per shift, cheap enough for every routing decision.
    """

    def __init__(self, shifts: dict[str, tuple[Shift, ...]], calendar: WorkCalendar | None) -> None:
        if calendar is None and any(shifts.values()):
            raise ValueError("a duty roster with shifts needs a calendar for its days")
        self._shifts = shifts
        self._calendar = calendar
        self._compiled = {
            rid: tuple(_Compiled.of(shift) for shift in rows) for rid, rows in shifts.items()
        }

    @classmethod
    def always(cls) -> DutyRoster:
        """An empty roster: everyone is always on duty (no ``duty.csv``)."""
        return cls({}, None)

    @classmethod
    def from_shifts(cls, shifts: dict[str, Sequence[Shift]], calendar: WorkCalendar) -> DutyRoster:
        """A roster from already validated shifts per responder id (tests, tools)."""
        return cls({rid: tuple(rows) for rid, rows in shifts.items() if rows}, calendar)

    @classmethod
    def load(cls, config_dir: Path, hierarchy: Hierarchy, calendar: WorkCalendar) -> DutyRoster:
        """Read ``duty.csv`` from ``config_dir``; an absent file gives :meth:`always`.

        Responder ids are checked against ``hierarchy``. Raises DutyConfigError (a
        DispatchConfigError) listing every problem, in file order.
        """
        path = config_dir / DUTY_FILE
        if not path.exists():
            return cls.always()
        sheet = ConfigCsv.read(path, DUTY_HEADER)
        shifts: dict[str, list[Shift]] = {}
        # Not keyed: a responder has one row per shift.
        for line, fields in sheet.rows or ():
            parsed = _parse_row(sheet, line, fields, hierarchy)
            if parsed is not None:
                shifts.setdefault(parsed[0], []).append(parsed[1])
        sheet.raise_problems(DutyConfigError)
        return cls({rid: tuple(rows) for rid, rows in shifts.items()}, calendar)

    # -- queries -------------------------------------------------------------------------

    def on_duty(self, responder_id: str, at: datetime) -> bool:
        """True when ``responder_id`` is on duty at the aware instant ``at``.

        A responder without shifts (or unknown here) is always on duty. Raises ValueError when
        ``at`` is naive.
        """
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"at must be timezone-aware, got naive {at.isoformat()}")
        compiled = self._compiled.get(responder_id)
        if compiled is None:
            return True
        calendar = self._calendar
        assert calendar is not None  # only load() and from_shifts() give shifts, with a calendar
        local = at.astimezone(calendar.timezone)
        today = local.date()
        second = local.hour * 3600 + local.minute * 60 + local.second
        for shift in compiled:
            # Started today, or a night shift that started yesterday and runs past midnight.
            if shift.start <= second < shift.end and shift.worked(today, calendar):
                return True
            if second + _SECONDS_PER_DAY < shift.end and shift.worked(today - _ONE_DAY, calendar):
                return True
        return False

    def shifts(self, responder_id: str) -> tuple[Shift, ...]:
        """The shifts of ``responder_id`` in file order; empty means always on duty."""
        return self._shifts.get(responder_id, ())

    def responders(self) -> Iterable[str]:
        """Ids of the responders that have shifts, in file order."""
        return self._shifts.keys()

    def __len__(self) -> int:
        """The number of responders with shifts (not the number of shifts)."""
        return len(self._shifts)

    def __repr__(self) -> str:
        count = sum(len(rows) for rows in self._shifts.values())
        return f"DutyRoster(responders={len(self._shifts)}, shifts={count})"


# -- duty.csv ------------------------------------------------------------------------------


def _parse_row(
    sheet: ConfigCsv, line: int, fields: list[str], hierarchy: Hierarchy
) -> tuple[str, Shift] | None:
    """A row's responder id and shift, or None after recording every problem in it."""
    rid, days_text, start_text, end_text = fields
    ok = True

    def report(message: str) -> None:
        nonlocal ok
        sheet.problem(line, rid or None, message)
        ok = False

    if not rid:
        report("empty responder")
    elif hierarchy.responder(rid) is None:
        report(f"unknown responder {rid}: no responder in responders.csv has this id")
    days = _parse_days(days_text, report)
    start = _parse_time(start_text, "start", report, allow_24=False)
    end = _parse_time(end_text, "end", report, allow_24=True)
    if start is not None and end is not None and start == end:
        report(f"zero-length shift {start_text}-{end_text}; write 00:00-24:00 for the whole day")
    if not ok or days is None or start is None or end is None:
        return None
    return rid, Shift(days, start, end, line)


def _parse_days(text: str, report: _Report) -> tuple[str, ...] | None:
    # A stray ';' (a trailing one, 'mon;;tue') is harmless, as in the roster's categories.
    words = [word for word in (w.strip().lower() for w in text.split(";")) if word]
    if not words:
        report(f"empty days; expected {_DAY_WORDS}")
        return None
    if len(words) == 1 and words[0] in (WORKDAYS, DAILY):
        return (words[0],)
    unknown = [word for word in words if word not in DAYS]
    if unknown:
        for word in unknown:
            if word in (WORKDAYS, DAILY):
                report(f"days {text!r}: {word} cannot be combined with other days")
            else:
                report(f"unknown day {word!r} in days {text!r}; expected {_DAY_WORDS}")
        return None
    # Week order whatever the file's order, and each day once: 'fri;mon;mon' is 'mon;fri'.
    return tuple(day for day in DAYS if day in words)


def _parse_time(text: str, column: str, report: _Report, *, allow_24: bool) -> int | None:
    match = _TIME.fullmatch(text)
    if match is not None:
        hours, minutes = int(match[1]), int(match[2])
        if minutes < 60 and (hours < 24 or (allow_24 and hours == 24 and minutes == 0)):
            return hours * 60 + minutes
    latest = "24:00" if allow_24 else "23:59"
    report(f"bad {column} time {text!r}; expected HH:MM from 00:00 to {latest}")
    return None


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
