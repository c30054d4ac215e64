"""Reading TOML config files with every problem collected, not just the first.

Each config module walks its file through :class:`Table`, which reports unknown keys and
wrong types at a path like ``rule[2] (citizen-needs).report[0]`` and returns None for a bad
value, so validation carries on and the caller gets the whole list at once.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from dispatch.durations import Duration
from dispatch.exceptions import DispatchConfigError, Problem

T = TypeVar("T")


class Issues:
    """The problems found in one file, in the order they were found."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def add(self, where: str | None, message: str, *, line: int | None = None) -> None:
        self.problems.append(Problem(self.file, line, where or None, message))

    def raise_if_any(self) -> None:
        if self.problems:
            raise DispatchConfigError(self.problems)


def read_toml(path: Path, issues: Issues) -> dict[str, Any] | None:
    """Parse ``path``; on a missing file or bad syntax record a problem and return None."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        issues.add(None, f"cannot read: {exc.strerror or exc}")
        return None
    return parse_toml(text, issues)


def parse_toml(text: str, issues: Issues) -> dict[str, Any] | None:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        issues.add(None, f"invalid TOML: {exc}")
        return None


def describe(value: object) -> str:
    """A value as it would read in the file, with its TOML type."""
    kind = {
        bool: "boolean",
        int: "integer",
        float: "float",
        str: "string",
        list: "array",
        dict: "table",
    }.get(type(value), type(value).__name__)
    shown = repr(value) if not isinstance(value, (list, dict)) else ""
    return f"{kind} {shown}".strip()


class Table:
    """One TOML table under validation.

    Construction reports keys outside ``allowed``; the getters check types and report at the
    table's path, returning None (or the default) when the value is missing or wrong.
    """

    def __init__(
        self,
        data: Mapping[str, Any],
        where: str | None,
        issues: Issues,
        allowed: Iterable[str],
    ) -> None:
        self.data = data
        self.where = where
        self.issues = issues
        allowed = tuple(allowed)
        for key in data:
            if key not in allowed:
                expected = ", ".join(allowed)
                self.error(f"unknown key {key!r}; expected one of {expected}")

    def error(self, message: str) -> None:
        self.issues.add(self.where, message)

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def _get(
        self,
        key: str,
        check: Callable[[Any], bool],
        expected: str,
        *,
        required: bool,
    ) -> Any:
        if key not in self.data:
            if required:
                self.error(f"missing required key {key!r}")
            return None
        value = self.data[key]
        if not check(value):
            self.error(f"{key}: expected {expected}, got {describe(value)}")
            return None
        return value

    def text(self, key: str, *, required: bool = False) -> str | None:
        value: str | None = self._get(
            key, lambda v: isinstance(v, str), "a string", required=required
        )
        if value is not None and not value.strip():
            self.error(f"{key}: must not be empty")
            return None
        return value

    def flag(self, key: str, *, required: bool = False) -> bool | None:
        value: bool | None = self._get(
            key, lambda v: isinstance(v, bool), "true or false", required=required
        )
        return value

    def integer(self, key: str, *, required: bool = False) -> int | None:
        value: int | None = self._get(
            key,
            lambda v: isinstance(v, int) and not isinstance(v, bool),
            "an integer",
            required=required,
        )
        return value

    def texts(self, key: str, *, required: bool = False) -> tuple[str, ...] | None:
        value: list[str] | None = self._get(
            key,
            lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
            "an array of strings",
            required=required,
        )
        return None if value is None else tuple(value)

    def dates(self, key: str) -> tuple[date, ...] | None:
        value: list[date] | None = self._get(
            key,
            lambda v: isinstance(v, list) and all(_is_date(i) for i in v),
            "an array of dates like 2026-01-04",
            required=False,
        )
        return None if value is None else tuple(value)

    def day(self, key: str, *, required: bool = False) -> date | None:
        value: date | None = self._get(
            key, _is_date, "a date like 2026-01-01 (unquoted)", required=required
        )
        return value

    def table(self, key: str, *, required: bool = False) -> Mapping[str, Any] | None:
        value: Mapping[str, Any] | None = self._get(
            key, lambda v: isinstance(v, dict), "a table", required=required
        )
        return value

    def tables(self, key: str) -> list[Mapping[str, Any]]:
        """An array of tables (``[[key]]``); empty when absent or wrong."""
        value: list[Mapping[str, Any]] | None = self._get(
            key,
            lambda v: isinstance(v, list) and all(isinstance(i, dict) for i in v),
            f"an array of tables ([[{key}]])",
            required=False,
        )
        return value or []

    def duration(self, key: str, *, required: bool = False) -> Duration | None:
        text = self.text(key, required=required)
        return None if text is None else self.parse_duration(key, text)

    def parse_duration(self, key: str, text: str) -> Duration | None:
        try:
            return Duration.parse(text)
        except ValueError as exc:
            self.error(f"{key}: {exc}")
            return None

    def choice(self, key: str, parse: Callable[[str], T], *, required: bool = False) -> T | None:
        """A string parsed by ``parse``, whose ValueError message is reported as it is."""
        text = self.text(key, required=required)
        if text is None:
            return None
        try:
            return parse(text)
        except ValueError as exc:
            self.error(str(exc))
            return None


def _is_date(value: object) -> bool:
    # TOML local dates arrive as date; offset or local date-times are datetime (a subclass).
    return isinstance(value, date) and not isinstance(value, datetime)


def enum_parser(enum: Callable[[str], T], noun: str, values: Iterable[str]) -> Callable[[str], T]:
    """A parser for ``Table.choice`` that names the accepted values on failure."""
    accepted = ", ".join(values)

    def parse(text: str) -> T:
        try:
            return enum(text)
        except ValueError:
            raise ValueError(f"unknown {noun} {text!r}; expected one of {accepted}") from None

    return parse
