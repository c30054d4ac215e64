from __future__ import annotations

from datetime import timedelta

import pytest

from dispatch import Duration, Unit


@pytest.mark.parametrize(
    ("text", "amount", "unit", "delta"),
    [
        ("90s", 90, Unit.SECONDS, timedelta(seconds=90)),
        ("30m", 30, Unit.MINUTES, timedelta(minutes=30)),
        ("2h", 2, Unit.HOURS, timedelta(hours=2)),
        ("7d", 7, Unit.DAYS, timedelta(days=7)),
    ],
)
def test_wall_units_parse_and_convert(text: str, amount: int, unit: Unit, delta: timedelta) -> None:
    duration = Duration.parse(text)
    assert (duration.amount, duration.unit) == (amount, unit)
    assert not duration.is_working
    assert duration.as_timedelta() == delta


@pytest.mark.parametrize(
    ("text", "unit"), [("4wh", Unit.WORKING_HOURS), ("5wd", Unit.WORKING_DAYS)]
)
def test_working_units_parse(text: str, unit: Unit) -> None:
    duration = Duration.parse(text)
    assert duration.unit is unit
    assert duration.is_working


@pytest.mark.parametrize("text", ["90s", "30m", "2h", "7d", "4wh", "15wd"])
def test_str_round_trips(text: str) -> None:
    assert str(Duration.parse(text)) == text
    assert Duration.parse(str(Duration.parse(text))) == Duration.parse(text)


def test_surrounding_spaces_are_ignored() -> None:
    assert Duration.parse(" 30m ") == Duration(30, Unit.MINUTES)


@pytest.mark.parametrize("text", ["", "30", "m", "2 h", "1.5h", "-3m", "3w", "3hours", "4WH"])
def test_bad_forms_name_the_accepted_forms(text: str) -> None:
    with pytest.raises(
        ValueError, match="expected a whole number followed by s, m, h or d"
    ) as info:
        Duration.parse(text)
    assert f"invalid duration {text!r}" in str(info.value)
    assert "wh (working hours) or wd (working days)" in str(info.value)


def test_zero_is_refused() -> None:
    with pytest.raises(ValueError, match=r"invalid duration '0h': must be positive"):
        Duration.parse("0h")


def test_working_units_have_no_timedelta() -> None:
    with pytest.raises(ValueError, match=r"duration 4wh counts working time; use WorkCalendar"):
        Duration.parse("4wh").as_timedelta()


def test_durations_are_frozen_and_hashable() -> None:
    duration = Duration.parse("2h")
    assert {duration: 1}[Duration(2, Unit.HOURS)] == 1
    with pytest.raises(AttributeError):
        duration.amount = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "text", ["3651d", "87601h", "99999999999d", "99999999999999wd", "9" * 400 + "s"]
)
def test_a_duration_over_ten_years_is_refused_with_the_longest_allowed(text: str) -> None:
    unit = text.lstrip("0123456789")
    with pytest.raises(ValueError, match=rf"invalid duration '.*': too long, at most \d+{unit}$"):
        Duration.parse(text)


@pytest.mark.parametrize("text", ["3650d", "87600h", "3650wd", "315360000s"])
def test_ten_years_is_the_longest_duration(text: str) -> None:
    assert str(Duration.parse(text)) == text


@pytest.mark.parametrize("text", ["²d", "٣h", "３m"])
def test_digits_of_other_scripts_are_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="expected a whole number followed by"):
        Duration.parse(text)


def test_a_duration_built_directly_is_capped_too() -> None:
    with pytest.raises(ValueError, match=r"duration 3651d is too long: at most 3650d"):
        Duration(3651, Unit.DAYS)
