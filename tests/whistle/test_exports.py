"""CSV exports (issue 18): one cell function for every writer, formula injection neutralised
(OWASP), and people's names only for the roles that may see them."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from whistle.exports import csv_bytes, csv_cell
from whistle.stats import csv_table


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("田园镇", "田园镇"),
        ("a=b", "a=b"),
        (-5, -5),
        (0.25, 0.25),
        (None, ""),
    ],
)
def test_a_cell_that_starts_like_a_formula_is_text(value: Any, written: Any) -> None:
    assert csv_cell(value) == written


def test_every_cell_of_a_file_goes_through_the_cell_function() -> None:
    data = csv_bytes(["=h", "n"], [["=1+1", 3], ["@x", None]])
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows == [["'=h", "n"], ["'=1+1", "3"], ["'@x", ""]]


def _responders() -> dict[str, Any]:
    row = {"answered": 1, "claimed": 0, "completed": 1, "hours": 2.0}
    return {
        "responders": [
            {"responder_id": "RM1", "name": "夏琳琳", "kind": "registered_member",
             "kind_name": "报到党员", **row},
            {"responder_id": "PS1", "name": "田园镇派出所", "kind": "police_station",
             "kind_name": "派出所", **row},
        ]
    }  # fmt: skip


def test_the_responders_export_names_people_only_when_names_are_shown() -> None:
    named = csv_table(_responders(), "responders").decode("utf-8-sig")
    assert "夏琳琳" in named
    unnamed = csv_table(_responders(), "responders", names_shown=False).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(unnamed, newline="")))
    assert "夏琳琳" not in unnamed
    assert [r[1] for r in rows[1:]] == ["报到党员", "田园镇派出所"]  # a unit is an office
