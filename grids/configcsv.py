"""Config CSV files, read one way: the rows, the key column, and every problem with file and line.

Every config CSV (``grids.csv``, ``responders.csv``, ``duty.csv``, ``teams.csv``,
``cameras.csv``, ``webhooks.csv``, ``hotline_categories.csv``) is read through
:func:`read_csv_rows`, so all of them report headers and field counts alike; the ones keyed by
an id go through :class:`ConfigCsv`, which adds the checks every keyed file makes (an empty
key, a key seen before) and collects each problem with the file's name and the line::

    sheet = ConfigCsv.read(path, CAMERAS_HEADER)
    for line, camera_id, fields in sheet.keyed("camera_id", duplicate="duplicate camera"):
        ...
        sheet.problem(line, camera_id, "unknown grid")
    sheet.raise_problems(CameraConfigError)
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from grids.exceptions import ConfigError, Problem

__all__ = ["ConfigCsv", "read_csv_rows"]

# Characters after which a CSV file needs the csv module: quotes, other line ends, NUL.
_CSV_SPECIAL = ('"', "\r", "\0")
_CsvReader = Any  # csv's reader type is private (_csv.reader); only line_num and rows are used


class ConfigCsv:
    """One config CSV being read: its data rows and the problems found in it so far.

    Build with :meth:`read`. ``rows`` is None when the file could not be read at all (missing,
    not UTF-8, a wrong header: already a problem). Problems are collected, never raised one by
    one, so a single start-up error lists everything to fix in the file.
    """

    __slots__ = ("file", "first_line", "header", "problems", "rows")

    def __init__(
        self,
        file: str,
        header: Sequence[str],
        rows: list[tuple[int, list[str]]] | None,
        problems: list[Problem],
    ) -> None:
        self.file = file
        self.header = tuple(header)
        self.rows = rows
        self.problems = problems
        # The line each key was first seen on (filled by ``keyed``).
        self.first_line: dict[str, int] = {}

    @classmethod
    def read(cls, path: Path, header: Sequence[str]) -> ConfigCsv:
        """Read ``path``, whose first line must be ``header``."""
        problems: list[Problem] = []
        rows = read_csv_rows(path, header, problems)
        return cls(path.name, header, rows, problems)

    def __repr__(self) -> str:
        rows = "unreadable" if self.rows is None else f"{len(self.rows)} rows"
        return f"ConfigCsv({self.file!r}, {rows}, problems={len(self.problems)})"

    def problem(self, line: int | None, subject: str | None, message: str) -> None:
        """Record one problem at ``line`` of the file, about ``subject`` (an id or code)."""
        self.problems.append(Problem(self.file, line, subject, message))

    def keyed(
        self,
        column: str = "id",
        *,
        duplicate: str | None = None,
        check: Callable[[str], str | None] | None = None,
        skip_empty: bool = True,
    ) -> Iterator[tuple[int, str, list[str]]]:
        """The rows whose ``column`` holds a key not seen before: ``(line, key, fields)``.

        An empty key is reported as ``empty <column>`` and the row skipped (with
        ``skip_empty`` False it is still given, with key ``""``, so its other fields can be
        checked too); a key ``check`` finds wrong (it returns why) is reported and skipped; a
        key seen before is reported as ``<duplicate>; first defined on line <n>`` (``duplicate``
        defaults to ``duplicate <column>``) and skipped, since checking its other fields would
        only repeat the first row's problems.
        """
        index = self.header.index(column)
        repeated = duplicate or f"duplicate {column}"
        first_line = self.first_line
        for line, fields in self.rows or ():
            key = fields[index]
            if not key:
                self.problem(line, None, f"empty {column}")
                if not skip_empty:
                    yield line, key, fields
                continue
            if check is not None:
                why = check(key)
                if why is not None:
                    self.problem(line, key, why)
                    continue
            first = first_line.get(key)
            if first is not None:
                self.problem(line, key, f"{repeated}; first defined on line {first}")
                continue
            first_line[key] = line
            yield line, key, fields

    def sorted_problems(self) -> list[Problem]:
        """The problems by line, the whole-file ones (no line) last; stable within a line."""
        return sorted(self.problems, key=_by_line)

    def raise_problems(self, error: Callable[[Iterable[Problem]], ConfigError]) -> None:
        """Raise ``error`` (the file's own :class:`ConfigError` class) with every problem
        found, in file order; nothing when there is none."""
        if self.problems:
            raise error(self.sorted_problems())


def _by_line(problem: Problem) -> tuple[bool, int]:
    return (problem.line is None, problem.line or 0)


def read_csv_rows(
    path: Path, header: Sequence[str], problems: list[Problem]
) -> list[tuple[int, list[str]]] | None:
    """The data rows of a CSV file with their line numbers, fields stripped (every config CSV
    is read through this one function, so all report headers and field counts alike).

    Returns None (after recording why) when the file is missing, unreadable or has the wrong
    header: its rows cannot be trusted. Blank lines are skipped; rows with the wrong number of
    fields are reported and skipped.
    """
    file = path.name
    if not path.is_file():
        problems.append(
            Problem(file, None, None, f"missing required file (looked in {path.parent})")
        )
        return None
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(Problem(file, None, None, f"not UTF-8: {exc.reason} at byte {exc.start}"))
        return None
    except OSError as exc:
        problems.append(Problem(file, None, None, f"unreadable: {exc.strerror}"))
        return None
    lines = text.split("\n") if text and not any(c in text for c in _CSV_SPECIAL) else []
    if lines and max(map(len, lines)) <= csv.field_size_limit():
        # Nothing quoted, one kind of line end, no field over the csv module's limit: a row
        # is a line and a field is what lies between commas, exactly as the csv module would
        # read it, at a fraction of the cost (a province's roster is millions of rows).
        rows = [(number, line.split(",")) for number, line in enumerate(lines, 1)]
    else:
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            rows = _numbered(reader)
        except csv.Error as exc:
            problems.append(Problem(file, reader.line_num, None, f"unreadable CSV: {exc}"))
            return None
    expected = ",".join(header)
    if not rows:
        problems.append(Problem(file, 1, None, f"wrong header: expected {expected}, got nothing"))
        return None
    header_line, found = rows[0]
    if [name.strip() for name in found] != list(header):
        got = ",".join(found)
        problems.append(
            Problem(file, header_line, None, f"wrong header: expected {expected}, got {got}")
        )
        return None

    data: list[tuple[int, list[str]]] = []
    for line, row in rows[1:]:
        fields = [field.strip() for field in row]
        if not any(fields):
            continue
        if len(fields) != len(header):
            message = f"expected {len(header)} fields ({expected}), got {len(fields)}"
            problems.append(Problem(file, line, fields[0] or None, message))
            continue
        data.append((line, fields))
    return data


def _numbered(reader: _CsvReader) -> list[tuple[int, list[str]]]:
    """Rows with the line each starts on (a quoted field may span lines)."""
    rows: list[tuple[int, list[str]]] = []
    start = 1
    for row in reader:
        rows.append((start, row))
        start = reader.line_num + 1
    return rows
