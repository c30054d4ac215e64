"""PostgreSQL section: intake throughput with 1, 2 and 3 `whistle serve` processes on one
PostgreSQL database, beside one process on SQLite, in one run, with the same client and
payloads as the intake section (bench/intake.py).

The clients are shared out over the processes (as a load balancer would), each request to one
process; every 201 id is looked up in the database afterwards. Needs the server of
`make pg-up` (var/pg/url, or WHISTLE_BENCH_POSTGRES); without one the section reports that
and exits 0.

    python bench/postgres.py [--size tiny|full] [--json PATH] [--config DIR]
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import Row, parser, write_report  # noqa: E402
from intake import SIZES, UNLIMITED, payload_points, whistle_posts  # noqa: E402
from load import LoadResult, load  # noqa: E402

from whistle.testing import ServerProcess  # noqa: E402

SECTION = "postgres"
PROCESSES = (1, 2, 3)


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


async def measure(
    db: str | Path, count: int, config: Path, workdir: Path, name: str, points: Any, root: str,
    size: Any,
) -> LoadResult:  # fmt: skip
    """``count`` servers on ``db``, loaded together; the merged result."""
    servers = [
        ServerProcess(db, config, workdir / f"{name}-{n}.log", extra_args=UNLIMITED)
        for n in range(count)
    ]
    try:
        for server in servers:
            await server.start()
        token = servers[0].create_token("operator", root)
        make = whistle_posts(points, token)
        parts = await asyncio.gather(
            *(
                load(
                    server.url,
                    make,
                    clients=size.clients // count + (1 if n < size.clients % count else 0),
                    requests=size.requests,
                    seconds=size.seconds,
                    numbers=range(n, size.requests, count),
                )
                for n, server in enumerate(servers)
            )
        )
    finally:
        for server in servers:
            if server.proc is not None and server.proc.poll() is None:
                server.signal(signal.SIGTERM)
    merged = parts[0]
    for part in parts[1:]:
        merged.merge(part)
    return merged


def row(label: str, result: LoadResult, missing: int, clients: int) -> list[Row]:
    errors = result.errors({201})
    return [
        Row(SECTION, f"{label} ({clients} clients)", result.acknowledged_per_s, "whistles/s",
            note=f"p99 {result.ms(0.99):.1f} ms; {errors} answers other than 201"),
        Row(SECTION, f"{label}: acknowledged but missing", missing, "", "0", missing == 0),
    ]  # fmt: skip


async def run(args: Any) -> tuple[list[Row], dict[str, Any]]:
    size = SIZES.get(args.size, SIZES["full"])
    root, points = payload_points(args.config, size.points)
    url = base_url()
    rows: list[Row] = []
    details: dict[str, Any] = {}
    (ROOT / "var").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "var", prefix="bench-pg-") as tmp:
        workdir = Path(tmp)
        db = workdir / "sqlite.sqlite3"
        result = await measure(db, 1, args.config, workdir, "sqlite", points, root, size)
        missing = len(set(result.acknowledged) - stored_sqlite(db))
        rows += row("SQLite, 1 process", result, missing, size.clients)
        details["sqlite"] = result.summary()
        if url is None:
            rows.append(Row(SECTION, "PostgreSQL", "no server", "", note="run make pg-up"))
            return rows, details
        for count in PROCESSES:
            db_url = await fresh_database(url)
            try:
                result = await measure(
                    db_url, count, args.config, workdir, f"pg{count}", points, root, size
                )
                missing = len(set(result.acknowledged) - await stored_postgres(db_url))
            finally:
                await drop_database(url, db_url)
            rows += row(f"PostgreSQL, {count} process{'es' if count > 1 else ''}", result,
                        missing, size.clients)  # fmt: skip
            details[f"postgres_{count}"] = result.summary()
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
