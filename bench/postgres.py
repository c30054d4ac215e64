"""PostgreSQL section: intake throughput with 1, 2 and 3 `whistle serve` processes on one
PostgreSQL database, beside one process on SQLite, in one run: whistle POSTs with the same
client and payloads as the intake section (bench/intake.py), and the camera feed's batches
(bench/camera.py's client, 100 detections a request) in two shapes:

- ``opening``: every detection opens a case (a province's many cameras, one detection each:
  each (camera, category) is seen once, so each goes through the intake and its grouping
  decision);
- ``repeats``: every detection joins a case already open (a few cameras repeating what they
  see: one request, not measured, opens their cases first).

The clients are shared out over the processes (as a load balancer would), each request to one
process; afterwards every acknowledged whistle or detection is looked up in the database (a
detection as its whistle, or in the ``case.repeated`` event of the case it joined). Beside
each figure: the CPU seconds the whistle processes, the PostgreSQL cluster (when it runs on
this machine) and the bench's client spent during the load, and the load average before and
after. Needs the server of `make pg-up` (var/pg/url, or WHISTLE_BENCH_POSTGRES); without one
the section reports that and exits 0.

    python bench/postgres.py [--size tiny|full] [--json PATH] [--config DIR]
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from camera import (  # noqa: E402
    CHINA,
    EVENTS,
    PER_REQUEST,
    Plan,
    acknowledged_lines,
    camera_config,
    camera_posts,
    missing_among,
    missing_detections,
)
from common import Row, parser, write_report  # noqa: E402
from intake import SIZES, UNLIMITED, payload_points, whistle_posts  # noqa: E402
from load import Acknowledged, LoadResult, Post, created_id, load  # noqa: E402

from grids.loader import load_hierarchy  # noqa: E402
from whistle.integrations.feeds import CAMERA_EVENTS, load_cameras  # noqa: E402
from whistle.testing import ServerProcess  # noqa: E402

SECTION = "postgres"
PROCESSES = (1, 2, 3)
_TICK = 1.0 / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class CameraSize:
    clients: int
    requests: int  # upper bound per run (opening: also bounded by the distinct pairs)
    seconds: float
    per_community: int  # cameras per community in the generated registry


CAMERA_SIZES = {
    "tiny": CameraSize(clients=4, requests=6, seconds=10.0, per_community=2),
    # 5,000 cameras x 11 event types: 55,000 detections that each open a case.
    "full": CameraSize(clients=16, requests=5_000, seconds=8.0, per_community=20),
}
REPEATING_CAMERAS = 20  # "a few cameras": each request has 5 detections of each
# One event type per category, so that a camera's detections of two of them are two cases.
OPENING_EVENTS = tuple(dict.fromkeys(e for e in EVENTS if CAMERA_EVENTS.get(e)))


def opening(cameras: int) -> Plan:
    """Detection g: camera g mod ``cameras`` with the (g div ``cameras``)-th event type, all
    confident: no (camera, category) twice while g < cameras x event types."""

    def plan(g: int) -> tuple[int, str, float]:
        return g % cameras, OPENING_EVENTS[(g // cameras) % len(OPENING_EVENTS)], 0.91

    return plan


def repeating(cameras: int) -> Plan:
    """Detection g: one of the first ``cameras`` cameras, each with its one event type."""

    def plan(g: int) -> tuple[int, str, float]:
        camera = g % cameras
        return camera, EVENTS[(camera * 31) % len(EVENTS)], 0.91

    return plan


# -- the database ---------------------------------------------------------------------------


def base_url() -> str | None:
    url = os.environ.get("WHISTLE_BENCH_POSTGRES")
    file = ROOT / "var" / "pg" / "url"
    if not url and file.exists():
        url = file.read_text().strip()
    return url or None


async def fresh_database(url: str) -> str:
    name = f"whistle_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


async def drop_database(url: str, db_url: str) -> None:
    admin = await asyncpg.connect(url)
    try:
        name = urlsplit(db_url).path.lstrip("/")
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def stored_postgres(db_url: str) -> set[str]:
    conn = await asyncpg.connect(db_url)
    try:
        return {r[0] for r in await conn.fetch("SELECT id FROM whistles")}
    finally:
        await conn.close()


def stored_sqlite(db: Path) -> set[str]:
    with sqlite3.connect(db) as raw:
        return {row[0] for row in raw.execute("SELECT id FROM whistles")}


async def missing_postgres(db_url: str, acknowledged: list[str]) -> int:
    """bench/camera.py's check of every acknowledged detection, on PostgreSQL."""
    conn = await asyncpg.connect(db_url)
    try:
        whistles = {
            r[0]: r[1]
            for r in await conn.fetch(
                "SELECT external_id, id FROM whistles WHERE source = 'camera'"
            )
        }
        repeats = [
            (r[0], r[1])
            for r in await conn.fetch(
                "SELECT whistle_id, data::text FROM events WHERE type = 'case.repeated'"
            )
        ]
    finally:
        await conn.close()
    return missing_among(whistles, repeats, acknowledged)


