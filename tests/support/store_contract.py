"""The contract suite's backend handle (conftest.py makes one per test and backend)."""

from __future__ import annotations

from dataclasses import dataclass, field

from whistle.bus import Bus
from whistle.store import Store, open_store

# The Store backends the contract runs on: the PostgreSQL one on a fresh database per test
# (tests/support/postgres.py; skipped, or failed under CI=true, without a server).
BACKENDS = ["sqlite", "postgresql"]


@dataclass
class Backend:
    """Where one test's store lives, and the stores it opened there (closed at the end)."""

    name: str
    url: str
    opened: list[Store] = field(default_factory=list)

    async def open(self, bus: Bus | None = None, **options: int) -> Store:
        """A store at ``url`` (the same data each time), publishing on ``bus``."""
        store = await open_store(self.url, bus or Bus(), **options)
        self.opened.append(store)
        return store
