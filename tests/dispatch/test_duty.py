"""The duty roster (duty.csv): validation with exact messages, and who is on duty when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dispatch.calendar import WorkCalendar
from dispatch.duty import DutyRoster, Shift
from dispatch.exceptions import DispatchConfigError
from grids import Hierarchy

SHANGHAI = ZoneInfo("Asia/Shanghai")
HEADER = "responder,days,start,end\n"

# 国庆节 2026: Thursday 1 to Wednesday 7 October off, Saturday 10 October worked (调休上班).
CALENDAR = """
timezone = "Asia/Shanghai"
working_periods = ["08:30-12:00", "14:30-17:30"]

[[holiday]]
name = "国庆节 2026"
first = 2026-10-01
last = 2026-10-07
workdays = [2026-10-10]
"""


@pytest.fixture(scope="module")
def calendar() -> WorkCalendar:
    return WorkCalendar.from_toml(CALENDAR)


def at(text: str) -> datetime:
    """A Shanghai local time from ``2026-09-14 09:00``."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def load(tmp_path: Path, hierarchy: Hierarchy, calendar: WorkCalendar, rows: str) -> DutyRoster:
    (tmp_path / "duty.csv").write_text(HEADER + rows, encoding="utf-8")
    return DutyRoster.load(tmp_path, hierarchy, calendar)


def problems(tmp_path: Path, hierarchy: Hierarchy, calendar: WorkCalendar, text: str) -> list[str]:
    (tmp_path / "duty.csv").write_text(text, encoding="utf-8")
    with pytest.raises(DispatchConfigError) as info:
        DutyRoster.load(tmp_path, hierarchy, calendar)
    return [str(problem) for problem in info.value.problems]


# -- loading -------------------------------------------------------------------------------


def test_absent_file_means_everyone_is_always_on_duty(
    tmp_path: Path, hierarchy: Hierarchy, calendar: WorkCalendar
) -> None:
    roster = DutyRoster.load(tmp_path, hierarchy, calendar)

    assert len(roster) == 0
    assert roster.shifts("CP01") == ()
    assert roster.on_duty("CP01", at("2026-10-03 03:00"))


def test_always_is_empty_and_on_duty(hierarchy: Hierarchy) -> None:
    roster = DutyRoster.always()

    assert len(roster) == 0
    assert roster.on_duty("CP01", at("2026-09-13 03:00"))


def test_header_only_file_gives_an_empty_roster(
    tmp_path: Path, hierarchy: Hierarchy, calendar: WorkCalendar
) -> None:
    assert len(load(tmp_path, hierarchy, calendar, "")) == 0


def test_shifts_are_kept_per_responder_in_file_order(
    tmp_path: Path, hierarchy: Hierarchy, calendar: WorkCalendar
) -> None:
    rows = "CP01,workdays,08:30,17:30\nSP01,daily,07:00,23:00\nCP01, Sat;mon; ,22:00,06:00\n"
    rows += "\nD001,sun,00:00,24:00\n"
    roster = load(tmp_path, hierarchy, calendar, rows)

    assert len(roster) == 3
    assert list(roster.responders()) == ["CP01", "SP01", "D001"]
    assert roster.shifts("CP01") == (
        Shift(("workdays",), 8 * 60 + 30, 17 * 60 + 30),
        Shift(("mon", "sat"), 22 * 60, 6 * 60),
    )
    assert [str(shift) for shift in roster.shifts("CP01")] == [
        "workdays 08:30-17:30",
        "mon;sat 22:00-06:00",
    ]
    assert roster.shifts("CP01")[1].line == 4
    assert roster.shifts("CP01")[1].overnight
    assert roster.shifts("CP01")[1].length == timedelta(hours=8)
    assert roster.shifts("D001")[0].length == timedelta(hours=24)
    assert roster.shifts("GM01") == ()
    assert repr(roster) == "DutyRoster(responders=3, shifts=4)"


