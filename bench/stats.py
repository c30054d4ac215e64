"""Statistics benchmark: a county-year of cases, then the committee's queries timed.

Generates cases spread over 2026 and over the county's micro-grids, through the store's own
write path: ``SqliteStore.create_whistles`` (one unit of thousands of whole cases, each with
the same rows, events and statistics facts ``create_whistle`` writes) with each case's whole
history (received, routed, acknowledged on time or late, resolved, verified and closed on time
or late, some reopened, some held, rated). A small share goes step by step through
``SqliteStore.transition`` as the case service would. Then times ``statistics`` for the county
and for one town over the year, and one drill-down each.

    python bench/stats.py [--size tiny|full|large] [--json PATH] [--cases N] [--reuse]
                          [--config config] [--db var/bench-stats.sqlite3]

``--size full`` is a county-year, 500,000 cases; ``--size large`` (``make bench-large``) puts
ten times that into the same year (about 18 GB, and ten times the generation time: too long
for ``make bench``; the database is kept and reused). ``--size tiny`` is 3,000 cases, for
the smoke test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sqlite3
import statistics as stats
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Row, parser, peak_rss_mib, write_report  # noqa: E402
from grids import Hierarchy, Level, ResponderKind  # noqa: E402
from grids.loader import load_hierarchy  # noqa: E402
from whistle.bus import Bus  # noqa: E402
from whistle.events import NewEvent  # noqa: E402
from whistle.store import (  # noqa: E402
    AssignmentRow,
    NewWhistle,
    SqliteStore,
    StatsQuery,
    Transition,
    WhistleRow,
)

YEAR_START = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)  # 2026-01-01 00:00 in Shanghai
YEAR_END = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
NOW = YEAR_END + timedelta(days=1)
SECTION = "stats"
CHUNK = 5_000  # whole cases per create_whistles unit: one transaction each
SIZES = {"tiny": 3_000, "full": 500_000, "large": 5_000_000}
STEPPED = 0.01  # share of cases written through transition(), step by step

# (source, share, categories, who reports, push or claim)
MIX = [
    ("citizen", 0.45, ["E0101", "E0201", "E0401", "E0601"], "grid", "push"),
    ("citizen", 0.05, ["E0801"], "community", "claim"),
    ("camera", 0.20, ["E0403", "E0101"], "patrol", "push"),
    ("police", 0.10, ["E0701"], "police", "push"),
    ("community", 0.12, ["E0101", "E0201"], "department", "push"),
    ("town_committee", 0.08, ["E0601"], "unit", "push"),
]
GRADES = [
    ("very_satisfied", 0.45),
    ("satisfied", 0.30),
    ("basically_satisfied", 0.15),
    ("dissatisfied", 0.07),
    ("very_dissatisfied", 0.03),
]


class Places:
    """For each sampled micro-grid, who would report in for each kind of whistle."""

    def __init__(self, county: Hierarchy, rng: random.Random, sample: int = 3_000) -> None:
        micro = list(county.cells(level=Level.MICRO_GRID))
        rng.shuffle(micro)
        self.cells: list[tuple[str, str, dict[str, list[str]]]] = []
        for cell in micro[:sample]:
            grid = county.at_level(cell.code, Level.GRID).code
            community = county.at_level(cell.code, Level.COMMUNITY).code
            town = county.at_level(cell.code, Level.TOWN).code

            def ids(code: str, *kinds: ResponderKind) -> list[str]:
                return [r.id for k in kinds for r in county.responders_at(code, k)][:3]

            who = {
                "grid": ids(grid, ResponderKind.REGISTERED_MEMBER, ResponderKind.UNPOSTED_MEMBER)
                + ids(community, ResponderKind.COMMUNITY_POLICE)[:1],
                "community": ids(community, ResponderKind.REGISTERED_MEMBER),
                "patrol": ids(grid, ResponderKind.SAFETY_PATROL)
                or ids(community, ResponderKind.SAFETY_PATROL),
                "police": ids(town, ResponderKind.POLICE_STATION),
                "department": ids(town, ResponderKind.GRID_DEPARTMENT)[:1],
                "unit": ids(town, ResponderKind.JURISDICTION_UNIT)[:1],
            }
            path = "/" + "/".join(cell.path) + "/"
            self.cells.append((cell.code, path, {k: v or ["backstop"] for k, v in who.items()}))


def _pick(rng: random.Random, weighted: list[tuple[Any, float]]) -> Any:
    x, acc = rng.random(), 0.0
    for value, weight in weighted:
        acc += weight
        if x < acc:
            return value
    return weighted[-1][0]


class Case:
    """One synthetic case: its rows and its events, as the case service would write them."""

    def __init__(self, n: int, total: int, rng: random.Random, places: Places) -> None:
        self.id = f"BENCH{n:010d}"
        source, _, categories, who, mode = _pick(rng, [(m, m[1]) for m in MIX])
        self.source, self.mode = source, mode
        self.category = rng.choice(categories)
        code, path, responders = rng.choice(places.cells)
        self.code, self.path = code, path
        # In time order, as intake writes them (which is what puts a year's rows together).
        self.received = YEAR_START + timedelta(seconds=(n + rng.random()) / total * 365 * 86400)
        self.ack_due = self.received + timedelta(minutes=30)
        self.due = self.received + timedelta(days=7 if mode == "claim" else 2)
        crew = responders[who]
        self.assignments = [
            (f"{self.id}-{i + 1}", rid if mode == "push" else None) for i, rid in enumerate(crew)
        ][: 1 if mode == "claim" else 3]
        self.claimer = rng.choice(crew) if mode == "claim" else None
        self.rng = rng
        self.events: list[tuple[str, datetime, dict[str, Any]]] = []
        self.status = "dispatched"
        self.rework = 0
        self.resolution: str | None = None
        self.rating: str | None = None
        self._story()

    def _story(self) -> None:
        rng, t = self.rng, self.received
        first = self.assignments[0][0]
        if rng.random() < 0.06:  # nobody answered yet
            return
        t += timedelta(minutes=rng.lognormvariate(2.7, 0.8))  # median ~15 min, some late
        if self.mode == "claim":
            self.events.append(
                ("assignment.claimed", t, {"assignment": first, "responder_id": self.claimer})
            )
        else:
            self.events.append(("assignment.acknowledged", t, {"assignment": first}))
        self.status = "acknowledged"
        if rng.random() < 0.02:
            self.events.append(("case.held", t + timedelta(hours=1), {"reason": "等待"}))
            self.status = "on_hold"
            return
        if rng.random() < 0.10:  # still being worked on
            return
        rounds = 2 if rng.random() < 0.05 else 1
        for round_ in range(rounds):
            t += timedelta(hours=rng.lognormvariate(2.5, 1.0))  # median ~12 h
            self.events.append(("assignment.resolved", t, {"assignment": first, "note": "ok"}))
            self.resolution = t.isoformat()
            self.status = "resolved"
            t += timedelta(minutes=rng.uniform(10, 240))
            if round_ < rounds - 1:
                self.events.append(("case.reopened", t, {"reason": "返工"}))
                self.rework += 1
                self.resolution = None
                continue
            if rng.random() < 0.08:  # waiting for verification
                return
            on_time = datetime.fromisoformat(self.resolution) <= self.due
            self.events.append(("case.verified", t, {}))
            self.events.append(("case.closed", t, {"on_time": on_time}))
            self.status = "closed"
        if self.status == "closed" and rng.random() < 0.6:
            self.rating = _pick(rng, GRADES)
            t += timedelta(hours=rng.uniform(1, 48))
            self.events.append(("case.rated", t, {"grade": self.rating}))
            self.status = "rated"

    def case_doc(self) -> dict[str, Any]:
        return {
            "resolve_due": self.due.isoformat(),
            "rework": self.rework,
            "resolution": None if self.resolution is None else {"at": self.resolution},
            "rating": None if self.rating is None else {"grade": self.rating},
        }

    def new_whistle(self, *, whole: bool) -> NewWhistle:
        row = WhistleRow(
            id=self.id,
            received_at=self.received,
            source=self.source,
            category=self.category,
            urgency="normal",
            status=self.status if whole else "dispatched",
            grid_code=self.code,
            grid_path=self.path,
            grid_level=5,
            doc={"id": self.id, "source": self.source, "category": {"code": self.category}},
        )
        rows = [
            AssignmentRow(
                id=aid,
                whistle_id=self.id,
                responder_id=rid,
                kind="registered_member",
                mode=self.mode,
                status="dispatched" if self.mode == "push" else "open",
                cell=self.code,
                acknowledge_due=self.ack_due if self.mode == "push" else None,
                claim_due=None,
                resolve_due=self.due,
                doc={"id": aid},
            )
            for aid, rid in self.assignments
        ]
        events = [
            NewEvent("whistle.received", self.id, self.received, "bench", {"grid": self.code}),
            NewEvent("whistle.routed", self.id, self.received, "router", {"urgency": "normal"}),
        ]
        if whole:
            events += [NewEvent(t, self.id, at, "bench", data) for t, at, data in self.events]
        doc = self.case_doc() if whole else {"resolve_due": self.due.isoformat(), "rework": 0}
        return NewWhistle(row, rows, events, case_doc=doc)


async def generate(store: SqliteStore, county: Hierarchy, total: int) -> dict[str, Any]:
    """Write ``total`` cases; the next chunk is built while the store writes the last one
    (the writer's SQLite work runs in its own thread, outside the GIL)."""
    rng = random.Random(530524)
    places = Places(county, rng)
    started = time.perf_counter()
    cpu = time.process_time()  # every thread: this one's Python and the writer's SQLite
    main_cpu = time.thread_time()
    stepped = 0
    writing: asyncio.Future[Any] | None = None
    for start in range(0, total, CHUNK):
        cases = [Case(n, total, rng, places) for n in range(start, min(total, start + CHUNK))]
        whole: list[NewWhistle] = []
        steps: list[Case] = []
        for c in cases:
            if rng.random() < STEPPED:
                steps.append(c)
            else:
                whole.append(c.new_whistle(whole=True))
        if writing is not None:
            await writing
        if steps:
            # Step by step, many cases at once, as concurrent actions on the API would.
            await store.create_whistles([c.new_whistle(whole=False) for c in steps])
            await asyncio.gather(*(_step(store, c) for c in steps))
            stepped += len(steps)
        writing = asyncio.ensure_future(store.create_whistles(whole))
        if (start // CHUNK) % 20 == 0:
            print(f"  {start + len(cases):>9,} cases", file=sys.stderr, flush=True)
    if writing is not None:
        await writing
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    return {
        "seconds": round(seconds, 1),
        "per_s": round(total / seconds),
        "stepped": stepped,
        # On a shared machine wall time is noisy; CPU time per case is what the work costs.
        "cpu_seconds": round(cpu, 1),
        "main_thread_cpu_seconds": round(time.thread_time() - main_cpu, 1),
        "cpu_us_per_case": round(cpu / total * 1e6),
    }


async def _step(store: SqliteStore, case: Case) -> None:
    """The case's history one event per transition, as the case service writes it."""
    version = 2
    status = "dispatched"
    statuses = {
        "assignment.acknowledged": "acknowledged",
        "assignment.claimed": "acknowledged",
        "assignment.resolved": "resolved",
        "case.reopened": "in_progress",
        "case.held": "on_hold",
        "case.verified": "verified",
        "case.closed": "closed",
        "case.rated": "rated",
    }
    for type_, at, data in case.events:
        status = statuses.get(type_, status)
        await store.transition(
            Transition(
                whistle_id=case.id,
                expected_version=version,
                new_version=version + 1,
                status=status,
                case_doc=case.case_doc(),
                events=[NewEvent(type_, case.id, at, "bench", data)],
            )
        )
        version += 1


async def time_queries(store: SqliteStore, county: Hierarchy, runs: int) -> dict[str, Any]:
    town = next(county.cells(level=Level.TOWN))
    out: dict[str, Any] = {}
    for name, cell in (("county", county.cell(county.root)), ("town", town)):
        query = StatsQuery(
            grid_path="/" + "/".join(cell.path) + "/", since=YEAR_START, until=YEAR_END, now=NOW
        )
        times, cpu = [], []
        result: dict[str, Any] = {}
        for _ in range(runs):
            started, cpu_started = time.perf_counter(), time.process_time()
            result = await store.statistics(query)
            times.append(time.perf_counter() - started)
            # Both reader threads: on a busy machine this is steadier than the wall time.
            cpu.append(time.process_time() - cpu_started)
        started = time.perf_counter()
        ids = await store.cases_for("closed_on_time", "source:citizen", query, 500)
        drill = time.perf_counter() - started
        out[name] = {
            "grid": cell.code,
            "seconds": round(min(times), 3),
            "median_seconds": round(stats.median(times), 3),
            "cpu_seconds": round(min(cpu), 3),
            "drill_down_seconds": round(drill, 3),
            "drill_down_ids": len(ids),
            "counts": result["counts"],
            "durations": result["durations"],
        }
    return out


async def run(args: argparse.Namespace, total: int, db: Path) -> dict[str, Any]:
    county = load_hierarchy(args.config)
    store = SqliteStore(db, Bus(), max_queue=CHUNK * 4, max_batch=CHUNK)
    await store.open()
    try:
        generation = None
        if await store.count_whistles() < total:
            generation = await generate(store, county, total)
        cases = await store.count_whistles()
        queries = await time_queries(store, county, args.runs)
    finally:
        await store.close()
    return {"cases": cases, "generation": generation, "queries": queries}


def rows_of(report: dict[str, Any]) -> list[Row]:
    """The table rows of one database size."""
    n = report["cases"]
    label = f"{n:,} cases"
    rows = []
    gen = report["generation"]
    if gen:
        rows.append(
            Row(
                SECTION,
                f"generation, {label}",
                gen["per_s"],
                "cases/s",
                note=f"{gen['seconds']} s ({gen['cpu_us_per_case']} µs CPU a case) through "
                "SqliteStore.create_whistles "
                f"({gen['stepped']:,} step by step through transition()); "
                f"{report['db_bytes'] / 1e6:,.0f} MB on disk",
            )
        )
    for name, q in report["queries"].items():
        year = "county-year" if name == "county" else "town-year"
        target, met = ("", None)
        if name == "county" and n <= 500_000:
            target, met = "< 1 s", q["seconds"] < 1.0
        rows.append(
            Row(
                SECTION,
                f"{year} statistics, {label}",
                q["seconds"],
                "s",
                target,
                met,
                f"{q['counts']['total']:,} cases in the year; median of runs "
                f"{q['median_seconds']} s; {q['cpu_seconds']} s of CPU over two readers",
            )
        )
        rows.append(
            Row(
                SECTION,
                f"{name} drill-down, {label}",
                round(q["drill_down_seconds"] * 1000, 1),
                "ms",
                note=f"{q['drill_down_ids']} ids",
            )
        )
    return rows


def _holds(db: Path, total: int) -> bool:
    """Whether ``db`` holds exactly ``total`` cases (a reused database generated whole; a
    run stopped half-way is started again). Migrations run when the store opens."""
    try:
        with contextlib.closing(sqlite3.connect(db)) as raw:
            (count,) = raw.execute("SELECT count(*) FROM whistles").fetchone()
    except sqlite3.Error:
        return False
    return int(count) == total


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, help="one database of this many cases (not the size's)")
    p.add_argument("--config", type=Path, default=ROOT / "config")
    p.add_argument("--db", type=Path, help="default var/bench-stats[-N].sqlite3")
    p.add_argument("--runs", type=int, default=3, help="timed runs of each query set")
    p.add_argument("--reuse", action="store_true", help="keep a database that holds the cases")
    args = p.parse_args()
    total = args.cases or SIZES[args.size]
    db = args.db or ROOT / "var" / (
        "bench-stats.sqlite3" if total == 500_000 else f"bench-stats-{total}.sqlite3"
    )
    db.parent.mkdir(parents=True, exist_ok=True)
    # The large database takes close to an hour to generate: kept and reused while complete.
    reuse = args.reuse or args.size == "large"
    if db.exists() and not (reuse and _holds(db, total)):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    began = time.perf_counter()
    report = asyncio.run(run(args, total, db))
    report["db_bytes"] = sum(
        Path(f"{db}{s}").stat().st_size for s in ("", "-wal") if Path(f"{db}{s}").exists()
    )
    wall = round(time.perf_counter() - began, 1)
    rows = rows_of(report)
    rows.append(
        Row(SECTION, "section wall time", wall, "s", note=f"peak RSS {peak_rss_mib():,.0f} MiB")
    )
    write_report(args.json, SECTION, args.size, rows, {**report, "wall_seconds": wall})


if __name__ == "__main__":
    main()
