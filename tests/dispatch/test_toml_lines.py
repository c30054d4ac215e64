"""The line of a TOML problem: each path the loaders report, found in the file's text."""

from __future__ import annotations

import pytest

from dispatch.exceptions import Problem
from dispatch.toml_lines import toml_line, with_toml_lines

TEXT = """\
# a comment
[defaults]
mode = "push"
acknowledge = { urgent = "10m", normal = "30m" }

[kind.community_police]
duty = "duty_police"

[[rule]]
id = "first"
source = "citizen"

[[rule.report]]
kind = "grid_leader"

[[rule]]
id = "second"

[[rule.report]]
kind = "registered_member"

[[rule.report]]
kind = "community_police"
level = "grid"
"""


@pytest.mark.parametrize(
    ("where", "message", "line"),
    [
        ("defaults", "unknown key 'mode'; expected one of ...", 3),
        ("defaults.acknowledge", "normal: invalid duration '30m'", 4),
        ("kind.community_police", "duty: unknown kind", 7),
        ("rule[0] (first)", "source: expected a string", 11),
        ("rule[1] (second)", "missing required key 'source'", 16),  # the table's header
        ("rule[1] (second).report[1]", "level: unknown level", 24),
        ("rule[0] (first).report[0]", "kind: unknown kind", 14),
        (None, "unknown key 'defaults'", 2),  # a key that is a table: its header
        (None, "unknown key 'rule'", 9),
        ("nowhere", "x: y", None),
        (None, "invalid TOML: Expected '=' (at line 9, column 3)", 9),
    ],
)
def test_a_problem_finds_its_line(where: str | None, message: str, line: int | None) -> None:
    assert toml_line(TEXT, where, message) == line


def test_only_problems_without_a_line_in_known_toml_files_get_one() -> None:
    problems = [
        Problem("rules.toml", None, "defaults", "unknown key 'mode'"),
        Problem("rules.toml", 2, "defaults", "unknown key 'mode'"),
        Problem("duty.csv", None, None, "missing"),
        Problem("calendar.toml", None, None, "cannot read"),
    ]
    lines = [p.line for p in with_toml_lines(problems, {"rules.toml": TEXT})]
    assert lines == [3, 2, None, None]
