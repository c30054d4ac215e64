"""What-if replay benchmark: a county-year of routed cases replayed under proposed rules.

Generates the year with bench/stats.py's generator (its mix of sources, categories and
histories, written through ``SqliteStore.create_whistles``), except that every case is routed
by the real router under the config (its assignments and trace are the router's, as the
intake records them). Then times ``whistle.replay.replay`` over the year: once under the same
rules (every route reproduced) and once under a changed rule (citizens' 积存垃圾渣土 E0101 go to
the town's grid department).

    python bench/replay.py [--size tiny|full|large] [--json PATH] [--cases N] [--fresh]
                           [--config config] [--db var/bench-replay.sqlite3]

``--size full`` is a county-year, 500,000 cases (target: replayed in under 60 s); ``tiny`` is
3,000, for the smoke test. The database is kept and reused while it holds the cases
(``--fresh`` generates it again).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import stats as stats_bench  # noqa: E402
from bench.common import Row, parser, peak_rss_mib, write_report  # noqa: E402
from dispatch.decision import Decision  # noqa: E402
from dispatch.model import Mode  # noqa: E402
from grids import Hierarchy  # noqa: E402
from whistle import filing  # noqa: E402
from whistle.bus import Bus  # noqa: E402
from whistle.events import NewEvent  # noqa: E402
from whistle.replay import Period, ProposedRules, RouteCache, replay  # noqa: E402
from whistle.store import NewWhistle, SqliteStore, WhistleRow  # noqa: E402

SECTION = "replay"
SIZES = {"tiny": 3_000, "full": 500_000, "large": 500_000}
TARGET_S = 60.0
YEAR = Period(date(2026, 1, 1), date(2026, 12, 31))
CHANGED_RULE = """
[[rule]]
id = "citizen-refuse-town"
source = "citizen"
name = "群众吹哨·渣土归城管"
categories = ["E0101"]

[[rule.report]]
kind = "grid_department"
level = "town"
"""


class RoutedCase(stats_bench.Case):
    """A bench/stats case whose assignments are the router's decision for it."""

    routes: RouteCache
    county: Hierarchy

    def _story(self) -> None:
        key = (self.source, self.category, self.code, "normal", (), None)
        self.decision: Decision = self.routes.route(key, self.received)[0]
        planned = self.decision.assignments
        self.assignments = [(f"{self.id}-{i + 1}", a.responder_id) for i, a in enumerate(planned)]
        first = planned[0]
        self.mode = first.mode.value
        if first.mode is Mode.CLAIM:
            self.claimer = self.rng.choice(first.eligible) if first.eligible else None
        self.due = first.resolve_due
        self.ack_due = first.acknowledge_due or self.received
        super()._story()

    def new_whistle(self, *, whole: bool) -> NewWhistle:
        tz = self.routes_tz
        rows, trace = filing.assignment_rows(self.id, self.decision, self.county, tz)
        row = WhistleRow(
            id=self.id,
            received_at=self.received,
            source=self.source,
            category=self.category,
            urgency="normal",
            status=self.status,
            grid_code=self.code,
            grid_path=self.path,
            grid_level=5,
            doc={
                "id": self.id,
                "source": self.source,
                "category": {"code": self.category},
                "rule": {"id": self.decision.rule_id, "name": self.decision.rule_name},
                "trace": trace,
            },
        )
        events = [
            NewEvent("whistle.received", self.id, self.received, "bench", {"grid": self.code}),
            NewEvent("whistle.routed", self.id, self.received, "router", {"urgency": "normal"}),
            *(NewEvent(t, self.id, at, "bench", data) for t, at, data in self.events),
        ]
        return NewWhistle(row, rows, events, case_doc=self.case_doc())


