"""Durable storage: the Store interface, its SQLite implementation, and ``open_store`` to
open one from ``--db`` (a path or a URL)."""

from whistle.store.base import (
    AssignmentRow,
    ConfigVersionRecord,
    Created,
    Duplicate,
    NewWhistle,
    Page,
    PendingDeadline,
    Placed,
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
from whistle.store.location import StoreUrl, open_store
from whistle.store.party import HoursRow, PartyKind, PartyQuery, PartyRecord, PartyStore
from whistle.store.readouts import CaseFacts, OverdueCase
from whistle.store.sqlite import SqliteStore

__all__ = [
    "AssignmentRow",
    "CaseFacts",
    "ConfigVersionRecord",
    "Created",
    "Duplicate",
    "HoursRow",
    "NewWhistle",
    "OverdueCase",
    "Page",
    "PartyKind",
    "PartyQuery",
    "PartyRecord",
    "PartyStore",
    "PendingDeadline",
    "Placed",
    "RecentWhistle",
    "Repeat",
    "SessionRecord",
    "Silence",
    "SqliteStore",
    "StatsQuery",
    "Store",
    "StoreUrl",
    "StoredWhistle",
    "TokenRecord",
    "Transition",
    "UserRecord",
    "WhistleQuery",
    "WhistleRow",
    "open_store",
]