async def postmaster(db_url: str) -> int | None:
    """The pid of the PostgreSQL server of ``db_url`` when it runs on this machine (the
    parent of this connection's backend), else None."""
    conn = await asyncpg.connect(db_url)
    try:
        backend = int(await conn.fetchval("SELECT pg_backend_pid()"))
    finally:
        await conn.close()
    host = urlsplit(db_url).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1", ""):
        return None
    try:
        return _ppid(backend)
    except OSError:
        return None


# -- CPU seconds from /proc -------------------------------------------------------------------


def _stat(pid: int) -> list[str]:
    # The fields after the parenthesised command name.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _ppid(pid: int) -> int:
    return int(_stat(pid)[1])


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """User + system CPU seconds of ``pid`` (``children``: with its reaped children's)."""
    fields = _stat(pid)
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks * _TICK


def cluster_cpu(master: int) -> float:
    """CPU seconds of a PostgreSQL server: the postmaster, its live children (backends,
    WAL writer, checkpointer...) and those that ended."""
    total = cpu_seconds(master, children=True)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if _ppid(int(entry.name)) == master:
                total += cpu_seconds(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile
    return total


@dataclass(slots=True)
class Cpu:
    """CPU seconds spent during one load: by each whistle process, by PostgreSQL (None: not
    on this machine, or SQLite) and by the bench's client; the 1-minute load average."""

    servers: list[float] = field(default_factory=list)
    database: float | None = None
    client: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)

    def per(self, count: int) -> str:
        """The note: CPU µs per acknowledged item, per process and in all."""
        n = max(1, count)
        each = ", ".join(f"{s / n * 1e6:,.0f}" for s in self.servers)
        parts = [f"whistle {sum(self.servers):.1f} s ({each} µs/item by process)"]
        if self.database is not None:
            parts.append(f"PostgreSQL {self.database:.1f} s ({self.database / n * 1e6:,.0f} µs)")
        parts.append(f"client {self.client:.1f} s")
        parts.append(f"load {self.load[0]:.1f} → {self.load[1]:.1f}")
        return "CPU " + "; ".join(parts)

    def summary(self, count: int) -> dict[str, Any]:
        n = max(1, count)
        return {
            "server_s": [round(s, 2) for s in self.servers],
            "server_us_per_item": [round(s / n * 1e6, 1) for s in self.servers],
            "postgres_s": None if self.database is None else round(self.database, 2),
            "client_s": round(self.client, 2),
            "load_average": list(self.load),
        }


# -- one run ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Feed:
    """What a run posts: the token it makes, the requests (from the token) and what their
    answers acknowledged; ``warmup`` requests are sent first, to one process, unmeasured."""

    role: str
    token_args: dict[str, str]
    make: Callable[[str], Callable[[int], Post]]
    acknowledged: Acknowledged
    clients: int
    requests: int
    seconds: float
    warmup: int = 0


@dataclass(slots=True)
class Measured:
    result: LoadResult
    cpu: Cpu
    warmed: list[str]  # what the warm-up requests acknowledged


