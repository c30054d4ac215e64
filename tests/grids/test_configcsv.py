"""ConfigCsv: the one way every keyed config CSV checks its keys and collects its problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from grids.configcsv import ConfigCsv
from grids.exceptions import ConfigError, GridConfigError, Problem

HEADER = ("id", "name")


def sheet(tmp_path: Path, text: str, name: str = "things.csv") -> ConfigCsv:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return ConfigCsv.read(path, HEADER)


def test_keyed_rows_skip_an_empty_key_and_a_repeated_one_naming_file_and_lines(
    tmp_path: Path,
) -> None:
    rows = sheet(tmp_path, "id,name\nA,one\n,nameless\nB,two\nA,again\n")

    assert [(line, key) for line, key, _ in rows.keyed("id")] == [(2, "A"), (4, "B")]
    assert rows.problems == [
        Problem("things.csv", 3, None, "empty id"),
        Problem("things.csv", 5, "A", "duplicate id; first defined on line 2"),
    ]
    assert rows.first_line == {"A": 2, "B": 4}


def test_the_duplicate_message_and_a_key_check_are_the_files_own(tmp_path: Path) -> None:
    rows = sheet(tmp_path, "id,name\nA,one\nA,again\nTOO-LONG,x\n")

    def check(key: str) -> str | None:
        return "id longer than 4" if len(key) > 4 else None

    kept = list(rows.keyed("id", duplicate="duplicate thing", check=check))

    assert [key for _, key, _ in kept] == ["A"]
    assert [str(p) for p in rows.problems] == [
        "things.csv:3: A: duplicate thing; first defined on line 2",
        "things.csv:4: TOO-LONG: id longer than 4",
    ]


def test_without_skip_empty_a_keyless_row_is_still_given_for_its_other_checks(
    tmp_path: Path,
) -> None:
    rows = sheet(tmp_path, "id,name\n,nameless\n")

    assert list(rows.keyed("id", skip_empty=False)) == [(2, "", ["", "nameless"])]
    assert [str(p) for p in rows.problems] == ["things.csv:2: empty id"]


def test_raise_problems_raises_the_files_own_class_in_line_order(tmp_path: Path) -> None:
    rows = sheet(tmp_path, "id,name\nA,one\nB,two\n")
    list(rows.keyed("id"))
    rows.problem(3, "B", "second")
    rows.problem(None, None, "the whole file")
    rows.problem(2, "A", "first")

    with pytest.raises(GridConfigError) as caught:
        rows.raise_problems(GridConfigError)

    assert isinstance(caught.value, ConfigError)
    assert str(caught.value) == (
        "things.csv:2: A: first\nthings.csv:3: B: second\nthings.csv: the whole file"
    )
    assert caught.value.files == ["things.csv"]


def test_no_problem_raises_nothing(tmp_path: Path) -> None:
    rows = sheet(tmp_path, "id,name\nA,one\n")
    assert [key for _, key, _ in rows.keyed("id")] == ["A"]
    rows.raise_problems(GridConfigError)  # nothing found: nothing raised


def test_an_unreadable_file_has_no_rows_and_one_problem(tmp_path: Path) -> None:
    rows = sheet(tmp_path, "code,name\nA,one\n")

    assert rows.rows is None
    assert list(rows.keyed("id")) == []
    assert [str(p) for p in rows.problems] == [
        "things.csv:1: wrong header: expected id,name, got code,name"
    ]
