"""The line of a TOML problem, for an editor that shows errors by line.

The loaders report a problem at a path (``rule[2] (citizen-needs).report[0]``,
``defaults.acknowledge``) and ``tomllib`` gives no positions for values. This module walks the
file's text the way TOML names its tables, so a path and the key in the message find the line
they came from: the key's own line, or the table's header when the key is not written there
(a missing key). A syntax error carries its line in ``tomllib``'s message already.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from grids.exceptions import Problem

__all__ = ["toml_line", "with_toml_lines"]

# One step of a table path: a name and, for an array of tables, the element's index.
_Step = tuple[str, int | None]
_Path = tuple[_Step, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]+"|'[^']+'|[A-Za-z0-9_-]+)\s*=""")
_SYNTAX = re.compile(r"at line (\d+)")
_NAMED_KEY = re.compile(r"^(?:unknown|missing required) key '([^']+)'")
_LEADING_KEY = re.compile(r"^([A-Za-z_][\w-]*): ")
_LABEL = re.compile(r"\s*\([^)]*\)")
_STEP = re.compile(r"^([^\[\]]+)(?:\[(\d+)\])?$")


@dataclass
class _Table:
    header: int  # 1-based line of its header; 0 for the top level
    keys: dict[str, int] = field(default_factory=dict)


def with_toml_lines(problems: Iterable[Problem], texts: dict[str, str]) -> list[Problem]:
    """``problems`` with the line filled in where it was missing and the file is one of
    ``texts`` (file name -> its TOML text)."""
    tables: dict[str, dict[_Path, _Table]] = {}
    located = []
    for problem in problems:
        text = texts.get(problem.file)
        if problem.line is None and text is not None and problem.file.endswith(".toml"):
            if problem.file not in tables:
                tables[problem.file] = _tables(text)
            line = _line(tables[problem.file], problem.code, problem.message)
            problem = replace(problem, line=line)
        located.append(problem)
    return located


def toml_line(text: str, where: str | None, message: str) -> int | None:
    """The 1-based line of a problem at ``where`` with ``message`` in the TOML ``text``."""
    return _line(_tables(text), where, message)


def _line(tables: dict[_Path, _Table], where: str | None, message: str) -> int | None:
    syntax = _SYNTAX.search(message)
    if syntax is not None:
        return int(syntax.group(1))
    path = _parse_where(where)
    if path is None:
        return None
    key_match = _NAMED_KEY.match(message) or _LEADING_KEY.match(message)
    key = None if key_match is None else key_match.group(1)
    # The longest table the path names; what is left of the path is an inline key in it.
    for cut in range(len(path), -1, -1):
        table = tables.get(path[:cut])
        if table is None:
            continue
        rest = path[cut:]
        if rest and rest[0][0] in table.keys:
            return table.keys[rest[0][0]]
        if not rest and key is not None and key in table.keys:
            return table.keys[key]
        if not rest and key is not None:
            # The key may name a table of its own (``[key]`` or the first ``[[key]]``).
            inner = tables.get((*path, (key, None))) or tables.get((*path, (key, 0)))
            if inner is not None:
                return inner.header
        return table.header or None
    return None


def _parse_where(where: str | None) -> _Path | None:
    if not where:
        return ()
    steps: list[_Step] = []
    for part in _LABEL.sub("", where).split("."):
        match = _STEP.match(part.strip())
        if match is None:
            return None
        steps.append((match.group(1), None if match.group(2) is None else int(match.group(2))))
    return tuple(steps)


def _tables(text: str) -> dict[_Path, _Table]:
    """Every table of the file by its path, with the lines of the keys written in it."""
    tables: dict[_Path, _Table] = {(): _Table(0)}
    latest: dict[tuple[_Path, str], int] = {}  # an array of tables' last index, by parent
    current = tables[()]
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header is not None:
            names = [n.strip().strip("\"'") for n in header.group(2).split(".")]
            parent: _Path = ()
            for name in names[:-1]:
                parent += ((name, latest.get((parent, name))),)
            last = names[-1]
            index = None
            if header.group(1) == "[[":
                index = latest.get((parent, last), -1) + 1
                latest[(parent, last)] = index
            current = tables.setdefault((*parent, (last, index)), _Table(number))
            continue
        key = _KEY.match(line)
        if key is not None:
            current.keys.setdefault(key.group(1).strip("\"'"), number)
    return tables
