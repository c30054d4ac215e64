"""Routing benchmark: locate + rules + responder choice per whistle, on the county and a province.

The sample county (config/, about 28,000 cells) is loaded and timed in this process; the
generated province (250,000 grids, about 2.8 million cells) is generated once into
var/bench/province/ (kept there, keyed by seed and size, and reused while it matches) and
loaded in a child process, so that its memory is measured alone.

    python bench/routing.py [--size tiny|full] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import Row, parser, peak_rss_mib, rss_mib, write_report  # noqa: E402

from dispatch import Router, RouteRequest, Source, load_dispatch_config  # noqa: E402
from grids import Hierarchy, Level  # noqa: E402
from grids.cache import load_compiled  # noqa: E402
from grids.sample import PROVINCE, generate_province  # noqa: E402

SECTION = "routing"
SEED = 530000
# The dispatch files a config directory needs beside the grids (copied from config/).
DISPATCH_FILES = ("categories.toml", "rules.toml", "calendar.toml", "lifecycle.toml")
ADDED = "resident, added by the load"
SIZES = {
    "tiny": {
        "province": {"towns": 4, "communities": 40, "grids": 400, "micro_grids": 4000},
        "samples": 500,
    },
    # make bench: a tenth of the province (its load alone takes minutes and 8 GB at full
    # size); make bench-large: the whole province, against the targets.
    "full": {"province": {k: v // 10 for k, v in PROVINCE.items()}, "samples": 5000},
    "large": {"province": PROVINCE, "samples": 5000},
}


def load(config: Path, cache: Path | None = None) -> tuple[Hierarchy, Router, float, float]:
    """Load through the production path (the server's: through the compiled cache when
    ``cache`` is given); (hierarchy, router, seconds, resident MiB added)."""
    gc.collect()
    before = rss_mib()
    began = time.perf_counter()
    hierarchy = load_compiled(config, cache)
    router = Router.compile(hierarchy, load_dispatch_config(config))
    seconds = time.perf_counter() - began
    gc.collect()
    gc.freeze()  # as the server does after loading (whistle/app.py)
    return hierarchy, router, seconds, rss_mib() - before


def time_routing(hierarchy: Hierarchy, router: Router, samples: int) -> dict[str, float]:
    """µs per locate, and per locate + route, over seeded points inside random micro-grids."""
    rng = random.Random(1)
    micro = hierarchy.codes(Level.MICRO_GRID)
    points: list[tuple[float, float]] = []
    for code in rng.sample(micro, min(samples, len(micro))):
        bounds = hierarchy.bounds(code)
        assert bounds is not None
        west, south, east, north = bounds
        points.append((rng.uniform(south, north), rng.uniform(west, east)))
    now = datetime.now(UTC)
    began = time.perf_counter()
    for lat, lon in points:
        hierarchy.locate(lat, lon)
    locate = (time.perf_counter() - began) / len(points) * 1e6
    began, cpu = time.perf_counter(), time.process_time()
    for lat, lon in points:
        cell = hierarchy.locate(lat, lon)
        assert cell is not None
        router.route(
            RouteRequest(source=Source.CITIZEN, category="E0101", cell=cell.code, received_at=now)
        )
    per = (time.perf_counter() - began) / len(points) * 1e6
    # CPU time as well: on a shared machine the wall clock counts the other sessions' turns.
    per_cpu = (time.process_time() - cpu) / len(points) * 1e6
    # The same points again: the cells and responders are objects by now, as all of them
    # were before the columns (the first pass is the one held against the target).
    cpu = time.process_time()
    for lat, lon in points:
        cell = hierarchy.locate(lat, lon)
        assert cell is not None
        router.route(
            RouteRequest(source=Source.CITIZEN, category="E0101", cell=cell.code, received_at=now)
        )
    again_cpu = (time.process_time() - cpu) / len(points) * 1e6
    return {
        "locate_us": locate,
        "whistle_us": per,
        "whistle_cpu_us": per_cpu,
        "again_cpu_us": again_cpu,
        "points": len(points),
    }


def ensure_province(size: str) -> tuple[Path, float, bool]:
    """The province's config directory, generated unless a matching one is there already.

    Returns (directory, generation seconds, whether it was reused). Generating the full
    province takes about a minute of CPU; a kept one records how long its generation took.
    """
    counts = SIZES[size]["province"]
    outdir = ROOT / "var" / "bench" / f"province-{size}"
    stamp = outdir / ".generated.json"
    key = {"seed": SEED, **counts}
    if stamp.is_file():
        recorded = json.loads(stamp.read_text(encoding="utf-8"))
        if recorded.get("key") == key:
            return outdir, float(recorded["seconds"]), True
    began = time.perf_counter()
    generate_province(outdir, seed=SEED, **counts)
    seconds = time.perf_counter() - began
    for name in DISPATCH_FILES:
        shutil.copyfile(ROOT / "config" / name, outdir / name)
    stamp.write_text(json.dumps({"key": key, "seconds": seconds}), encoding="utf-8")
    return outdir, seconds, False


def cache_of(config: Path) -> Path:
    """Where the province's compiled grids are kept (bench/province.py uses the same)."""
    return config.parent / f"{config.name}-cache"