async def measure(
    db: str | Path, count: int, config: Path, workdir: Path, name: str, root: str, feed: Feed
) -> Measured:
    """``count`` servers on ``db``, loaded together with ``feed``; the merged result."""
    servers = [
        ServerProcess(db, config, workdir / f"{name}-{n}.log", extra_args=UNLIMITED)
        for n in range(count)
    ]
    master = await postmaster(db) if isinstance(db, str) else None
    try:
        for server in servers:
            await server.start()
        token = servers[0].create_token(feed.role, root, **feed.token_args)
        make = feed.make(token)
        warm = await load(
            servers[0].url, make, clients=1, requests=feed.warmup, seconds=60,
            acknowledged=feed.acknowledged,
        )  # fmt: skip
        pids = [server.proc.pid for server in servers if server.proc is not None]
        cpu = Cpu(load=(os.getloadavg()[0], 0.0))
        before = [cpu_seconds(pid) for pid in pids]
        database = cluster_cpu(master) if master is not None else None
        client = time.process_time()
        parts = await asyncio.gather(
            *(
                load(
                    server.url,
                    make,
                    clients=feed.clients // count + (1 if n < feed.clients % count else 0),
                    requests=feed.requests,
                    seconds=feed.seconds,
                    acknowledged=feed.acknowledged,
                    numbers=range(feed.warmup + n, feed.warmup + feed.requests, count),
                )
                for n, server in enumerate(servers)
            )
        )
        cpu.client = time.process_time() - client
        cpu.servers = [cpu_seconds(pid) - b for pid, b in zip(pids, before, strict=True)]
        if master is not None and database is not None:
            cpu.database = cluster_cpu(master) - database
        cpu.load = (cpu.load[0], os.getloadavg()[0])
    finally:
        for server in servers:
            if server.proc is not None and server.proc.poll() is None:
                server.signal(signal.SIGTERM)
    merged = parts[0]
    for part in parts[1:]:
        merged.merge(part)
    return Measured(merged, cpu, warm.acknowledged)


def whistle_feed(points: Any, size: Any) -> Feed:
    return Feed(
        "operator", {}, lambda token: whistle_posts(points, token), created_id,
        size.clients, size.requests, size.seconds,
    )  # fmt: skip


