"""The webhook outbox on PostgreSQL: one row per notice an event asks for, written in the
event's own transaction, claimed by one process at a time with FOR UPDATE SKIP LOCKED and a
lease, as the deadlines are (whistle/deliveries.py delivers them).

A row is ``(seq, idx)``: the event and its place in the event's ``notify`` list, which is
also the delivery id the receiver sees (``<whistle_id>.<seq>.<idx>``). A process delivering a
row renews its lease while it works; one that dies lets its rows go when their lease ends,
and another process claims them. A delivered (or given up, or endpoint-less) row is deleted.
The statements are single autocommit statements on the read pool: a claim must be visible to
the other processes at once, and must not wait behind this process's write batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from whistle.events import Event
from whistle.store.encoding import db_time
from whistle.store.postgres._common import EVENT_COLUMNS, Readers, event_of

__all__ = ["OUTBOX_INSERT", "Deliveries", "outbox_rows"]

OUTBOX_INSERT = "INSERT INTO webhook_outbox (seq, idx, whistle_id) VALUES ($1, $2, $3)"

# Rows nobody holds a running lease on, oldest first; SKIP LOCKED passes over rows another
# process is claiming this very moment.
_CLAIM = (
    "UPDATE webhook_outbox o SET claimed_by = $1, lease_until = $3 FROM ("
    "SELECT seq, idx FROM webhook_outbox "
    "WHERE claimed_by IS NULL OR lease_until <= $2 "
    "ORDER BY seq, idx LIMIT $4 FOR UPDATE SKIP LOCKED) AS free "
    "WHERE o.seq = free.seq AND o.idx = free.idx "
    "RETURNING o.seq, o.idx"
)
_RENEW = (
    "UPDATE webhook_outbox SET lease_until = $2 WHERE claimed_by = $1 "
    "AND (seq, idx) IN (SELECT * FROM unnest($3::bigint[], $4::int[]))"
)
_FINISH = (
    "DELETE FROM webhook_outbox WHERE claimed_by = $1 "
    "AND (seq, idx) IN (SELECT * FROM unnest($2::bigint[], $3::int[]))"
)


def outbox_rows(events: Sequence[Event]) -> list[tuple[int, int, str]]:
    """The outbox rows of ``events``: one per entry of each event's notify list."""
    rows: list[tuple[int, int, str]] = []
    for event in events:
        notify: Any = event.data.get("notify")
        if isinstance(notify, list):
            rows.extend((event.seq, index, event.whistle_id) for index in range(len(notify)))
    return rows


class Deliveries:
    """This process's side of the outbox: claim, renew, finish (``origin``: its name)."""

    def __init__(self, readers: Readers, origin: str) -> None:
        self._readers = readers
        self._origin = origin

    def __repr__(self) -> str:
        return f"Deliveries(origin={self._origin!r})"

    async def claim(self, now: datetime, lease: timedelta, limit: int) -> list[tuple[Event, int]]:
        """Up to ``limit`` rows nobody else holds, with their events, oldest first."""
        if limit <= 0:
            return []
        rows = await self._readers.fetch(
            _CLAIM, self._origin, db_time(now), db_time(now + lease), limit
        )
        if not rows:
            return []
        seqs = sorted({int(r["seq"]) for r in rows})
        found = await self._readers.fetch(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE seq = ANY($1::bigint[])", seqs
        )
        events = {int(r["seq"]): event_of(r) for r in found}
        return sorted(
            ((events[int(r["seq"])], int(r["idx"])) for r in rows if int(r["seq"]) in events),
            key=lambda pair: (pair[0].seq, pair[1]),
        )

    async def renew(self, held: Sequence[tuple[int, int]], now: datetime, lease: timedelta) -> None:
        """Extend the lease of the rows this process is delivering."""
        if held:
            await self._readers.fetch(
                _RENEW,
                self._origin,
                db_time(now + lease),
                [seq for seq, _ in held],
                [idx for _, idx in held],
            )

    async def finish(self, done: Sequence[tuple[int, int]]) -> None:
        """Delete rows this process has settled (delivered, given up, or nobody to send to)."""
        if done:
            await self._readers.fetch(
                _FINISH, self._origin, [seq for seq, _ in done], [idx for _, idx in done]
            )
