"""OffsetClock and its offset file: the testing aid behind ``--clock-offset-file``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from whistle.clock import OffsetClock, read_offset


def test_offset_clock_runs_ahead_of_the_wall_clock_by_its_offset() -> None:
    clock = OffsetClock(timedelta(hours=2))
    ahead = clock.now() - datetime.now(UTC)
    assert timedelta(hours=2) - timedelta(seconds=5) < ahead <= timedelta(hours=2)


def test_offset_clock_never_goes_back() -> None:
    clock = OffsetClock(timedelta(minutes=30))
    assert clock.move_to(timedelta(hours=1))
    assert not clock.move_to(timedelta(minutes=10))
    assert clock.offset == timedelta(hours=1)
    with pytest.raises(ValueError, match="backwards"):
        OffsetClock(timedelta(seconds=-1))


def test_offset_file_is_seconds_and_a_missing_or_empty_one_is_zero(tmp_path: Path) -> None:
    path = tmp_path / "offset"
    assert read_offset(path) == timedelta(0)
    path.write_text("\n", encoding="utf-8")
    assert read_offset(path) == timedelta(0)
    path.write_text("5400.5\n", encoding="utf-8")
    assert read_offset(path) == timedelta(seconds=5400.5)
    path.write_text("an hour", encoding="utf-8")
    with pytest.raises(ValueError, match="could not convert"):
        read_offset(path)
