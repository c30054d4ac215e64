from __future__ import annotations

import time as clock
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dispatch import DispatchConfigError, Duration, WorkCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parents[1] / "data" / "dispatch"

PLAIN = """
timezone = "Asia/Shanghai"
working_periods = ["08:30-12:00", "14:30-17:30"]
"""


def at(text: str) -> datetime:
    """A Shanghai local time from ``2026-01-13 17:00``."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def calendar() -> WorkCalendar:
    """2026 with 春节 and 国庆 (tests/data/dispatch/config/calendar.toml)."""
    return WorkCalendar.load(DATA / "config" / "calendar.toml")


def add(calendar: WorkCalendar, start: str, duration: str) -> datetime:
    return calendar.add(at(start), Duration.parse(duration))


# -- working hours -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "duration", "due"),
    [
        ("2026-01-13 09:00", "2wh", "2026-01-13 11:00"),  # inside the morning
        ("2026-01-13 11:30", "1wh", "2026-01-13 15:00"),  # skips the lunch break
        ("2026-01-13 13:00", "1wh", "2026-01-13 15:30"),  # starts in the lunch break
        ("2026-01-13 07:00", "2wh", "2026-01-13 10:30"),  # starts before opening
        ("2026-01-13 17:00", "1wh", "2026-01-14 09:00"),  # skips the night
        ("2026-01-13 16:30", "1wh", "2026-01-13 17:30"),  # ends exactly at closing, not 08:30
        ("2026-01-13 08:30", "7wh", "2026-01-14 09:00"),  # a 6.5 h day, then half an hour
        ("2026-01-09 17:00", "1wh", "2026-01-12 09:00"),  # Friday: skips the weekend
        ("2026-01-10 10:00", "1wh", "2026-01-12 09:30"),  # starts on a Saturday
        ("2026-02-14 17:00", "1wh", "2026-02-24 09:00"),  # skips 春节 Feb 15-23
        ("2026-02-13 17:00", "1wh", "2026-02-14 09:00"),  # Saturday Feb 14 is a make-up workday
        ("2026-09-30 17:00", "1wh", "2026-10-08 09:00"),  # skips 国庆 Oct 1-7
        ("2026-01-09 16:00", "100wh", "2026-02-02 09:30"),  # 1.5 h + 15 days x 6.5 h + 1 h
    ],
)
def test_working_hours_count_only_working_periods_of_working_days(
    calendar: WorkCalendar, start: str, duration: str, due: str
) -> None:
    assert add(calendar, start, duration) == at(due)


# -- working days --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "duration", "due"),
    [
        ("2026-01-13 10:15", "1wd", "2026-01-14 10:15"),  # same time, next working day
        ("2026-01-09 16:00", "5wd", "2026-01-16 16:00"),  # a working week crosses a weekend
        ("2026-01-09 16:00", "1wd", "2026-01-12 16:00"),  # Friday -> Monday
        ("2026-01-09 20:00", "1wd", "2026-01-12 17:30"),  # after hours: from Friday's close
        ("2026-01-10 10:00", "1wd", "2026-01-12 17:30"),  # Saturday: from Friday's close
        ("2026-01-12 07:00", "1wd", "2026-01-12 17:30"),  # before opening: previous close
        ("2026-01-13 13:00", "1wd", "2026-01-14 12:00"),  # lunch: from the morning's close
        ("2026-01-13 12:00", "1wd", "2026-01-14 12:00"),  # 12:00 is already the lunch break
        ("2026-02-13 10:00", "1wd", "2026-02-14 10:00"),  # make-up Saturday counts
        ("2026-02-13 10:00", "2wd", "2026-02-24 10:00"),  # then 春节 is skipped
        ("2026-09-18 10:00", "1wd", "2026-09-20 10:00"),  # make-up Sunday Sep 20 counts
        ("2026-09-30 10:00", "1wd", "2026-10-08 10:00"),  # 国庆 is skipped
        ("2026-01-05 09:00", "15wd", "2026-01-26 09:00"),  # three working weeks
    ],
)
def test_working_days_keep_the_time_of_day_on_the_nth_working_day(
    calendar: WorkCalendar, start: str, duration: str, due: str
) -> None:
    assert add(calendar, start, duration) == at(due)


# -- wall time and timezones ---------------------------------------------------------------


def test_wall_units_count_nights_weekends_and_holidays(calendar: WorkCalendar) -> None:
    assert add(calendar, "2026-01-10 23:00", "2h") == at("2026-01-11 01:00")
    assert add(calendar, "2026-02-14 09:00", "7d") == at("2026-02-21 09:00")
    assert add(calendar, "2026-01-10 10:00", "90s") == at("2026-01-10 10:01:30")


def test_results_are_in_the_calendar_timezone(calendar: WorkCalendar) -> None:
    start = datetime(2026, 1, 13, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    for duration in ("30m", "1wh", "1wd"):
        due = calendar.add(start, Duration.parse(duration))
        assert due.tzinfo == SHANGHAI
    assert calendar.add(start, Duration.parse("1wh")) == at("2026-01-13 10:00")
    other = datetime(2026, 1, 13, 9, 0, tzinfo=timezone(timedelta(hours=9)))  # 08:00 Shanghai
    assert calendar.add(other, Duration.parse("1wh")) == at("2026-01-13 09:30")


@pytest.mark.parametrize("duration", ["30m", "4wh", "5wd"])
def test_naive_start_is_refused(calendar: WorkCalendar, duration: str) -> None:
    with pytest.raises(ValueError, match=r"start must be timezone-aware, got naive 2026-01-13"):
        calendar.add(datetime(2026, 1, 13, 9, 0), Duration.parse(duration))


# -- days ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 1, 13), True),  # Tuesday
        (date(2026, 1, 10), False),  # Saturday
        (date(2026, 1, 11), False),  # Sunday
        (date(2026, 2, 16), False),  # 春节, a Monday
        (date(2026, 2, 14), True),  # make-up Saturday
        (date(2026, 9, 20), True),  # make-up Sunday
        (date(2026, 10, 7), False),  # 国庆, a Wednesday
    ],
)
def test_is_working_day(calendar: WorkCalendar, day: date, working: bool) -> None:
    assert calendar.is_working_day(day) is working


def test_is_working_time(calendar: WorkCalendar) -> None:
    assert calendar.is_working_time(at("2026-01-13 08:30"))
    assert not calendar.is_working_time(at("2026-01-13 12:00"))
    assert not calendar.is_working_time(at("2026-01-10 10:00"))
    assert calendar.hours_per_day == timedelta(hours=6, minutes=30)


def test_long_durations_do_not_loop_minute_by_minute() -> None:
    calendar = WorkCalendar.from_toml(PLAIN)
    start = at("2026-03-02 08:30")  # a Monday; no holidays in this calendar
    # 650 wh = 100 working days of 6.5 h = 20 weeks, ending at Friday's close.
    assert calendar.add(start, Duration.parse("650wh")) == at("2026-07-17 17:30")
    assert calendar.add(start, Duration.parse("100wd")) == at("2026-07-20 08:30")
    began = clock.perf_counter()
    for _ in range(1000):
        calendar.add(start, Duration.parse("100wh"))
        calendar.add(start, Duration.parse("15wd"))
    # A minute-by-minute loop would take tens of seconds; day by day takes milliseconds.
    assert clock.perf_counter() - began < 2.0


# -- the shipped calendar ------------------------------------------------------------------


def test_shipped_calendar_has_the_2026_state_council_schedule() -> None:
    calendar = WorkCalendar.load(ROOT / "config" / "calendar.toml")
    assert calendar.timezone == SHANGHAI
    assert calendar.periods == ((time(8, 30), time(12, 0)), (time(14, 30), time(17, 30)))
    off = [
        ("2026-01-01", "2026-01-03"),
        ("2026-02-15", "2026-02-23"),
        ("2026-04-04", "2026-04-06"),
        ("2026-05-01", "2026-05-05"),
        ("2026-06-19", "2026-06-21"),
        ("2026-09-25", "2026-09-27"),
        ("2026-10-01", "2026-10-07"),
    ]
    for first, last in off:
        day = date.fromisoformat(first)
        while day <= date.fromisoformat(last):
            assert not calendar.is_working_day(day), day
            day += timedelta(days=1)
    for workday in (
        "2026-01-04",
        "2026-02-14",
        "2026-02-28",
        "2026-05-09",
        "2026-09-20",
        "2026-10-10",
    ):
        assert calendar.is_working_day(date.fromisoformat(workday)), workday
    assert calendar.is_working_day(date(2026, 2, 24))
    assert not calendar.is_working_day(date(2026, 2, 7))  # an ordinary Saturday


# -- calendar.toml validation --------------------------------------------------------------


def problems(text: str) -> list[str]:
    with pytest.raises(DispatchConfigError) as info:
        WorkCalendar.from_toml(text)
    return [str(p) for p in info.value.problems]


def test_unknown_key_fails() -> None:
    assert problems(PLAIN + 'weekends = ["sunday"]\n') == [
        "calendar.toml: unknown key 'weekends'; expected one of timezone, working_periods, "
        "weekend, holiday"
    ]


def test_timezone_is_required() -> None:
    assert problems('working_periods = ["08:30-12:00"]\n') == [
        "calendar.toml: missing required key 'timezone'"
    ]


def test_unknown_timezone_fails() -> None:
    assert problems(PLAIN.replace("Asia/Shanghai", "Asia/Shanghia")) == [
        "calendar.toml: unknown timezone 'Asia/Shanghia'; expected an IANA name like Asia/Shanghai"
    ]


def test_bad_period_fails() -> None:
    assert problems(PLAIN.replace("14:30-17:30", "14:30-1730")) == [
        "calendar.toml: working_periods[1]: invalid period '14:30-1730'; expected HH:MM-HH:MM "
        "like 08:30-12:00"
    ]


def test_backwards_period_fails() -> None:
    assert problems(PLAIN.replace("08:30-12:00", "12:00-08:30")) == [
        "calendar.toml: working_periods[0]: period '12:00-08:30' does not end after it starts"
    ]


def test_overlapping_periods_fail() -> None:
    assert problems(PLAIN.replace("14:30-17:30", "11:00-17:30")) == [
        "calendar.toml: working_periods[1]: period '11:00-17:30' starts before the previous one "
        "ends; list periods in order without overlap"
    ]


def test_no_periods_fail() -> None:
    text = 'timezone = "Asia/Shanghai"\nworking_periods = []\n'
    assert problems(text) == [
        "calendar.toml: working_periods: must list at least one period like '08:30-12:00'"
    ]


def test_unknown_weekday_fails() -> None:
    assert problems(PLAIN + 'weekend = ["sat"]\n') == [
        "calendar.toml: weekend: unknown weekday 'sat'; expected one of monday, tuesday, "
        "wednesday, thursday, friday, saturday, sunday"
    ]


def test_holiday_ending_before_it_starts_fails() -> None:
    text = PLAIN + '[[holiday]]\nname = "元旦"\nfirst = 2026-01-03\nlast = 2026-01-01\n'
    assert problems(text) == [
        "calendar.toml: holiday[0] (元旦): last 2026-01-01 is before first 2026-01-03"
    ]


def test_make_up_workday_on_a_weekday_fails() -> None:
    text = PLAIN + (
        '[[holiday]]\nname = "元旦"\nfirst = 2026-01-01\nlast = 2026-01-03\n'
        "workdays = [2026-01-05]\n"
    )
    assert problems(text) == [
        "calendar.toml: holiday[0] (元旦): make-up workday 2026-01-05 is a Monday, already a "
        "working day; make-up workdays (调休上班) fall on weekend days"
    ]


def test_day_listed_twice_fails() -> None:
    text = PLAIN + (
        '[[holiday]]\nname = "中秋"\nfirst = 2026-09-25\nlast = 2026-10-01\n'
        '[[holiday]]\nname = "国庆"\nfirst = 2026-10-01\nlast = 2026-10-07\n'
    )
    assert problems(text) == [
        "calendar.toml: holiday[1] (国庆): 2026-10-01 is already listed by holiday[0] (中秋)"
    ]


def test_quoted_dates_fail_with_the_expected_form() -> None:
    text = PLAIN + '[[holiday]]\nname = "元旦"\nfirst = "2026-01-01"\n'
    assert problems(text) == [
        "calendar.toml: holiday[0] (元旦): first: expected a date like 2026-01-01 (unquoted), "
        "got string '2026-01-01'"
    ]


def test_invalid_toml_fails_with_the_parser_message() -> None:
    [message] = problems("timezone = \n")
    assert message.startswith("calendar.toml: invalid TOML: ")


def test_a_calendar_without_working_days_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one working weekday"):
        WorkCalendar(SHANGHAI, ((time(8), time(9)),), weekend=frozenset(range(7)))


def _walked(calendar: WorkCalendar, start: datetime, duration: Duration) -> datetime:
    """The deadline found the slow way: every working period of every day, one by one."""
    local = start.astimezone(calendar.timezone).replace(tzinfo=None)
    if duration.unit.value == "wd":
        return calendar.add(start, duration)  # not walked here: see the next test
    remaining, day = timedelta(hours=duration.amount), local.date()
    while True:
        if calendar.is_working_day(day):
            for open_, close in calendar.periods:
                begin = max(datetime.combine(day, open_), local)
                finish = datetime.combine(day, close)
                if begin < finish:
                    if remaining <= finish - begin:
                        return (begin + remaining).replace(tzinfo=calendar.timezone)
                    remaining -= finish - begin
        day += timedelta(days=1)


@pytest.mark.parametrize("duration", ["1wh", "4wh", "6wh", "7wh", "13wh", "20wh", "100wh"])
def test_working_hours_skip_whole_days_as_a_walk_over_every_period_would(
    calendar: WorkCalendar, duration: str
) -> None:
    wanted = Duration.parse(duration)
    start = at("2026-01-01 00:00")
    # Every 97 minutes through the year: nights, weekends, 春节, 国庆 and the make-up days.
    for step in range(0, 300 * 24 * 60, 97):
        when = start + timedelta(minutes=step)
        assert calendar.add(when, wanted) == _walked(calendar, when, wanted), when


def test_working_days_answer_the_same_from_a_fresh_calendar_and_from_the_remembered_walks(
    calendar: WorkCalendar,
) -> None:
    fresh = WorkCalendar(
        timezone=calendar.timezone,
        periods=calendar.periods,
        weekend=calendar.weekend,
        holidays=calendar.holidays,
        end=calendar.end,
    )
    for step in range(0, 300 * 24, 5):
        when = at("2026-01-01 00:00") + timedelta(hours=step, minutes=step % 60)
        for count in (1, 2, 5, 10):
            wanted = Duration.parse(f"{count}wd")
            first = calendar.add(when, wanted)
            assert first == calendar.add(when, wanted)  # remembered
            days = 0
            day = fresh._snap_back(when.replace(tzinfo=None)).date()
            while days < count:
                day += timedelta(days=1)
                days += fresh.is_working_day(day)
            assert first.date() == day, (when, count)
