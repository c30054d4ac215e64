"""Durable storage: the Store interface and its SQLite implementation."""

from whistle.store.base import (
    AssignmentRow,
    Created,
    Duplicate,
    NewWhistle,
    Page,
    PendingDeadline,
    Repeat,
    SessionRecord,
    Silence,
    StatsQuery,
    Store,
    StoredWhistle,
    TokenRecord,
    Transition,
    UserRecord,
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
    "Repeat",
    "SessionRecord",
    "Silence",
    "SqliteStore",
    "StatsQuery",
    "Store",
    "StoredWhistle",
    "TokenRecord",
    "Transition",
    "UserRecord",
    "WhistleQuery",
    "WhistleRow",
]