async def generate(db: Path, rules: ProposedRules, total: int) -> dict[str, Any]:
    """Write ``total`` routed cases over the year (one create_whistles unit per chunk)."""
    import random

    RoutedCase.routes = RouteCache(rules)
    RoutedCase.county = rules.router.hierarchy
    RoutedCase.routes_tz = rules.router.calendar.timezone  # type: ignore[attr-defined]
    store = SqliteStore(db, Bus(), max_queue=stats_bench.CHUNK * 4, max_batch=stats_bench.CHUNK)
    await store.open()
    started = time.perf_counter()
    try:
        rng = random.Random(530524)
        places = stats_bench.Places(rules.router.hierarchy, rng)
        writing: asyncio.Future[Any] | None = None
        for start in range(0, total, stats_bench.CHUNK):
            end = min(total, start + stats_bench.CHUNK)
            cases = [RoutedCase(n, total, rng, places) for n in range(start, end)]
            whole = [c.new_whistle(whole=True) for c in cases]
            if writing is not None:
                await writing
            writing = asyncio.ensure_future(store.create_whistles(whole))
            if (start // stats_bench.CHUNK) % 20 == 0:
                print(f"  {end:>9,} cases", file=sys.stderr, flush=True)
        if writing is not None:
            await writing
    finally:
        await store.close()
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 1), "per_s": round(total / seconds)}


def _changed_config(config: Path, into: Path) -> Path:
    shutil.copytree(config, into)
    rules = into / "rules.toml"
    head, sep, tail = rules.read_text(encoding="utf-8").partition("\n[[rule]]\n")
    rules.write_text(f"{head}\n{CHANGED_RULE.strip()}\n{sep}{tail}", encoding="utf-8")
    return into


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the forked workers)."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def time_replays(db: Path, config: Path, runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        changed = _changed_config(config, Path(tmp) / "c")
        variants = {
            "same rules, one process": (config, 1),
            "same rules, two processes": (config, 2),
            "changed rule, two processes": (changed, 2),
        }
        for name, (directory, workers) in variants.items():
            rules = ProposedRules.from_dir(directory)
            times, cpu, report = [], [], {}
            for _ in range(runs):
                began, cpu_began = time.perf_counter(), _cpu()
                report = replay(db, YEAR, rules, now=stats_bench.NOW, workers=workers)
                times.append(time.perf_counter() - began)
                cpu.append(_cpu() - cpu_began)
            out[name] = {
                "seconds": round(min(times), 2),
                "cpu_seconds": round(min(cpu), 2),
                "cases": report["cases"],
                "changed": report["changed"],
                "routing": report["routing"],
                "rates": report["rates"],
            }
    return out


def rows_of(total: int, generation: dict[str, Any] | None, timed: dict[str, Any]) -> list[Row]:
    rows = []
    if generation:
        rows.append(
            Row(SECTION, f"generation, {total:,} routed cases", generation["per_s"], "cases/s",
                note=f"{generation['seconds']} s through SqliteStore.create_whistles")
        )  # fmt: skip
    for name, t in timed.items():
        target, met = ("< 60 s", t["seconds"] < TARGET_S) if total >= 500_000 else ("", None)
        rows.append(
            Row(SECTION, f"county-year replay, {name}, {t['cases']:,} cases", t["seconds"], "s",
                target, met,
                f"{t['changed']:,} routed differently; {t['cpu_seconds']} s CPU; "
                f"{t['routing']['routed']:,} routed, {t['routing']['from_cache']:,} from cache")
        )  # fmt: skip
    return rows


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, help="one database of this many cases")
    p.add_argument("--config", type=Path, default=ROOT / "config")
    p.add_argument("--db", type=Path, help="default var/bench-replay[-N].sqlite3")
    p.add_argument("--runs", type=int, default=1, help="timed runs of each replay")
    # The database is deterministic (fixed seed) and takes longest: kept while it holds the
    # cases, so that make bench generates it once.
    p.add_argument("--fresh", action="store_true", help="generate the database again")
    args = p.parse_args()
    total = args.cases or SIZES[args.size]
    db = args.db or ROOT / "var" / (
        "bench-replay.sqlite3" if total == 500_000 else f"bench-replay-{total}.sqlite3"
    )
    db.parent.mkdir(parents=True, exist_ok=True)
    if db.exists() and (args.fresh or not stats_bench._holds(db, total)):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    began = time.perf_counter()
    generation = None
    if not db.exists():
        generation = asyncio.run(generate(db, ProposedRules.from_dir(args.config), total))
    timed = time_replays(db, args.config, args.runs)
    wall = round(time.perf_counter() - began, 1)
    rows = rows_of(total, generation, timed)
    rows.append(
        Row(SECTION, "section wall time", wall, "s", note=f"peak RSS {peak_rss_mib():,.0f} MiB")
    )
    details = {"cases": total, "generation": generation, "replays": timed, "wall_seconds": wall}
    write_report(args.json, SECTION, args.size, rows, details)


if __name__ == "__main__":
    main()
