"""The working calendar: working periods, weekends, public holidays and make-up workdays.

Deadlines in working hours (``4wh``, 工作时) and working days (``5wd``, 工作日) are computed
here, in the calendar's own timezone. Times of day are local wall-clock times; the shipped
zone, Asia/Shanghai, has no daylight saving, so wall-clock and elapsed time agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dispatch._toml import Issues, Table, parse_toml, read_toml
from dispatch.durations import Duration, Unit
from dispatch.exceptions import CalendarEndError

__all__ = ["Holiday", "WorkCalendar"]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_PERIOD = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")
_ONE_DAY = timedelta(days=1)
_TICK = timedelta(microseconds=1)
_REMEMBERED = 4096  # (day, count) answers kept by one calendar


@dataclass(frozen=True, slots=True)
class Holiday:
    """One public holiday as announced: the days off and the make-up workdays (调休上班)."""

    name: str
    first: date
    last: date
    workdays: tuple[date, ...] = ()

    def days_off(self) -> list[date]:
        """Every date from ``first`` to ``last`` inclusive."""
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]


@dataclass(frozen=True)
class WorkCalendar:
    """Working periods of working days in one timezone.

    A date is a working day when it is a make-up workday, or else when it is neither a
    holiday nor a weekend day. Every working day has the same ``periods`` (half-open
    ``[start, end)`` local times, in order, not overlapping).
    """

    timezone: ZoneInfo
    periods: tuple[tuple[time, time], ...]
    weekend: frozenset[int] = frozenset({5, 6})  # date.weekday(): Monday is 0
    holidays: tuple[Holiday, ...] = ()
    # The last day whose holidays are known (31 December of the last year listed); None:
    # no holidays listed, weekends only, no end. ``extrapolated()`` lifts it.
    end: date | None = None
    _off: frozenset[date] = field(init=False, repr=False, compare=False)
    _on: frozenset[date] = field(init=False, repr=False, compare=False)
    _per_day: timedelta = field(init=False, repr=False, compare=False)
    # (day, n) -> the nth working day after it: every whistle of a day asks the same few
    # (issue 21), and each answer is a walk over the days in between.
    _after: dict[tuple[date, int], date] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The loops in add() terminate only if some working day always lies ahead.
        if not self.periods:
            raise ValueError("a work calendar needs at least one working period")
        if len(self.weekend) >= 7:
            raise ValueError("a work calendar needs at least one working weekday")
        off = {day for holiday in self.holidays for day in holiday.days_off()}
        on = {day for holiday in self.holidays for day in holiday.workdays}
        object.__setattr__(self, "_off", frozenset(off))
        object.__setattr__(self, "_on", frozenset(on))
        per_day = sum((_span(start, end) for start, end in self.periods), timedelta())
        object.__setattr__(self, "_per_day", per_day)
        object.__setattr__(self, "_after", {})

    @classmethod
    def ending_with_holidays(cls, **kwargs: Any) -> WorkCalendar:
        """A calendar whose ``end`` is 31 December of the last year it lists holidays for."""
        holidays: tuple[Holiday, ...] = kwargs.get("holidays", ())
        years = [d.year for h in holidays for d in (h.first, h.last, *h.workdays)]
        end = date(max(years), 12, 31) if years else None
        return cls(**kwargs, end=end)

    def extrapolated(self) -> WorkCalendar:
        """This calendar without its end: past it, only weekends are days off (a last resort
        that keeps a case moving when the holidays of a year were never added)."""
        return WorkCalendar(
            timezone=self.timezone,
            periods=self.periods,
            weekend=self.weekend,
            holidays=self.holidays,
        )

    def days_left(self, today: date) -> int | None:
        """Days from ``today`` to the calendar's end (None: it has none)."""
        return None if self.end is None else (self.end - today).days

    # -- loading -------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path) -> WorkCalendar:
        """Read and validate ``calendar.toml``; raises DispatchConfigError listing problems."""
        issues = Issues(path.name)
        data = read_toml(path, issues)
        calendar = None if data is None else calendar_from_data(data, issues)
        issues.raise_if_any()
        assert calendar is not None
        return calendar

    @classmethod
    def from_toml(cls, text: str, *, file: str = "calendar.toml") -> WorkCalendar:
        """Like :meth:`load`, from the text of a file called ``file`` (for messages)."""
        issues = Issues(file)
        data = parse_toml(text, issues)
        calendar = None if data is None else calendar_from_data(data, issues)
        issues.raise_if_any()
        assert calendar is not None
        return calendar

    # -- days ----------------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        """True for make-up workdays, and for other days that are neither holidays nor weekend."""
        if day in self._on:
            return True
        return day not in self._off and day.weekday() not in self.weekend

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        day += _ONE_DAY
        while not self.is_working_day(day):
            day += _ONE_DAY
        return day

    def previous_working_day(self, day: date) -> date:
        """The last working day strictly before ``day``."""
        day -= _ONE_DAY
        while not self.is_working_day(day):
            day -= _ONE_DAY
        return day

    def is_working_time(self, instant: datetime) -> bool:
        """True when ``instant`` (aware) falls inside a working period of a working day."""
        local = self._local(instant)
        if not self.is_working_day(local.date()):
            return False
        now = local.time()
        return any(start <= now < end for start, end in self.periods)

    @property
    def hours_per_day(self) -> timedelta:
        """The working time in one working day (6.5 h for 08:30-12:00 and 14:30-17:30)."""
        return self._per_day

    # -- deadlines -----------------------------------------------------------------------

    def add(self, start: datetime, duration: Duration) -> datetime:
        """The deadline ``duration`` after ``start``, aware in this calendar's timezone.

        - Wall units (s, m, h, d) add elapsed time, working or not.
        - ``wh`` counts only time inside working periods of working days. A deadline that
          lands exactly on the end of a period is that end (17:30), not the next opening.
        - ``wd`` gives the same local time of day on the Nth following working day. A start
          outside working time first snaps back to the close of the preceding working period
          (Friday 20:00 and Saturday count as Friday 17:30; 13:00 counts as 12:00): no work can
          be done between that close and the next opening, so the two are the same in working
          time, and a deadline at close of business (Monday 17:30) reads better than one at
          the next opening (Tuesday 08:30).

        Raises ValueError when ``start`` is naive, and CalendarEndError when a working-time
        deadline falls past the calendar's ``end``.
        """
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError(f"start must be timezone-aware, got naive {start.isoformat()}")
        unit = duration.unit
        if unit is Unit.WORKING_HOURS:
            local = self._add_working_time(self._local(start), timedelta(hours=duration.amount))
        elif unit is Unit.WORKING_DAYS:
            local = self._add_working_days(self._local(start), duration.amount)
        else:
            # Through UTC, so that "2h" is two elapsed hours even across a DST change.
            return (start.astimezone(UTC) + duration.as_timedelta()).astimezone(self.timezone)
        return self._checked(local)

    def add_working(self, start: datetime, amount: timedelta) -> datetime:
        """The instant ``amount`` of working time after ``start`` (aware); ``start`` itself
        when ``amount`` is zero or less (no snapping to the next opening)."""
        if amount <= timedelta(0):
            return start.astimezone(self.timezone)
        return self._checked(self._add_working_time(self._local(start), amount))

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """The working time inside ``[start, end)`` (zero when ``end`` is not after it)."""
        first, last = self._local(start), self._local(end)
        total = timedelta()
        day = first.date()
        while day <= last.date():
            if self.is_working_day(day):
                for open_, close in self.periods:
                    begin = max(first, datetime.combine(day, open_))
                    finish = min(last, datetime.combine(day, close))
                    if finish > begin:
                        total += finish - begin
            day += _ONE_DAY
        return total

    def _checked(self, local: datetime) -> datetime:
        due = local.replace(tzinfo=self.timezone)
        if self.end is not None and local.date() > self.end:
            raise CalendarEndError(self.end, due)
        return due

    def _local(self, instant: datetime) -> datetime:
        """Naive local wall-clock time of an aware instant."""
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError(f"instant must be timezone-aware, got naive {instant.isoformat()}")
        return instant.astimezone(self.timezone).replace(tzinfo=None)

    def _add_working_time(self, cursor: datetime, remaining: timedelta) -> datetime:
        day = cursor.date()
        # What is left of the start's own day, if it is a working day.
        if self.is_working_day(day):
            for start, end in self.periods:
                begin = datetime.combine(day, start)
                if cursor > begin:
                    begin = cursor
                finish = datetime.combine(day, end)
                if begin >= finish:
                    continue
                if remaining <= finish - begin:
                    return begin + remaining
                remaining -= finish - begin
        # Then whole working days (the lookup is cached), and the rest inside the last one:
        # a deadline that uses up a day exactly ends at its close, not the next opening.
        per_day = self._per_day
        whole = max(0, (remaining - _TICK) // per_day)
        day = self._working_day_after(day, whole + 1)
        remaining -= whole * per_day
        for start, end in self.periods:
            span = _span(start, end)
            if remaining <= span:
                return datetime.combine(day, start) + remaining
            remaining -= span
        raise AssertionError("a working day holds hours_per_day")  # pragma: no cover

    def _add_working_days(self, local: datetime, count: int) -> datetime:
        anchor = self._snap_back(local)
        day = anchor.date()
        if count > 0:
            day = self._working_day_after(day, count)
        return datetime.combine(day, anchor.time())

    def _working_day_after(self, day: date, count: int) -> date:
        """The ``count``-th (≥ 1) working day strictly after ``day``, remembered."""
        key = (day, count)
        found = self._after.get(key)
        if found is None:
            found = day
            for _ in range(count):
                found = self.next_working_day(found)
            if len(self._after) >= _REMEMBERED:
                self._after.clear()
            self._after[key] = found
        return found

    def _snap_back(self, local: datetime) -> datetime:
        """``local`` if it is working time, else the close of the preceding working period."""
        day, now = local.date(), local.time()
        if self.is_working_day(day) and now >= self.periods[0][0]:
            latest_end = self.periods[0][0]
            for start, end in self.periods:
                if start <= now < end:
                    return local
                if end <= now:
                    latest_end = end
            return datetime.combine(day, latest_end)
        return datetime.combine(self.previous_working_day(day), self.periods[-1][1])


def _span(start: time, end: time) -> timedelta:
    return datetime.combine(date.min, end) - datetime.combine(date.min, start)


# -- calendar.toml -------------------------------------------------------------------------


def calendar_from_data(data: Mapping[str, Any], issues: Issues) -> WorkCalendar | None:
    """Validate parsed ``calendar.toml``; record problems in ``issues`` and return None on any."""
    top = Table(data, None, issues, ("timezone", "working_periods", "weekend", "holiday"))
    before = len(issues.problems)

    zone: ZoneInfo | None = None
    name = top.text("timezone", required=True)
    if name is not None:
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            top.error(f"unknown timezone {name!r}; expected an IANA name like Asia/Shanghai")

    periods = _read_periods(top)
    weekend = _read_weekend(top)
    holidays = _read_holidays(top, weekend if weekend is not None else frozenset({5, 6}))

    if len(issues.problems) > before or zone is None or periods is None or weekend is None:
        return None
    return WorkCalendar.ending_with_holidays(
        timezone=zone, periods=periods, weekend=weekend, holidays=holidays
    )


def _read_periods(top: Table) -> tuple[tuple[time, time], ...] | None:
    texts = top.texts("working_periods", required=True)
    if texts is None:
        return None
    if not texts:
        top.error("working_periods: must list at least one period like '08:30-12:00'")
        return None
    periods: list[tuple[time, time]] = []
    ok = True
    for index, text in enumerate(texts):
        where = f"working_periods[{index}]"
        match = _PERIOD.fullmatch(text.strip())
        parsed: tuple[time, time] | None = None
        if match is not None:
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            if h1 < 24 and m1 < 60 and h2 < 24 and m2 < 60:
                parsed = (time(h1, m1), time(h2, m2))
        if parsed is None:
            top.error(f"{where}: invalid period {text!r}; expected HH:MM-HH:MM like 08:30-12:00")
            ok = False
        elif parsed[0] >= parsed[1]:
            top.error(f"{where}: period {text!r} does not end after it starts")
            ok = False
        elif periods and parsed[0] < periods[-1][1]:
            top.error(
                f"{where}: period {text!r} starts before the previous one ends; "
                "list periods in order without overlap"
            )
            ok = False
        else:
            periods.append(parsed)
    return tuple(periods) if ok else None


def _read_weekend(top: Table) -> frozenset[int] | None:
    names = top.texts("weekend")
    if names is None:
        return None if "weekend" in top else frozenset({5, 6})
    days: set[int] = set()
    for name in names:
        key = name.strip().lower()
        if key not in WEEKDAYS:
            top.error(f"weekend: unknown weekday {name!r}; expected one of {', '.join(WEEKDAYS)}")
            return None
        days.add(WEEKDAYS.index(key))
    if len(days) == 7:
        top.error("weekend: leaves no working weekday")
        return None
    return frozenset(days)


def _read_holidays(top: Table, weekend: frozenset[int]) -> tuple[Holiday, ...]:
    holidays: list[Holiday] = []
    seen: dict[date, str] = {}
    for index, data in enumerate(top.tables("holiday")):
        label = data.get("name") if isinstance(data.get("name"), str) else None
        where = f"holiday[{index}]" + (f" ({label})" if label else "")
        table = Table(data, where, top.issues, ("name", "first", "last", "workdays"))
        name = table.text("name", required=True)
        first = table.day("first", required=True)
        last = table.day("last") if "last" in table else first
        workdays = table.dates("workdays") or ()
        if name is None or first is None or last is None:
            continue
        if last < first:
            table.error(f"last {last} is before first {first}")
            continue
        holiday = Holiday(name, first, last, tuple(workdays))
        off = holiday.days_off()
        for day in off:
            if day in seen:
                table.error(f"{day} is already listed by {seen[day]}")
            seen[day] = where
        for day in workdays:
            if day in off:
                table.error(f"{day} is both a day off and a make-up workday")
            elif day.weekday() not in weekend:
                weekday = WEEKDAYS[day.weekday()].capitalize()
                table.error(
                    f"make-up workday {day} is a {weekday}, already a working day; "
                    "make-up workdays (调休上班) fall on weekend days"
                )
            elif day in seen:
                table.error(f"{day} is already listed by {seen[day]}")
            seen[day] = where
        holidays.append(holiday)
    return tuple(holidays)
