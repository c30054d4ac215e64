"""Errors raised by the dispatch package.

Config problems reuse :class:`grids.Problem` so that one start-up error lists every problem
in the grid files and the dispatch files in the same ``file:line: subject: message`` form.
"""

from __future__ import annotations

from collections.abc import Iterable

from grids.exceptions import Problem

__all__ = ["DispatchConfigError", "Problem", "UnknownCategoryError"]


class DispatchConfigError(ValueError):
    """The dispatch config (rules, categories, calendar) is invalid, or does not fit the grids.

    Carries every problem found, in file order, so one failed start-up shows them all.
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UnknownCategoryError(KeyError):
    """A category code that is not in the catalog."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(code)

    def __str__(self) -> str:
        return f"unknown category {self.code!r}"