def camera_feed(kind: str, cameras: list[str], size: CameraSize, run: str) -> Feed:
    """The camera feed's batches by ``kind`` (``opening`` or ``repeats``)."""
    if kind == "opening":
        plan, warmup = opening(len(cameras)), 0
        # Each (camera, category) once: no more requests than the pairs fill.
        # (A county too small to fill one request, as the smoke test's, sends one: the
        # pairs seen twice then group, and the row counts them as other.)
        requests = min(size.requests, max(1, len(cameras) * len(OPENING_EVENTS) // PER_REQUEST))
    else:
        plan, warmup, requests = repeating(min(REPEATING_CAMERAS, len(cameras))), 1, size.requests
    return Feed(
        "integration",
        {"source": "camera", "label": f"bench camera feed ({kind})"},
        lambda token: camera_posts(cameras, token, run, plan=plan),
        acknowledged_lines(run),
        size.clients, requests, size.seconds, warmup,
    )  # fmt: skip


def label(system: str, count: int) -> str:
    return f"{system}, {count} process{'es' if count > 1 else ''}"


def whistle_rows(name: str, run: Measured, missing: int, clients: int) -> list[Row]:
    result = run.result
    errors = result.errors({201})
    return [
        Row(SECTION, f"{name} ({clients} clients)", result.acknowledged_per_s, "whistles/s",
            note=f"p99 {result.ms(0.99):.1f} ms; {errors} answers other than 201; "
            f"{run.cpu.per(len(result.acknowledged))}"),
        Row(SECTION, f"{name}: acknowledged but missing", missing, "", "0", missing == 0),
    ]  # fmt: skip


def camera_rows(kind: str, name: str, run: Measured, missing: int, clients: int) -> list[Row]:
    result = run.result
    statuses: dict[str, int] = {}
    for line in result.acknowledged:
        status = line.split("\t", 1)[0]
        statuses[status] = statuses.get(status, 0) + 1
    expected = "created" if kind == "opening" else "grouped"
    others = len(result.acknowledged) - statuses.get(expected, 0)
    not_stored = result.sent * PER_REQUEST - len(result.acknowledged)
    what = "opening a case each" if kind == "opening" else "into open cases"
    return [
        Row(SECTION, f"camera {what}: {name} ({clients} clients × {PER_REQUEST})",
            result.acknowledged_per_s, "detections/s",
            note=f"batch p50 {result.ms(0.5):.0f} ms, p99 {result.ms(0.99):.0f} ms; "
            f"{statuses.get(expected, 0):,} {expected}, {others} other, {not_stored} not "
            f"stored; {run.cpu.per(len(result.acknowledged))}"),
        Row(SECTION, f"camera {what}: {name}: acknowledged but missing", missing, "", "0",
            missing == 0, "each as its whistle or in its case's case.repeated event"),
    ]  # fmt: skip


def details_of(run: Measured) -> dict[str, Any]:
    return {**run.result.summary(), "cpu": run.cpu.summary(len(run.result.acknowledged))}


async def run(args: Any) -> tuple[list[Row], dict[str, Any]]:
    size = SIZES.get(args.size, SIZES["full"])
    camera_size = CAMERA_SIZES.get(args.size, CAMERA_SIZES["full"])
    root, points = payload_points(args.config, size.points)
    url = base_url()
    rows: list[Row] = []
    details: dict[str, Any] = {}
    (ROOT / "var").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "var", prefix="bench-pg-") as tmp:
        workdir = Path(tmp)
        config = camera_config(args.config, workdir, camera_size.per_community)
        cameras = sorted(load_cameras(config, load_hierarchy(config)))
        stamp = datetime.now(CHINA).strftime("%H%M%S")
        systems: list[tuple[str, int]] = [("SQLite", 1)]
        if url is not None:
            systems += [("PostgreSQL", count) for count in PROCESSES]
        for system, count in systems:
            name = label(system, count)
            key = "sqlite" if system == "SQLite" else f"postgres_{count}"
            feeds = {
                "whistles": whistle_feed(points, size),
                "opening": camera_feed("opening", cameras, camera_size, f"o{stamp}"),
                "repeats": camera_feed("repeats", cameras, camera_size, f"r{stamp}"),
            }
            for kind, feed in feeds.items():
                db_url = await fresh_database(url) if system == "PostgreSQL" else None
                db: str | Path = db_url or workdir / f"{key}-{kind}.sqlite3"
                try:
                    measured = await measure(db, count, config, workdir, f"{key}-{kind}", root,
                                             feed)  # fmt: skip
                    acked = measured.result.acknowledged
                    if kind == "whistles":
                        stored = (await stored_postgres(db_url) if db_url
                                  else stored_sqlite(Path(db)))  # fmt: skip
                        missing = len(set(acked) - stored)
                    elif db_url is not None:
                        missing = await missing_postgres(db_url, [*measured.warmed, *acked])
                    else:
                        missing = missing_detections(Path(db), [*measured.warmed, *acked])
                finally:
                    if db_url is not None:
                        await drop_database(url, db_url)  # type: ignore[arg-type]
                if kind == "whistles":
                    rows += whistle_rows(name, measured, missing, feed.clients)
                else:
                    rows += camera_rows(kind, name, measured, missing, feed.clients)
                details[f"{key}_{kind}" if kind != "whistles" else key] = details_of(measured)
        if url is None:
            rows.append(Row(SECTION, "PostgreSQL", "no server", "", note="run make pg-up"))
    details["cameras"] = len(cameras)
    return rows, details


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=ROOT / "config")
    args = p.parse_args()
    rows, details = asyncio.run(run(args))
    write_report(args.json, SECTION, args.size, rows, details)
    if any(r.met is False for r in rows):
        raise SystemExit("acknowledged but missing")


if __name__ == "__main__":
    main()
