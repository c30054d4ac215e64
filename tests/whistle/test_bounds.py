"""The bounded readers every request's numbers and times go through (whistle.bounds)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from whistle.bounds import bounded_date, bounded_instant, check_instant, whole_number


@pytest.mark.parametrize(
    ("text", "value"), [("0", 0), ("7", 7), ("200", 200), ("007", 7), ("0" * 20, 0)]
)
def test_a_whole_number_in_ascii_digits_within_bounds_is_read(text: str, value: int) -> None:
    assert whole_number(text, lo=0, hi=200) == value


@pytest.mark.parametrize(
    "text",
    ["", "²", "٣", "３", "1²", "+1", "-1", "1_0", " 1", "1 ", "1.0", "1e3", "0x10", "一"],
)
def test_anything_but_ascii_digits_is_not_a_whole_number(text: str) -> None:
    with pytest.raises(ValueError, match=r"^expected a whole number in ASCII digits \(0-9\)$"):
        whole_number(text, lo=0, hi=200)


@pytest.mark.parametrize("text", ["201", "9" * 20, "9" * 21, "9" * 400, "1" + "0" * 4000])
def test_a_number_past_the_bound_is_refused_without_reading_it_all(text: str) -> None:
    with pytest.raises(ValueError, match=r"^must be between 1 and 200$"):
        whole_number(text, lo=1, hi=200)


def test_below_the_lower_bound_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^must be between 1 and 200$"):
        whole_number("0", lo=1, hi=200)


@pytest.mark.parametrize(
    "text",
    [
        "1970-01-01T00:00:00Z",
        "1970-01-01T08:00:00+08:00",
        "2026-11-21T09:30:00.123+08:00",
        "8999-12-31T23:59:59.999999Z",
        "9000-01-01T13:59:59+14:00",  # 8999-12-31T23:59:59Z
    ],
)
def test_an_instant_within_range_is_read(text: str) -> None:
    assert bounded_instant(text) == datetime.fromisoformat(text)


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00+14:00",  # overflows when turned into UTC
        "9999-12-31T23:59:59-14:00",  # so does this
        "0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "1970-01-01T07:59:59+08:00",
        "9000-01-01T00:00:00Z",
        "8999-12-31T23:00:00-01:00",
    ],
)
def test_an_instant_out_of_range_names_the_range(text: str) -> None:
    with pytest.raises(ValueError, match=r"^out of range: must be between 1970-01-01T00:00:00Z"):
        bounded_instant(text)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-11-21T09:30:00", "2026-02-30T00:00:00Z"])
def test_an_instant_without_offset_or_unreadable_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"^expected an RFC 3339 date-time with an offset$"):
        bounded_instant(text)


def test_check_instant_refuses_naive_times_and_keeps_the_offset() -> None:
    with pytest.raises(ValueError, match="needs an offset"):
        check_instant(datetime(2026, 11, 21, 9, 30))
    plus8 = datetime(2026, 11, 21, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    assert check_instant(plus8) is plus8
    assert check_instant(datetime(1970, 1, 1, tzinfo=UTC)).tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1970-01-01", date(1970, 1, 1)),
        ("2026-11-21", date(2026, 11, 21)),
        ("8999-12-31", date(8999, 12, 31)),
    ],
)
def test_a_date_within_range_is_read(text: str, value: date) -> None:
    assert bounded_date(text) == value


@pytest.mark.parametrize("text", ["0001-01-01", "1969-12-31", "9000-01-01", "9999-12-31"])
def test_a_date_out_of_range_names_the_range(text: str) -> None:
    with pytest.raises(
        ValueError, match=r"^out of range: must be between 1970-01-01 and 8999-12-31$"
    ):
        bounded_date(text)


@pytest.mark.parametrize("text", ["", "today", "2026-13-01", "2026-02-30", "²⁰²⁶-01-01"])
def test_an_unreadable_date_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"^expected a date, YYYY-MM-DD$"):
        bounded_date(text)
