"""Pending deadlines in memory: a heap ordered by due time, per case, with no clock of its own.

The caller owns time: it asks :meth:`DeadlineTimer.pop_due` with its clock's ``now`` and fires
what comes back. Re-arming a case replaces its whole set, so a timer never outlives the state
that wanted it; stale heap entries are skipped when they surface (lazy deletion), which keeps
arming O(log n) without searching the heap. Stale entries are also dropped all at once when
they outnumber the live ones (the heap is rebuilt), so a long-running server's heap stays
within about twice its pending deadlines: every write re-arms its case's whole set, and a
resolved case's deadlines, days away, would otherwise stay in the heap until they surfaced.
"""

from __future__ import annotations

import heapq
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime

__all__ = ["DeadlineTimer"]


class DeadlineTimer:
    """The deadlines that should fire, by case and key."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, str, str]] = []
        self._armed: dict[str, dict[str, datetime]] = {}
        self._count = 0

    def __len__(self) -> int:
        """How many deadlines are pending."""
        return self._count

    def __repr__(self) -> str:
        return (
            f"DeadlineTimer(pending={self._count}, cases={len(self._armed)}, "
            f"entries={len(self._heap)})"
        )

    @property
    def entries(self) -> int:
        """Heap entries held, pending and stale (what the timer's memory grows with)."""
        return len(self._heap)

    def arm(self, case_id: str, key: str, due: datetime) -> None:
        """Add (or move) one deadline."""
        self._arm(case_id, key, due)
        self._compact()

    def _arm(self, case_id: str, key: str, due: datetime) -> None:
        # No compaction here: in the middle of ``replace`` a case's unchanged deadlines are
        # not back in its map yet, and a compaction would drop their heap entries for good.
        if not key.startswith(case_id):
            key = sys.intern(key)  # urge:1, supervise:1...: the same few keys on every case
        armed = self._armed.setdefault(case_id, {})
        if key not in armed:
            self._count += 1
        armed[key] = due
        heapq.heappush(self._heap, (due, case_id, key))

    def load(self, deadlines: Iterable[tuple[str, str, datetime]]) -> int:
        """Arm many (case, key, due) at once, as a restart does; return how many were added.

        One pass and one heapify (O(n)) instead of a push each (O(n log n)). Rows read back
        from a database carry a fresh copy of the case id on every row: the case's map keeps
        one, so a case's deadlines share its id, and the round keys (``urge:1``...) are
        interned, which is most of what a pending deadline costs beyond its heap entry.
        """
        armed_map = self._armed
        heap = self._heap
        ids: dict[str, str] = {}
        added = 0
        for case_id, key, due in deadlines:
            case_id = ids.setdefault(case_id, case_id)
            armed = armed_map.get(case_id)
            if armed is None:
                armed = armed_map[case_id] = {}
            if not key.startswith(case_id):
                key = sys.intern(key)
            if key not in armed:
                added += 1
            armed[key] = due
            heap.append((due, case_id, key))
        heapq.heapify(heap)
        self._count += added
        return added

    def replace(self, case_id: str, deadlines: Mapping[str, datetime]) -> None:
        """Make ``deadlines`` the case's whole pending set (empty: none)."""
        previous = self._armed.pop(case_id, {})
        self._count -= len(previous)
        for key, due in deadlines.items():
            if previous.get(key) == due:
                # Unchanged: its heap entry is still there, and valid again once the key is
                # back at the same time. Pushing it again would leave a duplicate behind on
                # every transition of the case.
                self._armed.setdefault(case_id, {})[key] = due
                self._count += 1
            else:
                self._arm(case_id, key, due)
        self._compact()

    def pending(self, case_id: str) -> dict[str, datetime]:
        return dict(self._armed.get(case_id, {}))

    def next_due(self) -> datetime | None:
        """The earliest pending deadline, or None."""
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: datetime) -> list[tuple[str, str]]:
        """Remove and return (case, key) of every deadline due at or before ``now``, earliest
        first."""
        fired: list[tuple[str, str]] = []
        while self._heap:
            self._drop_stale()
            if not self._heap or self._heap[0][0] > now:
                break
            _, case_id, key = heapq.heappop(self._heap)
            armed = self._armed[case_id]
            del armed[key]
            if not armed:
                del self._armed[case_id]
            self._count -= 1
            fired.append((case_id, key))
        return fired

    def _compact(self) -> None:
        """Drop stale entries once they outnumber the live ones: a deadline moved or dropped
        days before its time would otherwise hold its heap entry until then."""
        heap = self._heap
        if len(heap) <= 2 * self._count + 1024:
            return
        armed = self._armed
        self._heap = [e for e in heap if armed.get(e[1], {}).get(e[2]) == e[0]]
        heapq.heapify(self._heap)

    def _drop_stale(self) -> None:
        heap = self._heap
        while heap:
            due, case_id, key = heap[0]
            if self._armed.get(case_id, {}).get(key) == due:
                return
            heapq.heappop(heap)