def child(config: Path, samples: int) -> None:
    """In a fresh process: load the province, time routing, print the figures as JSON."""
    hit = any(cache_of(config).glob("*.grids"))
    hierarchy, router, seconds, added = load(config, cache_of(config))
    timing = time_routing(hierarchy, router, samples)
    result = {
        "cells": len(hierarchy),
        "responders": hierarchy.responder_count,
        "load_s": seconds,
        "rss_mib": added,
        "peak_rss_mib": peak_rss_mib(),
        "cache_hit": hit,
        **timing,
    }
    print(json.dumps(result))


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--samples", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child is not None:
        child(args.child, args.samples)
        return
    size = args.size
    samples = int(SIZES[size]["samples"])

    hierarchy, router, county_load, county_rss = load(ROOT / "config")
    county = time_routing(hierarchy, router, samples)
    county_cells = len(hierarchy)
    del hierarchy, router

    province_dir, generated_s, reused = ensure_province(size)
    run = subprocess.run(
        [sys.executable, __file__, "--child", str(province_dir), "--samples", str(samples)],
        capture_output=True,
        text=True,
        check=True,
    )
    province = json.loads(run.stdout.strip().splitlines()[-1])

    county_us, province_us = county["whistle_us"], province["whistle_us"]
    peak = province["peak_rss_mib"]
    rows = [
        Row(
            SECTION,
            f"county µs per whistle ({county_cells:,} cells)",
            round(county_us, 1),
            "µs",
            "< 50 µs",
            county_us < 50,
            f"locate + route, citizen E0101; CPU {county['whistle_cpu_us']:.1f} µs "
            f"(second pass {county['again_cpu_us']:.1f} µs); "
            f"load average {os.getloadavg()[0]:.1f}",
        ),
        Row(SECTION, "county locate µs", round(county["locate_us"], 1), "µs"),
        Row(SECTION, "county load s", round(county_load, 2), "s", note="hierarchy + router"),
        Row(SECTION, "county memory MiB", round(county_rss, 1), "MiB", note=ADDED),
    ]
    # The targets are the whole province's; a tenth of it is reported without them.
    whole = size == "large"
    name = "province/10" if size == "full" else "province"
    later = "" if whole else "a tenth of the province; the whole one: make bench-large"

    def target(wording: str, met: bool) -> tuple[str, bool | None]:
        return (wording, met) if whole else ("", None)

    rows += [
        Row(
            SECTION,
            f"{name} cells",
            province["cells"],
            note=f"{province['responders']:,} responders",
        ),
        Row(
            SECTION,
            f"{name} generation s",
            round(generated_s, 3),
            "s",
            note="kept in var/bench from an earlier run" if reused else "generated in this run",
        ),
        Row(
            SECTION,
            f"{name} load s",
            round(province["load_s"], 3),
            "s",
            *target("< 30 s", province["load_s"] < 30),
            "; ".join(
                filter(
                    None,
                    [
                        later,
                        "from the compiled cache"
                        if province["cache_hit"]
                        else "no cache yet: parsed, checked and compiled",
                    ],
                )
            ),
        ),
        Row(
            SECTION,
            f"{name} memory MiB",
            round(province["rss_mib"]),
            "MiB",
            *target("< 4 GB", province["rss_mib"] < 4096),
            f"{ADDED}; peak {peak:,.0f} MiB",
        ),
        Row(
            SECTION,
            f"{name} µs per whistle",
            round(province_us, 1),
            "µs",
            *target("< 100 µs", province_us < 100),
            f"locate {province['locate_us']:.1f} µs; CPU {province['whistle_cpu_us']:.1f} µs "
            f"(second pass {province['again_cpu_us']:.1f} µs); "
            f"load average {os.getloadavg()[0]:.1f}",
        ),
    ]
    write_report(
        args.json,
        SECTION,
        size,
        rows,
        {"county": county, "province": province, "province_dir": str(province_dir)},
    )


if __name__ == "__main__":
    main()
