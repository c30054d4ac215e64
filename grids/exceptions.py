"""Errors raised by the grids package."""

from __future__ import annotations

__all__ = ["GridConfigError", "Problem", "UnknownCellError"]

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


class GridConfigError(ValueError):
    """The hierarchy or roster files are invalid. Carries every problem found, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class UnknownCellError(KeyError):
    """A grid code that is not in the hierarchy."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(code)

    def __str__(self) -> str:
        return f"unknown grid code {self.code!r}"
