"""The party-building service's errors (bad fields are whistle.exceptions.InvalidWhistle, a
caller outside its scope whistle.exceptions.Forbidden, as for cases)."""

from __future__ import annotations

__all__ = ["PartyNotFound", "PartyStateError"]


class PartyNotFound(LookupError):
    """No such record (HTTP 404)."""


class PartyStateError(Exception):
    """The action does not fit the record's state: a claim already closed, a registration
    already withdrawn (HTTP 409)."""
