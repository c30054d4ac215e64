"""Event-log records: what the store appends and the bus carries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Event", "NewEvent", "StreamFacts"]


@dataclass(frozen=True, slots=True)
class StreamFacts:
    """What a live stream filters and scopes on, about the case an event belongs to, as it
    stands once the event's write is committed: its cell, its status and its 受理编号.

    Set where the event is made (intake, the lifecycle) and carried on the bus with it, so
    that the stream never reads the store for a live event. Not stored: an event read back
    from the log has none, and the stream reads the facts of such events in one batch.
    """

    grid: str | None
    status: str | None
    case_number: str | None = None


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event that is about to be appended; the store gives it its sequence number."""

    type: str
    whistle_id: str
    at: datetime
    actor: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # Carried to the bus, never stored (see StreamFacts); left out of equality.
    case: StreamFacts | None = field(default=None, compare=False, repr=False)


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
    case: StreamFacts | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "type": self.type,
            "whistle_id": self.whistle_id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "data": self.data,
        }
