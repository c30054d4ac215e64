"""Intake section: the pipeline held against the machine's own ceiling, in one run.

The same client (bench/load.py), the same payloads (valid whistles spread over the county's
micro-grids and the five sources) and the same concurrency go, one after the other, to:

- ``bare``: bench/ceiling.py without a database (parse the JSON, answer 201 with an id);
- ``ceiling``: bench/ceiling.py handing each row to a group-commit writer (WAL,
  ``synchronous=FULL``, one commit per batch of waiting rows), answering after the commit;
- ``pipeline``: ``whistle serve`` (validate, locate, route, durable write, bus), with the
  rate limits lifted: this measures throughput, not the limiter.

Rows: the three throughputs, pipeline/ceiling (target ≥ 50%), the pipeline's p50/p99/max
(target p99 < 50 ms at 64 clients), non-201 answers, and acknowledged-but-missing: every 201
id is looked up in the whistles table afterwards. The script exits non-zero if any is
missing.

    python bench/intake.py [--size tiny|full] [--json PATH] [--config DIR] [--clients N]
                           [--processes 1|2]
"""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ceiling import Ceiling  # noqa: E402
from common import Row, parser, write_report  # noqa: E402
from costs import Costs, per_whistle, snapshot  # noqa: E402
from load import LoadResult, Post, run_load  # noqa: E402
from wrk import WrkResult, ensure, run_wrk  # noqa: E402

from grids import Level  # noqa: E402
from grids.loader import load_hierarchy  # noqa: E402
from whistle.testing import ServerProcess  # noqa: E402

SECTION = "intake"

# (source, category): one realistic category per source, as the five whistles file them.
SOURCES = (
    ("citizen", "E0101"),
    ("camera", "E0403"),
    ("police", "E0701"),
    ("community", "E0101"),
    ("town_committee", "E0601"),
)

# The rate limiter would turn most of a bench's requests into 429s: lift it.
UNLIMITED = ("--log-level", "warning", "--limit-per-token", "1e6", "--limit-per-address", "1e6")


@dataclass(frozen=True, slots=True)
class Size:
    clients: int
    requests: int  # upper bound per system
    seconds: float  # time bound per system
    points: int  # distinct micro-grid centroids the payloads use


SIZES = {
    "tiny": Size(clients=4, requests=60, seconds=10.0, points=50),
    "full": Size(clients=64, requests=40_000, seconds=15.0, points=2_000),
}


def payload_points(config: Path, count: int) -> tuple[str, list[dict[str, float]]]:
    """The county's root code and ``count`` micro-grid centroids, chosen reproducibly."""
    hierarchy = load_hierarchy(config)
    micro = sorted(hierarchy.cells(level=Level.MICRO_GRID), key=lambda c: c.code)
    points = []
    for cell in random.Random(1).sample(micro, min(count, len(micro))):
        centroid = hierarchy.centroid(cell.code)
        if centroid is not None:
            points.append({"lat": centroid[0], "lon": centroid[1]})
    if not points:
        raise SystemExit(f"{config}: no micro-grid with geometry to place whistles on")
    return hierarchy.root, points


