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
from collections.abc import Mapping
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
        return f"DeadlineTimer(pending={self._count}, cases={len(self._armed)})"

    def arm(self, case_id: str, key: str, due: datetime) -> None:
        """Add (or move) one deadline."""
        armed = self._armed.setdefault(case_id, {})
        if key not in armed:
            self._count += 1
        armed[key] = due
        heapq.heappush(self._heap, (due, case_id, key))
        self._compact_if_stale()

    def replace(self, case_id: str, deadlines: Mapping[str, datetime]) -> None:
        """Make ``deadlines`` the case's whole pending set (empty: none)."""
        previous = self._armed.pop(case_id, {})
        self._count -= len(previous)
        for key, due in deadlines.items():
            self.arm(case_id, key, due)
        self._compact_if_stale()

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

    def _compact_if_stale(self) -> None:
        # Amortised O(1): a rebuild costs O(n) and happens after at least n stale pushes.
        if len(self._heap) > 2 * self._count + 64:
            self._heap = [
                (due, case_id, key)
                for case_id, armed in self._armed.items()
                for key, due in armed.items()
            ]
            heapq.heapify(self._heap)

    def _drop_stale(self) -> None:
        heap = self._heap
        while heap:
            due, case_id, key = heap[0]
            if self._armed.get(case_id, {}).get(key) == due:
                return
            heapq.heappop(heap)