def test_wrong_header(tmp_path: Path, hierarchy: Hierarchy, calendar: WorkCalendar) -> None:
    text = "responder,day,start,end\nCP01,daily,08:00,09:00\n"

    assert problems(tmp_path, hierarchy, calendar, text) == [
        "duty.csv:1: wrong header: expected responder,days,start,end, got responder,day,start,end"
    ]


def test_wrong_number_of_fields(
    tmp_path: Path, hierarchy: Hierarchy, calendar: WorkCalendar
) -> None:
    text = HEADER + "CP01,daily,08:00\n"

    assert problems(tmp_path, hierarchy, calendar, text) == [
        "duty.csv:2: CP01: expected 4 fields (responder,days,start,end), got 3"
    ]


def test_unknown_responder(tmp_path: Path, hierarchy: Hierarchy, calendar: WorkCalendar) -> None:
    text = HEADER + "CP99,daily,08:00,09:00\n"

    assert problems(tmp_path, hierarchy, calendar, text) == [
        "duty.csv:2: CP99: unknown responder CP99: no responder in responders.csv has this id"
    ]


def test_empty_responder(tmp_path: Path, hierarchy: Hierarchy, calendar: WorkCalendar) -> None:
    text = HEADER + ",daily,08:00,09:00\n"

    assert problems(tmp_path, hierarchy, calendar, text) == ["duty.csv:2: empty responder"]


def test_bad_day_word(tmp_path: Path, hierarchy: Hierarchy, calendar: WorkCalendar) -> None:
    text = HEADER + "CP01,mon;tues;weekend,08:00,09:00\n"

    assert problems(tmp_path, hierarchy, calendar, text) == [
        "duty.csv:2: CP01: unknown day 'tues' in days 'mon;tues;weekend'; "
        "expected mon, tue, wed, thu, fri, sat, sun, workdays or daily",
        "duty.csv:2: CP01: unknown day 'weekend' in days 'mon;tues;weekend'; "
        "expected mon, tue, wed, thu, fri, sat, sun, workdays or daily",
    ]


def test_empty_days(tmp_path: Path, hierarchy: Hierarchy, calendar: WorkCalendar) -> None:
    text = HEADER + "CP01, ; ,08:00,09:00\n"

    assert problems(tmp_path, hierarchy, calendar, text) == [
        "duty.csv:2: CP01: empty days; "
        "expected mon, tue, wed, thu, fri, sat, sun, workdays or daily"
    ]


def test_workdays_and_daily_stand_alone(
    tmp_path: Path, hierarchy: Hierarchy, calendar: WorkCalendar
) -> None:
    text = HEADER + "CP01,workdays;sat,08:00,09:00\n"

    assert problems(tmp_path, hierarchy, calendar, text) == [
        "duty.csv:2: CP01: days 'workdays;sat': workdays cannot be combined with other days"
    ]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("8h30", "17:30", "bad start time '8h30'; expected HH:MM from 00:00 to 23:59"),
        ("24:00", "06:00", "bad start time '24:00'; expected HH:MM from 00:00 to 23:59"),
        ("08:30", "17:60", "bad end time '17:60'; expected HH:MM from 00:00 to 24:00"),
        ("08:30", "24:01", "bad end time '24:01'; expected HH:MM from 00:00 to 24:00"),
        ("08:30", "", "bad end time ''; expected HH:MM from 00:00 to 24:00"),
    ],
)
def test_bad_time(
    tmp_path: Path,
    hierarchy: Hierarchy,
    calendar: WorkCalendar,
    start: str,
    end: str,
    message: str,
) -> None:
    text = HEADER + f"CP01,daily,{start},{end}\n"

    assert problems(tmp_path, hierarchy, calendar, text) == [f"duty.csv:2: CP01: {message}"]


