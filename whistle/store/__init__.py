"""Durable storage: the Store interface and its SQLite implementation."""

from whistle.store.base import (
    AssignmentRow,
    Created,
    Duplicate,
    NewWhistle,
    Page,
    PendingDeadline,
    Silence,
    Store,
    StoredWhistle,
    Transition,
    WhistleQuery,
    WhistleRow,
)
from whistle.store.sqlite import SqliteStore

__all__ = [
    "AssignmentRow",
    "Created",
    "Duplicate",
    "NewWhistle",
    "Page",
    "PendingDeadline",
    "Silence",
    "SqliteStore",
    "Store",
    "StoredWhistle",
    "Transition",
    "WhistleQuery",
    "WhistleRow",
]
