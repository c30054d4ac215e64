"""Event-log records: what the store appends and the bus carries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Event", "NewEvent"]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event that is about to be appended; the store gives it its sequence number."""

    type: str
    whistle_id: str
    at: datetime
    actor: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Event:
    """An event as stored: ``seq`` is its place in the append-only log, unique and increasing.

    ``type`` doubles as the bus topic (``whistle.received``, ``whistle.routed`` ...).
    Subscribers may see an event twice after a crash (delivery is at least once), never
    not at all; ``seq`` lets them drop repeats.
    """

    seq: int
    type: str
    whistle_id: str
    at: datetime
    actor: str | None
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "type": self.type,
            "whistle_id": self.whistle_id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "data": self.data,
        }