@pytest.mark.parametrize(("start", "end"), [("08:30", "08:30"), ("00:00", "00:00")])
def test_zero_length_shift(
    tmp_path: Path, hierarchy: Hierarchy, calendar: WorkCalendar, start: str, end: str
) -> None:
    text = HEADER + f"CP01,daily,{start},{end}\n"

    assert problems(tmp_path, hierarchy, calendar, text) == [
        f"duty.csv:2: CP01: zero-length shift {start}-{end}; write 00:00-24:00 for the whole day"
    ]


def test_every_problem_is_reported_in_file_order(
    tmp_path: Path, hierarchy: Hierarchy, calendar: WorkCalendar
) -> None:
    text = HEADER + "CP01,daily,08:00,09:00\nXX,fri,9:00,9:00\nSP01,sun,25:00,06:00\n"

    assert problems(tmp_path, hierarchy, calendar, text) == [
        "duty.csv:3: XX: unknown responder XX: no responder in responders.csv has this id",
        "duty.csv:3: XX: zero-length shift 9:00-9:00; write 00:00-24:00 for the whole day",
        "duty.csv:4: SP01: bad start time '25:00'; expected HH:MM from 00:00 to 23:59",
    ]


# -- on duty -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-09-14 08:29:59", False),  # Monday, before the shift
        ("2026-09-14 08:30", True),
        ("2026-09-14 12:30", True),  # the shift spans the calendar's lunch break
        ("2026-09-14 17:29:59", True),
        ("2026-09-14 17:30", False),  # half-open: off at the end
        ("2026-09-13 10:00", False),  # Sunday
    ],
)
def test_weekday_shift(
    tmp_path: Path, hierarchy: Hierarchy, calendar: WorkCalendar, when: str, expected: bool
) -> None:
    roster = load(tmp_path, hierarchy, calendar, "CP01,mon;tue;wed;thu;fri,08:30,17:30\n")

    assert roster.on_duty("CP01", at(when)) is expected


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-09-18 21:59", False),  # Friday evening, before the shift
        ("2026-09-18 22:00", True),
        ("2026-09-19 00:00", True),  # Saturday: still Friday's shift
        ("2026-09-19 05:59", True),
        ("2026-09-19 06:00", False),
        ("2026-09-19 22:30", False),  # Saturday night: no shift starts on Saturday
        ("2026-09-18 03:00", False),  # Friday early: Thursday has no shift
    ],
)
def test_night_shift_crosses_midnight_and_belongs_to_its_start_day(
    tmp_path: Path, hierarchy: Hierarchy, calendar: WorkCalendar, when: str, expected: bool
) -> None:
    roster = load(tmp_path, hierarchy, calendar, "SP01,fri,22:00,06:00\n")

    assert roster.on_duty("SP01", at(when)) is expected


def test_night_shift_on_workdays_runs_into_the_following_day_off(
    tmp_path: Path, hierarchy: Hierarchy, calendar: WorkCalendar
) -> None:
    roster = load(tmp_path, hierarchy, calendar, "SP01,workdays,22:00,06:00\n")

    assert roster.on_duty("SP01", at("2026-09-19 05:00"))  # Saturday, from Friday's shift
    assert not roster.on_duty("SP01", at("2026-09-20 05:00"))  # Sunday: Saturday is off
    assert not roster.on_duty("SP01", at("2026-10-02 05:00"))  # a holiday's night is off


def test_workdays_are_off_on_a_holiday(
    tmp_path: Path, hierarchy: Hierarchy, calendar: WorkCalendar
) -> None:
    roster = load(tmp_path, hierarchy, calendar, "CP01,workdays,08:30,17:30\n")

    assert roster.on_duty("CP01", at("2026-09-30 10:00"))  # Wednesday before 国庆
    assert not roster.on_duty("CP01", at("2026-10-05 10:00"))  # Monday, 国庆 holiday
    assert not roster.on_duty("CP01", at("2026-10-11 10:00"))  # Sunday


