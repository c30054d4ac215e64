"""Places benchmark: the gazetteer on the county (issue 18).

Loads the county and its ``places.csv``, builds the gazetteer (the hierarchy's names and
chains plus the aliases, one Aho-Corasick automaton), then places addresses of four kinds:
an alias with more words around it (a house number in a province-county-town address), a
full chain of grid names, an address naming only the town (held: 待定位), and one naming no
place at all (held). Each kind is placed ``--repeat`` times over different addresses; p50
and p99 per address, and what share of the alias addresses landed on the alias's own cell.

    python bench/places.py [--size tiny|full|large] [--json PATH] [--config config]

``full`` and ``large`` place 20,000 addresses of each kind; ``tiny`` 200 (the smoke test).
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Row, parser, peak_rss_mib, write_report  # noqa: E402
from grids import Level  # noqa: E402
from grids.gazetteer import Gazetteer, load_aliases  # noqa: E402
from grids.loader import load_hierarchy  # noqa: E402

SECTION = "places"
REPEATS = {"tiny": 200, "full": 20_000, "large": 20_000}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--config", type=Path, default=ROOT / "config")
    args = p.parse_args()
    repeat = REPEATS[args.size]
    rng = random.Random(18)

    began = time.perf_counter()
    county = load_hierarchy(args.config)
    loaded = time.perf_counter() - began
    began = time.perf_counter()
    aliases = load_aliases(args.config, county)
    aliases_s = time.perf_counter() - began
    began = time.perf_counter()
    gazetteer = Gazetteer.build(county, aliases)
    built = time.perf_counter() - began

    micro = list(county.cells(level=Level.MICRO_GRID))
    towns = list(county.cells(level=Level.TOWN))
    root = county.cell(county.root)
    picked = [rng.choice(aliases) for _ in range(repeat)] if aliases else []
    kinds: dict[str, list[tuple[str, str | None]]] = {
        "alias in a full address": [
            (f"云南省{root.name}{county.at_level(a.grid, Level.TOWN).name}{a.name}3单元", a.grid)
            for a in picked
        ],
        "chain of grid names": [
            ("".join(county.cell(c).name for c in cell.path[1:]) + "东侧", cell.code)
            for cell in (rng.choice(micro) for _ in range(repeat))
        ],
        "only a town (held)": [
            (f"{rng.choice(towns).name}某小区{n}号", None) for n in range(repeat)
        ],
        "no known name (held)": [(f"幸福家园小区{n}栋门口", None) for n in range(repeat)],
    }
    rows: list[Row] = [
        Row(SECTION, "names in the gazetteer", len(gazetteer), "", note=f"{len(aliases)} aliases"),
        Row(SECTION, "build the gazetteer", round(built, 2), "s",
            note=f"load places.csv {aliases_s:.2f} s; the hierarchy {loaded:.1f} s before it"),
    ]  # fmt: skip
    details: dict[str, object] = {"names": len(gazetteer), "aliases": len(aliases), "kinds": {}}
    for kind, addresses in kinds.items():
        if not addresses:
            continue
        times: list[float] = []
        right = placed = 0
        for text, expected in addresses:
            t = time.perf_counter()
            found = gazetteer.place(text)
            times.append((time.perf_counter() - t) * 1e6)
            placed += found.code is not None
            right += expected is not None and found.code == expected
        p50, p99 = statistics.median(times), _percentile(times, 0.99)
        share = right / len(addresses) if addresses[0][1] is not None else placed / len(addresses)
        what = "placed on its own cell" if addresses[0][1] is not None else "placed (should be 0)"
        rows.append(Row(SECTION, f"place: {kind} (p50)", round(p50, 1), "µs"))
        rows.append(Row(SECTION, f"place: {kind} (p99)", round(p99, 1), "µs",
                        note=f"{share:.1%} {what}"))  # fmt: skip
        details["kinds"][kind] = {  # type: ignore[index]
            "p50_us": p50,
            "p99_us": p99,
            "share": share,
            "count": len(addresses),
        }
    rows.append(Row(SECTION, "peak memory", round(peak_rss_mib()), "MiB"))
    write_report(args.json, SECTION, args.size, rows, details)


if __name__ == "__main__":
    main()
