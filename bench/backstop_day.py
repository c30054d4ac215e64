"""A day's simulated sample: how many assignments reach the county backstop (兜底), by hour.

A day of whistles over the shipped county (config/), deterministic from the seed: every hour
of one working day, more by day than by night, in a realistic mix of the five whistles,
at random micro-grids and categories. Each is routed with the shipped duty roster (duty.csv),
as the service routes it at intake, and the table counts per local hour the assignments, those
the backstop took, and those a duty person (值班员, 值班民警) or a B post covered.

    python bench/backstop_day.py [--size tiny|full] [--json PATH] [--day 2026-12-02]
                                 [--config DIR]

A town wants almost nothing at the backstop: the target is under 5% of a day's assignments.
Not a timing: the figures are counts, the same on every machine.
"""

from __future__ import annotations

import random
import sys
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import Row, parser, write_report  # noqa: E402

from dispatch import DutyRoster, Origin, Router, RouteRequest, Source, load_dispatch_config  # noqa: E402
from grids import Level, ResponderKind  # noqa: E402
from grids.loader import load_hierarchy  # noqa: E402

SECTION = "backstop_day"
SEED = 20261202
WHISTLES = {"tiny": 120, "full": 1000, "large": 1000}
TARGET = 0.05
# A Wednesday, a working day in the shipped calendar.
DAY = date(2026, 12, 2)
# Whistles per local hour, relative: quiet nights, a morning and an afternoon peak.
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 7, 6, 7, 8, 8, 7, 6, 5, 4, 3, 2, 2, 1)
# The mix of the five whistles (most come from citizens and cameras).
SOURCE_WEIGHTS = {
    Source.CITIZEN: 45,
    Source.CAMERA: 20,
    Source.POLICE: 15,
    Source.COMMUNITY: 12,
    Source.TOWN_COMMITTEE: 8,
}


# The people of the rota (值班), whom the baseline run leaves without a shift.
DUTY_KINDS = frozenset({ResponderKind.DUTY_OFFICER, ResponderKind.DUTY_POLICE})


def simulate(
    config: Path, count: int, day: date, seed: int, *, rota: bool = True
) -> dict[str, Any]:
    """Route ``count`` seeded whistles over ``day``; counts per local hour and in all.

    ``rota=False`` is the baseline: the same whistles, the same roster and B posts, but
    nobody on the duty rota answers (a town without 值班), as the county ran before it had one.
    """
    hierarchy = load_hierarchy(config)
    dispatch = load_dispatch_config(config)
    router = Router.compile(hierarchy, dispatch)
    roster = DutyRoster.load(config, hierarchy, dispatch.calendar)
    off_rota = frozenset(
        r.id
        for kind in (() if rota else DUTY_KINDS)
        for people in hierarchy.responders_of_kind(kind).values()
        for r in people
    )

    def on_duty(responder_id: str, at: datetime) -> bool:
        return responder_id not in off_rota and roster.on_duty(responder_id, at)

    tz = dispatch.calendar.timezone
    rng = random.Random(seed)
    cells = [c.code for c in hierarchy.cells() if c.level is Level.MICRO_GRID]
    categories = [c.code for c in dispatch.catalog]
    sources = list(SOURCE_WEIGHTS)
    midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
    hours = rng.choices(range(24), weights=HOUR_WEIGHTS, k=count)
    whistles: Counter[int] = Counter()
    assigned: Counter[int] = Counter()
    backstop: Counter[int] = Counter()
    covered: Counter[int] = Counter()
    informed: Counter[int] = Counter()
    by_kind: Counter[str] = Counter()
    for hour in sorted(hours):
        at = midnight + timedelta(hours=hour, seconds=rng.randrange(3600))
        source = rng.choices(sources, weights=list(SOURCE_WEIGHTS.values()))[0]
        request = RouteRequest(
            source=source, category=rng.choice(categories), cell=rng.choice(cells), received_at=at
        )
        decision = router.route(request, on_duty=on_duty)
        whistles[hour] += 1
        # getattr: the same script measures the router from before 知会 existed.
        informed[hour] += len(getattr(decision, "informed", ()))
        for planned in decision.assignments:
            assigned[hour] += 1
            if planned.origin is Origin.BACKSTOP:
                backstop[hour] += 1
                by_kind[planned.kind.value] += 1
            elif planned.origin.value in ("backup", "duty"):
                covered[hour] += 1
    rows = [
        {
            "hour": hour,
            "whistles": whistles[hour],
            "assignments": assigned[hour],
            "backstop": backstop[hour],
            "share": backstop[hour] / assigned[hour] if assigned[hour] else 0.0,
            "covered": covered[hour],
            "informed": informed[hour],
        }
        for hour in range(24)
    ]
    total = sum(assigned.values())
    return {
        "day": day.isoformat(),
        "whistles": count,
        "assignments": total,
        "backstop": sum(backstop.values()),
        "share": sum(backstop.values()) / total if total else 0.0,
        "covered": sum(covered.values()),
        "informed": sum(informed.values()),
        "backstop_by_kind": dict(by_kind.most_common()),
        "hours": rows,
    }


def table(result: dict[str, Any]) -> str:
    """The by-hour table, in Markdown."""
    lines = [
        "| hour | whistles | assignments | backstop | share | covered (B post, 值班) | informed |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["hours"]:
        lines.append(
            f"| {row['hour']:02d}:00 | {row['whistles']} | {row['assignments']} | "
            f"{row['backstop']} | {row['share']:.1%} | {row['covered']} | {row['informed']} |"
        )
    lines.append(
        f"| day | {result['whistles']} | {result['assignments']} | {result['backstop']} | "
        f"{result['share']:.1%} | {result['covered']} | {result['informed']} |"
    )
    return "\n".join(lines)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--day", type=date.fromisoformat, default=DAY)
    p.add_argument("--config", type=Path, default=ROOT / "config")
    p.add_argument("--seed", type=int, default=SEED)
    args = p.parse_args()
    result = simulate(args.config, WHISTLES[args.size], args.day, args.seed)
    baseline = simulate(args.config, WHISTLES[args.size], args.day, args.seed, rota=False)
    print("With the duty rota (值班):")
    print(table(result), end="\n\n")
    print("Baseline, the same day with nobody on the rota answering:")
    print(table(baseline), end="\n\n")
    result["baseline"] = baseline
    after_hours = [row for row in result["hours"] if row["hour"] >= 18 or row["hour"] < 8]
    night_assigned = sum(row["assignments"] for row in after_hours)
    night_backstop = sum(row["backstop"] for row in after_hours)
    rows = [
        Row(SECTION, "assignments in the day", result["assignments"], note=result["day"]),
        Row(
            SECTION,
            "share at the backstop, day",
            round(100 * result["share"], 2),
            "%",
            f"< {TARGET:.0%}",
            result["share"] < TARGET,
            f"{result['backstop']} of {result['assignments']} assignments",
        ),
        Row(
            SECTION,
            "share at the backstop, 18:00-08:00",
            round(100 * night_backstop / night_assigned, 2) if night_assigned else 0.0,
            "%",
            note=f"{night_backstop} of {night_assigned} assignments off hours",
        ),
        Row(SECTION, "covered by a B post or the duty person", result["covered"]),
        Row(
            SECTION,
            "baseline without the rota: share at the backstop, day",
            round(100 * baseline["share"], 2),
            "%",
            note=f"{baseline['backstop']} of {baseline['assignments']} assignments",
        ),
    ]
    write_report(args.json, SECTION, args.size, rows, result)


if __name__ == "__main__":
    main()