def whistle_posts(points: list[dict[str, float]], token: str) -> Callable[[int], Post]:
    """Request n: a valid whistle from source n mod 5 at a point chosen by n."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def make(n: int) -> Post:
        source, category = SOURCES[n % len(SOURCES)]
        body = {
            "source": source,
            "category": category,
            "description": f"bench #{n}",
            "location": points[(n * 7919) % len(points)],
        }
        return Post("/api/v1/whistles", orjson.dumps(body), headers)

    return make


def stored_ids(db: Path) -> set[str]:
    with sqlite3.connect(db) as raw:
        return {row[0] for row in raw.execute("SELECT id FROM whistles")}


def measure_bound(
    mode: str, workdir: Path, make: Callable[[int], Post], size: Size, processes: int
) -> tuple[LoadResult, int]:
    """Load bench/ceiling.py in ``mode``; the result and (groupcommit) the 201s not stored."""
    db = workdir / f"{mode}.sqlite3"
    server = Ceiling(mode, db, workdir / f"{mode}.log")
    try:
        server.start()
        result = run_load(
            server.url,
            make,
            clients=size.clients,
            requests=size.requests,
            seconds=size.seconds,
            processes=processes,
        )
    finally:
        server.stop()
    missing = len(set(result.acknowledged) - stored_ids(db)) if mode == "groupcommit" else 0
    return result, missing


def start_whistle(config: Path, workdir: Path, name: str) -> ServerProcess:
    """``whistle serve`` on ``config`` with the rate limits lifted, started and ready."""
    server = ServerProcess(
        workdir / f"{name}.sqlite3", config, workdir / f"{name}.log", extra_args=UNLIMITED
    )
    try:
        asyncio.run(server.start())
    except BaseException:
        server.stop()
        raise
    return server


@dataclass(frozen=True, slots=True)
class Pipeline:
    """What the pipeline's run measured: the load, the 201s not stored, what each whistle
    cost the server (None without /proc), and wrk's run on the same server (None without
    wrk)."""

    result: LoadResult
    missing: int
    costs: Costs | None
    wrk: WrkResult | None
    stored: int  # whistles in the database at the end (both clients')


def measure_pipeline(
    config: Path, workdir: Path, points: list[dict[str, float]], root: str, size: Size,
    processes: int,
) -> Pipeline:  # fmt: skip
    """Load ``whistle serve`` with bench/load.py (and its costs read from /proc around it),
    then with wrk for as long; how many of the Python client's 201 ids are not stored."""
    server = start_whistle(config, workdir, "pipeline")
    try:
        token = server.create_token("operator", root)
        make = whistle_posts(points, token)
        assert server.proc is not None
        before = snapshot(server.proc.pid, server.db)
        result = run_load(
            server.url,
            make,
            clients=size.clients,
            requests=size.requests,
            seconds=size.seconds,
            processes=processes,
        )
        after = snapshot(server.proc.pid, server.db)
        costs = None
        if before is not None and after is not None:
            costs = per_whistle(before, after, len(result.acknowledged))
        wrk = ensure()
        checked = None
        if wrk is not None:
            sample = [make(size.requests + n) for n in range(min(2_000, size.requests))]
            checked = run_wrk(
                wrk, server.url, sample[0].path, [post.body for post in sample],
                dict(sample[0].headers), clients=size.clients, seconds=size.seconds,
            )  # fmt: skip
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.signal(signal.SIGTERM)
    stored = stored_ids(server.db)
    return Pipeline(result, len(set(result.acknowledged) - stored), costs, checked, len(stored))


def cost_rows(pipeline: Pipeline, clients: str) -> list[Row]:
    """Per-whistle CPU by thread, bytes stored and written, and wrk beside the Python client
    (issue 21's targets)."""
    rows: list[Row] = []
    c = pipeline.costs
    if c is None:
        rows.append(Row(SECTION, "per-whistle costs", "n/a", "", note="no /proc here"))
    else:
        rows += [
            Row(SECTION, "pipeline event-loop CPU per whistle", c.loop_us, "µs", "≤ 250 µs",
                c.loop_us <= 250, "the main thread, from /proc/PID/task"),
            Row(SECTION, "pipeline writer CPU per whistle", c.writer_us, "µs", "≤ 80 µs",
                c.writer_us <= 80, "the store-writer thread"),
            Row(SECTION, "pipeline other threads' CPU per whistle", c.other_us, "µs",
                note="SQLite readers, login pool"),
            Row(SECTION, "bytes stored per whistle", c.stored_bytes, "B", "≤ 4,096 B",
                c.stored_bytes <= 4096, "database pages in use, before and after"),
            Row(SECTION, "bytes written per whistle", c.written_bytes, "B", "≤ 20,480 B",
                c.written_bytes <= 20480, "/proc/PID/io write_bytes: WAL and checkpoints"),
        ]  # fmt: skip
    w, python = pipeline.wrk, pipeline.result.acknowledged_per_s
    if w is None:
        rows.append(Row(SECTION, "wrk beside the Python client", "n/a", "", note="no wrk here"))
    else:
        ratio = w.ok_per_s / python * 100 if python else 0.0
        p99 = "" if w.p99_ms is None else f"p99 {w.p99_ms:.1f} ms; "
        rows += [
            Row(SECTION, f"pipeline under wrk ({clients})", w.ok_per_s, "whistles/s",
                note=f"{p99}{w.non_2xx} answers other than 2xx"),
            Row(SECTION, "wrk / Python client", ratio, "%", "80-120 %",
                80 <= ratio <= 120, "the two clients agree within 20%"),
        ]  # fmt: skip
    return rows


