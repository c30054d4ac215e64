"""Errors raised by the dispatch package.

Config problems reuse :class:`grids.Problem` so that one start-up error lists every problem
in the grid files and the dispatch files in the same ``file:line: subject: message`` form.
The lifecycle's refusals (:class:`IllegalTransition`, :class:`NotYours`,
:class:`InvalidAction`) are what the HTTP layer turns into 409, 403 and 422.
"""

from __future__ import annotations

from datetime import date, datetime

from grids.exceptions import ConfigError, Problem

__all__ = [
    "CalendarEndError",
    "DispatchConfigError",
    "DutyConfigError",
    "IllegalTransition",
    "InvalidAction",
    "NotYours",
    "Problem",
    "TeamsConfigError",
    "UnknownCategoryError",
]


class DispatchConfigError(ConfigError):
    """The dispatch config (rules, categories, calendar) is invalid, or does not fit the grids.

    Carries every problem found, in file order, so one failed start-up shows them all.
    """


class DutyConfigError(DispatchConfigError):
    """``duty.csv`` (the duty roster, 值班表) is invalid."""


class TeamsConfigError(DispatchConfigError):
    """``teams.csv`` (the service teams, 服务队) is invalid."""


class UnknownCategoryError(KeyError):
    """A category code that is not in the catalog."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(code)

    def __str__(self) -> str:
        return f"unknown category {self.code!r}"


class CalendarEndError(ValueError):
    """A working-time deadline falls past the last day the calendar knows the holidays of.

    Beyond that day every weekday would count as a working day, so the deadline would be
    wrong without anyone noticing; this error makes it loud instead.
    """

    def __init__(self, end: date, due: datetime) -> None:
        self.end = end
        self.due = due
        super().__init__(
            f"the working calendar ends on {end.isoformat()} and a deadline would fall on "
            f"{due.date().isoformat()}: add the next year's holidays to calendar.toml"
        )


class IllegalTransition(Exception):
    """The action does not fit the case's current state (HTTP 409)."""

    def __init__(self, message: str, *, status: str, allowed: list[str]) -> None:
        self.status = status
        self.allowed = allowed
        super().__init__(message)


class NotYours(IllegalTransition):
    """The actor is not the assignment's responder (nor in the team that claimed it)."""


class InvalidAction(Exception):
    """An argument of the action is wrong (HTTP 422): ``field`` says which."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")
