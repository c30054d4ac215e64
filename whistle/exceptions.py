"""Errors of the whistle package: those the HTTP layer turns into responses, and those of
whistle's own config files (each a :class:`~grids.exceptions.ConfigError` naming its file)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grids.exceptions import ConfigError

__all__ = [
    "CameraConfigError",
    "CaseNotFound",
    "Conflict",
    "FieldError",
    "Forbidden",
    "HotlineConfigError",
    "IdempotencyConflict",
    "InvalidWhistle",
    "Overloaded",
    "RateLimited",
    "StoreBusy",
    "StoreUnavailable",
    "StoreUrlError",
    "Unauthenticated",
    "WebhookConfigError",
    "WhistleError",
]


class WhistleError(Exception):
    """Base class for errors the API reports to the caller."""


@dataclass(frozen=True, slots=True)
class FieldError:
    """One bad field: a dotted path (``location.lat``) and why it is bad.

    ``reason`` is English, for the API's callers and the logs. ``code`` names the kind of
    reason (``too_long``) and ``params`` its values (``(("max", "2000"),)``), so that a page
    can say it in the reader's language (whistle/web/i18n/field.py ``REASONS``); a reason
    without a code is shown as it is.
    """

    field: str
    reason: str
    code: str = ""
    params: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "reason": self.reason}
        if self.code:
            out["code"] = self.code
            out["params"] = dict(self.params)
        return out


class InvalidWhistle(WhistleError):
    """The request names the fields that are wrong; nothing was stored."""

    def __init__(self, errors: list[FieldError], *, status: int = 422) -> None:
        self.errors = errors
        self.status = status
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors))


class IdempotencyConflict(WhistleError):
    """An Idempotency-Key was reused with a different request body.

    ``whistle_id`` is the whistle the key made, when the caller may be told (None: not named,
    as on the public citizens' door, whose callers share one address's namespace).
    """

    def __init__(self, key: str, whistle_id: str | None) -> None:
        self.key = key
        self.whistle_id = whistle_id
        made = "" if whistle_id is None else f" for whistle {whistle_id}"
        super().__init__(
            f"Idempotency-Key {key!r} was already used{made} with a different request body"
        )


class StoreUnavailable(WhistleError):
    """The database cannot take writes right now (locked, read-only, full, I/O error)."""


class Conflict(WhistleError):
    """The case changed between reading it and writing to it; read it again and retry."""


class Unauthenticated(WhistleError):
    """No credentials, or credentials that do not hold (HTTP 401)."""


class Forbidden(WhistleError):
    """Authenticated, but not allowed to do this here (HTTP 403)."""


class RateLimited(WhistleError):
    """Too many requests from one token or address (HTTP 429)."""

    def __init__(self, retry_after: float, key: str) -> None:
        self.retry_after = retry_after
        self.key = key
        super().__init__(f"too many requests; retry after {retry_after:.0f} s")


class StoreBusy(WhistleError):
    """The write queue is full: the caller should retry shortly."""


class StoreUrlError(ValueError):
    """A database location (``--db``) no store backend of this build takes: an unknown
    scheme, or a malformed sqlite URL. The message says which and why."""


class Overloaded(WhistleError):
    """Too much expensive work (password checks) is already running or waiting (HTTP 503)."""


class CaseNotFound(LookupError):
    """No whistle with that id."""


class CameraConfigError(ConfigError):
    """``cameras.csv`` (the camera registry, 天眼) is invalid."""


class WebhookConfigError(ConfigError):
    """``webhooks.csv`` (the responders' webhook endpoints) is invalid."""


class HotlineConfigError(ConfigError):
    """``hotline_categories.csv`` (12345 hotline category -> catalog code) is invalid."""
