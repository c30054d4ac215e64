"""Reloading the grids of a running server (SIGHUP, ``POST /api/v1/admin/reload-grids``).

The new hierarchy is loaded (from the compiled cache when the files are unchanged) and
checked in a worker thread while the old one keeps answering; only when every check passes
is it swapped in, in one step on the event loop, so no whistle is refused and none sees half
of each. A config that fails any check leaves the running hierarchy as it was and answers
the problems. The swap is :func:`reload_hierarchy`: the hierarchy object every component
holds adopts the new columns (``Hierarchy.adopt``, one reference assignment) and the router
plans again over it (``Router.rebind``).

What is checked against the new grids is what start-up checks: the grid files themselves
(every check of ``grids.loader``), the catalog's fit (``check_fit``), and the files that name
cells and responders (duty rota, service teams, cameras, the gazetteer's places.csv). The
gazetteer is built for the new grids before the swap and handed over in the same step: its
names are rows of the columns they were indexed from, so the old one would read the new
columns with the old rows. Those files, the rules, catalog
and calendar are read again only to check them here; swapping them is the versioned
dispatch config's job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog
from aiohttp import web

from dispatch import DispatchConfigError, DutyRoster, Router, Teams
from dispatch.fit import check_fit
from grids.cache import load_compiled
from grids.exceptions import ConfigError, Problem
from grids.gazetteer import Gazetteer, load_aliases
from grids.hierarchy import Hierarchy
from whistle.cameras import CameraRegistry

__all__ = ["GridReloader", "ReloadOutcome", "reload_hierarchy"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    """What a reload did: ``problems`` empty when the new hierarchy is in place."""

    swapped: bool
    cells: int
    responders: int
    problems: tuple[Problem, ...] = ()


class GridReloader:
    """Reloads one app's grids; one reload at a time (a second waits for the first)."""

    def __init__(
        self,
        config_dir: Path,
        cache_dir: Path | None,
        router: Callable[[], Router],
        places: Callable[[Gazetteer], None] = lambda gazetteer: None,
    ) -> None:
        self._config_dir = config_dir
        self._cache_dir = cache_dir
        # The router of the config version in force when a reload runs (versions swap it).
        self._router = router
        # Who takes the new grids' gazetteer (the intake), called in the swap's step.
        self._places = places
        self._lock = asyncio.Lock()

    def _candidate(self) -> tuple[Hierarchy, Gazetteer]:
        """The new hierarchy and its gazetteer, checked as start-up checks them; raises
        ConfigError."""
        config_dir, router = self._config_dir, self._router()
        hierarchy = load_compiled(config_dir, self._cache_dir)
        problems = check_fit(hierarchy, router.catalog)
        if problems:
            raise DispatchConfigError(problems)
        DutyRoster.load(config_dir, hierarchy, router.calendar)
        Teams.load(config_dir, hierarchy)
        CameraRegistry.load(config_dir, hierarchy)
        aliases = load_aliases(config_dir, hierarchy)
        return hierarchy, Gazetteer.build(hierarchy, aliases, cache_dir=self._cache_dir)

    async def reload(self) -> ReloadOutcome:
        async with self._lock:
            router = self._router()
            current = router.hierarchy
            try:
                candidate, gazetteer = await asyncio.to_thread(self._candidate)
            except ConfigError as exc:
                log.error("grids.reload_refused", problems=len(exc.problems), detail=str(exc))
                return ReloadOutcome(
                    False, len(current), current.responder_count, tuple(exc.problems)
                )
            # No await from here on: requests see the old hierarchy or the new, never both.
            current.adopt(candidate)
            router.rebind()
            self._places(gazetteer)
            log.info("grids.reloaded", cells=len(current), responders=current.responder_count)
            return ReloadOutcome(True, len(current), current.responder_count)


GRID_RELOADER = web.AppKey("grid_reloader", GridReloader)


async def reload_hierarchy(app: web.Application) -> ReloadOutcome:
    """Load the app's grid files again and swap them in, or keep the old on any problem."""
    return await app[GRID_RELOADER].reload()