def rows_for(size: Size, bare: LoadResult, ceiling: LoadResult, run: Pipeline) -> list[Row]:
    clients = f"{size.clients} clients"
    pipeline, missing = run.result, run.missing
    ratio = pipeline.acknowledged_per_s / ceiling.acknowledged_per_s * 100
    errors = pipeline.errors({201})
    return [
        Row(SECTION, f"bare handler, no database ({clients})", bare.acknowledged_per_s,
            "req/s", note=f"p99 {bare.ms(0.99):.1f} ms"),
        Row(SECTION, f"ceiling: group commit, WAL + synchronous=FULL ({clients})",
            ceiling.acknowledged_per_s, "req/s", note=f"p99 {ceiling.ms(0.99):.1f} ms"),
        Row(SECTION, f"pipeline: whistle serve ({clients})", pipeline.acknowledged_per_s,
            "whistles/s"),
        Row(SECTION, "pipeline / ceiling", ratio, "%", "≥ 50%", ratio >= 50),
        Row(SECTION, f"pipeline p50 latency ({clients})", pipeline.ms(0.50), "ms"),
        Row(SECTION, f"pipeline p99 latency ({clients})", pipeline.ms(0.99), "ms", "< 50 ms",
            pipeline.ms(0.99) < 50 if size.clients >= 64 else None,
            "" if size.clients >= 64 else "target applies at 64 clients"),
        Row(SECTION, f"pipeline max latency ({clients})", pipeline.ms(1), "ms"),
        Row(SECTION, "pipeline answers other than 201", errors, "", "0", errors == 0),
        Row(SECTION, "acknowledged but missing from the database", missing, "", "0",
            missing == 0, "every 201 id looked up in the whistles table"),
        *cost_rows(run, clients),
    ]  # fmt: skip


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=ROOT / "config")
    p.add_argument("--clients", type=int, help="concurrent clients (default: by size)")
    p.add_argument("--processes", type=int, default=1, help="client processes (1 or 2)")
    args = p.parse_args()
    size = SIZES.get(args.size, SIZES["full"])  # nothing larger: large runs full
    if args.clients:
        size = Size(args.clients, size.requests, size.seconds, size.points)
    root, points = payload_points(args.config, size.points)
    (ROOT / "var").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "var", prefix="bench-intake-") as tmp:
        workdir = Path(tmp)
        # Every system gets the same bodies; the bounds ignore the token.
        make = whistle_posts(points, "bench")
        bare, _ = measure_bound("bare", workdir, make, size, args.processes)
        ceiling, ceiling_missing = measure_bound("groupcommit", workdir, make, size, args.processes)
        run = measure_pipeline(args.config, workdir, points, root, size, args.processes)
        pipeline, missing = run.result, run.missing
    details: dict[str, Any] = {
        "processes": args.processes,
        "bare": bare.summary(),
        "ceiling": {**ceiling.summary(), "acknowledged_missing": ceiling_missing},
        "pipeline": {**pipeline.summary(), "acknowledged_missing": missing},
    }
    details["size"] = {"clients": size.clients, "requests": size.requests,
                       "seconds": size.seconds, "points": len(points)}  # fmt: skip
    if run.costs is not None:
        details["costs"] = asdict(run.costs)
    if run.wrk is not None:
        details["wrk"] = asdict(run.wrk)
    details["stored"] = run.stored
    write_report(args.json, SECTION, args.size, rows_for(size, bare, ceiling, run), details)
    if missing or ceiling_missing:
        raise SystemExit(f"acknowledged but missing: pipeline {missing}, ceiling {ceiling_missing}")


if __name__ == "__main__":
    main()