def test_workdays_are_on_on_a_make_up_saturday(
    tmp_path: Path, hierarchy: Hierarchy, calendar: WorkCalendar
) -> None:
    rows = "CP01,workdays,08:30,17:30\nSP01,sat,09:00,12:00\n"
    roster = load(tmp_path, hierarchy, calendar, rows)

    assert roster.on_duty("CP01", at("2026-10-10 10:00"))  # 调休上班
    assert not roster.on_duty("CP01", at("2026-10-17 10:00"))  # an ordinary Saturday
    # Weekday names ignore the calendar: a Saturday shift is worked on every Saturday.
    assert roster.on_duty("SP01", at("2026-10-03 10:00"))


def test_daily_and_whole_day_shifts(
    tmp_path: Path, hierarchy: Hierarchy, calendar: WorkCalendar
) -> None:
    roster = load(tmp_path, hierarchy, calendar, "SP01,daily,07:00,23:00\nD001,sun,00:00,24:00\n")

    assert roster.on_duty("SP01", at("2026-10-03 07:00"))
    assert not roster.on_duty("SP01", at("2026-10-03 23:00"))
    assert roster.on_duty("D001", at("2026-09-13 00:00"))
    assert roster.on_duty("D001", at("2026-09-13 23:59:59"))
    assert not roster.on_duty("D001", at("2026-09-14 00:00"))


def test_any_of_several_shifts_puts_a_responder_on_duty(
    tmp_path: Path, hierarchy: Hierarchy, calendar: WorkCalendar
) -> None:
    rows = "CP01,workdays,08:30,12:00\nCP01,workdays,14:30,17:30\n"
    roster = load(tmp_path, hierarchy, calendar, rows)

    assert roster.on_duty("CP01", at("2026-09-14 09:00"))
    assert not roster.on_duty("CP01", at("2026-09-14 13:00"))
    assert roster.on_duty("CP01", at("2026-09-14 15:00"))


def test_responders_without_rows_are_always_on_duty(
    tmp_path: Path, hierarchy: Hierarchy, calendar: WorkCalendar
) -> None:
    roster = load(tmp_path, hierarchy, calendar, "CP01,workdays,08:30,17:30\n")

    assert not roster.on_duty("CP01", at("2026-09-13 03:00"))
    assert roster.on_duty("PS01", at("2026-09-13 03:00"))
    assert roster.on_duty("B001", at("2026-10-01 03:00"))


def test_instants_are_read_in_the_calendars_timezone(
    tmp_path: Path, hierarchy: Hierarchy, calendar: WorkCalendar
) -> None:
    roster = load(tmp_path, hierarchy, calendar, "CP01,workdays,08:30,17:30\n")

    # Monday 00:30 UTC is Monday 08:30 in Shanghai; Sunday 23:00 UTC is Monday 07:00.
    assert roster.on_duty("CP01", datetime(2026, 9, 14, 0, 30, tzinfo=UTC))
    assert not roster.on_duty("CP01", datetime(2026, 9, 13, 23, 0, tzinfo=UTC))


def test_naive_instant_is_refused(
    tmp_path: Path, hierarchy: Hierarchy, calendar: WorkCalendar
) -> None:
    roster = load(tmp_path, hierarchy, calendar, "CP01,workdays,08:30,17:30\n")

    with pytest.raises(ValueError, match=r"^at must be timezone-aware, got naive 2026-09-14T09:00"):
        roster.on_duty("CP01", datetime(2026, 9, 14, 9, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        DutyRoster.always().on_duty("CP01", datetime(2026, 9, 14, 9, 0))


def test_from_shifts_builds_the_same_roster(calendar: WorkCalendar) -> None:
    roster = DutyRoster.from_shifts({"CP01": [Shift(("sun",), 22 * 60, 0)], "SP01": []}, calendar)

    assert len(roster) == 1
    assert roster.on_duty("CP01", at("2026-09-13 23:00"))
    assert not roster.on_duty("CP01", at("2026-09-14 00:00"))
