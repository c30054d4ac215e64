"""Errors raised by the grids package, and the config error every package's config files share.

Each config file's errors are a :class:`ConfigError` of their own class (``GridConfigError``
for the grid files, ``DispatchConfigError`` and its kin in ``dispatch.exceptions``,
``CameraConfigError`` and its kin in ``whistle.exceptions``), and each problem names its file
and line, so one start-up error lists everything to fix and says where.
"""

from __future__ import annotations

__all__ = ["ConfigError", "GridConfigError", "Problem", "UnknownCellError"]

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a config file: where it is and what is wrong."""

    file: str
    line: int | None
    code: str | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        subject = f" {self.code}:" if self.code else ""
        return f"{where}:{subject} {self.message}"


class ConfigError(ValueError):
    """Config files are invalid. Carries every problem found, in file order; the message is
    one ``file:line: subject: message`` line per problem."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @property
    def files(self) -> list[str]:
        """The files the problems are in, each once, in the order they first appear."""
        return list(dict.fromkeys(p.file for p in self.problems))


class GridConfigError(ConfigError):
    """The grid files (``grids.csv``, ``grids.geojson``) or the roster (``responders.csv``)
    are invalid."""


class UnknownCellError(KeyError):
    """A grid code that is not in the hierarchy."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(code)

    def __str__(self) -> str:
        return f"unknown grid code {self.code!r}"
