"""Durable storage: the Store interface and its SQLite implementation."""

from whistle.store.base import (
    AssignmentRow,
    Created,
    Duplicate,
    NewWhistle,
    Page,
    PendingDeadline,
    RecentWhistle,
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
from whistle.store.readouts import CaseFacts, OverdueCase
from whistle.store.sqlite import SqliteStore

__all__ = [
    "AssignmentRow",
    "CaseFacts",
    "Created",
    "Duplicate",
    "NewWhistle",
    "OverdueCase",
    "Page",
    "PendingDeadline",
    "RecentWhistle",
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
