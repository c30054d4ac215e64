"""Intake benchmark: concurrent clients post whistles to a real `whistle serve` process.

Reports whistles/s and latency percentiles, then checks that every 201 is in the database.
Also times routing decisions in-process on the same county. Results go to stdout as a
Markdown table and to a JSON file.

    python bench/intake.py --requests 20000 --concurrency 64 [--config config] [--json out]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import random
import signal
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dispatch import Router, RouteRequest, Source, load_dispatch_config  # noqa: E402
from grids import Level  # noqa: E402
from grids.loader import load_hierarchy  # noqa: E402
from whistle.testing import ServerProcess  # noqa: E402


async def load(
    url: str, token: str, points: list[dict[str, float]], requests: int, concurrency: int
) -> dict[str, Any]:
    latencies: list[float] = []
    ids: list[str] = []
    errors: dict[int, int] = {}
    counter = iter(range(requests))
    rng = random.Random(7)
    sources = [
        ("citizen", "E0101"),
        ("camera", "E0403"),
        ("police", "E0701"),
        ("community", "E0101"),
        ("town_committee", "E0601"),
    ]
    connector = aiohttp.TCPConnector(limit=concurrency)
    auth = {"Authorization": f"Bearer {token}"}

    async def worker(session: aiohttp.ClientSession) -> None:
        for n in counter:
            source, category = sources[n % len(sources)]
            payload = {
                "source": source,
                "category": category,
                "description": f"bench #{n}",
                "location": rng.choice(points),
            }
            start = time.perf_counter()
            async with session.post(
                f"{url}/api/v1/whistles", json=payload, headers=auth
            ) as response:
                doc = await response.json()
            latencies.append(time.perf_counter() - start)
            if response.status == 201:
                ids.append(doc["id"])
            else:
                errors[response.status] = errors.get(response.status, 0) + 1

    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "requests": requests,
        "concurrency": concurrency,
        "seconds": round(elapsed, 3),
        "whistles_per_s": round(len(ids) / elapsed, 1),
        "p50_ms": round(pct(0.50), 2),
        "p99_ms": round(pct(0.99), 2),
        "max_ms": round(latencies[-1] * 1000, 2),
        "errors": errors,
        "ids": ids,
    }


def routing(config: Path, samples: int) -> dict[str, Any]:
    began = time.perf_counter()
    hierarchy = load_hierarchy(config)
    router = Router.compile(hierarchy, load_dispatch_config(config))
    load_s = time.perf_counter() - began
    gc.collect()
    gc.freeze()  # as the server does after loading (whistle/app.py)
    micro = list(hierarchy.cells(level=Level.MICRO_GRID))
    rng = random.Random(1)
    points = []
    for cell in rng.sample(micro, min(samples, len(micro))):
        lat, lon = hierarchy.centroid(cell.code) or (0.0, 0.0)
        points.append((lat, lon))
    now = datetime.now(UTC)
    began = time.perf_counter()
    for lat, lon in points:
        cell = hierarchy.locate(lat, lon)
        assert cell is not None
        router.route(
            RouteRequest(source=Source.CITIZEN, category="E0101", cell=cell.code, received_at=now)
        )
    per = (time.perf_counter() - began) / len(points) * 1e6
    return {
        "root": hierarchy.root,
        "cells": len(hierarchy),
        "load_s": round(load_s, 2),
        "locate_and_route_us": round(per, 1),
        "points": [{"lat": lat, "lon": lon} for lat, lon in points],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, default=ROOT / "config")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--json", type=Path, default=ROOT / "var" / "bench-intake.json")
    args = parser.parse_args()

    route = routing(args.config, 2000)
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(
            Path(tmp) / "bench.sqlite3",
            args.config,
            Path(tmp) / "server.log",
            # The bench measures throughput, not the rate limiter: lift the per-token limit.
            extra_args=(
                "--log-level",
                "warning",
                "--limit-per-token",
                "1e6",
                "--limit-per-address",
                "1e6",
            ),
        )
        try:
            asyncio.run(server.start())
            token = server.create_token("operator", route.pop("root"))
            points = route.pop("points")
            result = asyncio.run(load(server.url, token, points, args.requests, args.concurrency))
        finally:
            server.signal(signal.SIGTERM)
        with sqlite3.connect(server.db) as raw:
            stored = {row[0] for row in raw.execute("SELECT id FROM whistles")}
    ids = result.pop("ids")
    missing = len(set(ids) - stored)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "intake": result,
        "acknowledged_missing_from_db": missing,
        "routing": route,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    rows = [
        (f"intake whistles/s ({args.concurrency} clients)", result["whistles_per_s"]),
        (
            "intake p50 / p99 / max ms",
            f"{result['p50_ms']} / {result['p99_ms']} / {result['max_ms']}",
        ),
        ("non-201 answers", result["errors"] or 0),
        ("acknowledged but missing from the database", missing),
        (f"locate + route µs per whistle ({route['cells']} cells)", route["locate_and_route_us"]),
        ("hierarchy + router load s", route["load_s"]),
    ]
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    if missing:
        raise SystemExit("acknowledged whistles are missing")


if __name__ == "__main__":
    main()
