"""Seeded routing requests on the shipped county and a compact digest of each decision.

The recorded digests (tests/data/dispatch/routing-golden.json) were made by the router as it
was before the routing speed-ups, so the test that replays them proves the faster code takes
exactly the same decisions. Regenerate them only for a deliberate change of behaviour:

    .venv/bin/python -m tests.support.routing_golden --write
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from dispatch import (
    Decision,
    DispatchConfig,
    DutyRoster,
    Router,
    RouteRequest,
    Source,
    Urgency,
    load_dispatch_config,
)
from grids import Hierarchy, Level
from grids.loader import load_hierarchy

ROOT = Path(__file__).resolve().parents[2]

CONFIG = ROOT / "config"
GOLDEN = ROOT / "tests" / "data" / "dispatch" / "routing-golden.json"
SEED = 20260109
COUNT = 500


@dataclass(frozen=True, slots=True)
class Case:
    """One seeded whistle: a point to locate, then what to route (and with or without duty)."""

    lat: float
    lon: float
    cell: str | None  # routed as given, without locating (a cell of any level)
    source: Source
    category: str
    urgency: Urgency | None
    received_at: datetime
    duty: bool


def cases(hierarchy: Hierarchy, config: DispatchConfig, count: int, seed: int) -> list[Case]:
    """``count`` seeded whistles: every source and category, urgencies, off-duty hours,
    weekends and holidays, in Shanghai and UTC, at cell centres, corners (shared edges) and
    random points of the county (some outside it)."""
    rng = random.Random(seed)
    cells = list(hierarchy.cells())
    by_level = {level: list(hierarchy.cells(level=level)) for level in Level}
    categories = [category.code for category in config.catalog]
    holidays = [day for holiday in config.calendar.holidays for day in holiday.days_off()]
    makeup = [day for holiday in config.calendar.holidays for day in holiday.workdays]
    root = hierarchy.cell(hierarchy.root).geometry
    west, south, east, north = root.bounds
    tz = config.calendar.timezone
    result: list[Case] = []
    for _ in range(count):
        roll = rng.random()
        cell_code: str | None = None
        if roll < 0.1:
            # Every level alike: a whistle may be placed on a town or community as a whole.
            cell_code = rng.choice(by_level[rng.choice(list(Level))]).code
            lat = lon = 0.0
        elif roll < 0.5:
            cell = rng.choice(cells)
            lat, lon = hierarchy.centroid(cell.code) or (0.0, 0.0)
        elif roll < 0.6:
            # A corner is on the edges of up to four cells: the tie-break decides.
            x0, y0, x1, y1 = rng.choice(cells).geometry.bounds
            lat, lon = rng.choice((y0, y1)), rng.choice((x0, x1))
        else:
            # A little beyond the county on every side, so some points are outside it.
            lat = rng.uniform(south - 0.01, north + 0.01)
            lon = rng.uniform(west - 0.01, east + 0.01)
        day_roll = rng.random()
        if day_roll < 0.2:
            day = rng.choice(holidays)
        elif day_roll < 0.3:
            day = rng.choice(makeup)
        else:
            day = date(2026, 1, 1) + timedelta(days=rng.randrange(400))
        moment = datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(
            seconds=rng.randrange(86_400)
        )
        if rng.random() < 0.2:
            moment = moment.astimezone(UTC)
        result.append(
            Case(
                lat=lat,
                lon=lon,
                cell=cell_code,
                source=rng.choice(list(Source)),
                category=rng.choice(categories),
                urgency=rng.choice((None, None, Urgency.URGENT, Urgency.NORMAL)),
                received_at=moment,
                duty=rng.random() < 0.8,
            )
        )
    return result


def digest(decision: Decision) -> str:
    """A short hash of the whole decision as the API shows it (trace and deadlines too)."""
    text = json.dumps(decision.to_dict(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def outcome(router: Router, duty: DutyRoster, case: Case) -> list[Any]:
    """``[located cell, responders or boards chosen, digest]``, or ``[None]`` when outside."""
    hierarchy = router.hierarchy
    cell = hierarchy.locate(case.lat, case.lon) if case.cell is None else hierarchy.cell(case.cell)
    if cell is None:
        return [None]
    request = RouteRequest(
        source=case.source,
        category=case.category,
        cell=cell.code,
        received_at=case.received_at,
        urgency=case.urgency,
    )
    decision = router.route(request, on_duty=duty.on_duty if case.duty else None)
    chosen = [a.responder_id or f"board@{a.cell}" for a in decision.assignments]
    return [cell.code, chosen, digest(decision)]


def load() -> tuple[Router, DutyRoster, DispatchConfig]:
    hierarchy = load_hierarchy(CONFIG)
    config = load_dispatch_config(CONFIG)
    router = Router.compile(hierarchy, config)
    return router, DutyRoster.load(CONFIG, hierarchy, config.calendar), config


def outcomes(count: int = COUNT, seed: int = SEED) -> list[list[Any]]:
    router, duty, config = load()
    return [outcome(router, duty, case) for case in cases(router.hierarchy, config, count, seed)]


def main() -> None:
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: routing_golden.py --write")
    recorded = outcomes()
    levels = sorted({len(o[0]) for o in recorded if o[0] is not None})
    GOLDEN.write_text(
        json.dumps(
            {"seed": SEED, "count": COUNT, "decisions": recorded},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"wrote {len(recorded)} decisions to {GOLDEN} (cell code lengths {levels})")


if __name__ == "__main__":
    main()
