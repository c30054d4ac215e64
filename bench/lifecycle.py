"""Lifecycle benchmark: transitions through the API, pending deadlines, re-arm after restart.

Three measures, each against real parts:

1. transitions: a real ``whistle serve`` takes ``--cases`` whistles, then ``--concurrency``
   clients, each holding its responders' tokens, acknowledge and resolve every case's first
   assignment through ``POST /api/v1/assignments/{id}/acknowledge|resolve``; transitions/s
   and p50/p99 latency, and how many deadlines the server's scheduler holds (``/metrics``).
2. memory: bytes per pending deadline, in-process, around arming ``--deadlines`` deadlines
   (six per case, with ULID case ids and the keys the lifecycle uses) in a DeadlineTimer.
3. re-arm: a database holding ``--rearm`` pending deadline rows, written through the store's
   own write path (``SqliteStore.create_whistles``, batched); the CaseService start path
   timed in-process, then the whole ``whistle serve`` start-to-ready over the same file.

    python bench/lifecycle.py [--size tiny|full] [--json var/bench-lifecycle.json]
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import re
import signal
import sqlite3
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Row, parser, percentile, rss_mib, write_report  # noqa: E402
from dispatch import Router, load_dispatch_config  # noqa: E402
from dispatch.timer import DeadlineTimer  # noqa: E402
from grids import Level  # noqa: E402
from grids.loader import load_hierarchy  # noqa: E402
from whistle.auth import Role  # noqa: E402
from whistle.bus import Bus  # noqa: E402
from whistle.cases import CaseService  # noqa: E402
from whistle.clock import FakeClock, SystemClock  # noqa: E402
from whistle.events import NewEvent  # noqa: E402
from whistle.ids import IdFactory  # noqa: E402
from whistle.logs import configure_logging  # noqa: E402
from whistle.store import AssignmentRow, NewWhistle, SqliteStore, WhistleRow  # noqa: E402
from whistle.testing import ServerProcess  # noqa: E402
from whistle.web.access import Access  # noqa: E402

SECTION = "lifecycle"


@dataclass(frozen=True, slots=True)
class Size:
    cases: int  # whistles posted before the transitions
    concurrency: int  # HTTP clients acting at once
    deadlines: int  # deadlines armed in-process for the memory figure
    rearm: int  # pending deadline rows in the re-arm database


SIZES = {
    "tiny": Size(cases=40, concurrency=4, deadlines=12_000, rearm=600),
    "full": Size(cases=3_000, concurrency=32, deadlines=1_000_000, rearm=100_000),
}

# The whistles posted: push assignments to a grid's members, a patrol, a police station.
SOURCES = [("citizen", "E0101"), ("camera", "E0403"), ("police", "E0701")]
SERVER_FLAGS = (
    "--log-level",
    "warning",
    # The bench measures the lifecycle, not the rate limiter: lift both limits.
    "--limit-per-token",
    "1e6",
    "--limit-per-address",
    "1e6",
)


# -- 1. transitions through the API -----------------------------------------------------------


def _points(config: Path, n: int) -> tuple[str, list[dict[str, float]]]:
    hierarchy = load_hierarchy(config)
    micro = list(hierarchy.cells(level=Level.MICRO_GRID))
    rng = random.Random(11)
    points = []
    for cell in rng.sample(micro, min(n, len(micro))):
        lat, lon = hierarchy.centroid(cell.code) or (0.0, 0.0)
        points.append({"lat": lat, "lon": lon})
    return hierarchy.root, points


async def _post_cases(
    session: aiohttp.ClientSession, url: str, token: str, points: list[dict[str, float]], n: int
) -> list[dict[str, Any]]:
    """``n`` whistles posted by an operator; the first push assignment of each with a
    responder: (whistle id, assignment id, responder id)."""
    auth = {"Authorization": f"Bearer {token}"}
    work = iter(range(n))
    docs: list[dict[str, Any]] = []

    async def client() -> None:
        for i in work:
            source, category = SOURCES[i % len(SOURCES)]
            body = {
                "source": source,
                "category": category,
                "description": f"lifecycle bench #{i}",
                "location": points[i % len(points)],
            }
            # The whole whistle back: the bench acts on the assignments it lists.
            whole = {**auth, "Prefer": "return=representation"}
            async with session.post(f"{url}/api/v1/whistles", json=body, headers=whole) as r:
                doc = await r.json()
                if r.status != 201:
                    raise RuntimeError(f"intake answered {r.status}: {doc}")
            docs.append(doc)

    await asyncio.gather(*(client() for _ in range(8)))
    picked = []
    for doc in docs:
        for a in doc["assignments"]:
            responder = (a.get("responder") or {}).get("id")
            if a["mode"] == "push" and a["status"] == "dispatched" and responder:
                picked.append({"whistle": doc["id"], "assignment": a["id"], "responder": responder})
                break
    return picked


async def _responder_tokens(db: Path, config: Path, responders: set[str]) -> dict[str, str]:
    """A token per responder, issued as ``whistle token create`` does, straight into the
    running server's database (WAL: the server keeps serving meanwhile)."""
    hierarchy = load_hierarchy(config)
    store = SqliteStore(db, Bus())
    await store.open()
    try:
        access = Access(store, SystemClock(), hierarchy)
        tokens = {}
        for rid in sorted(responders):
            issued = await access.issue_token(
                role=Role.RESPONDER, scope=hierarchy.root, responder_id=rid, by="bench"
            )
            tokens[rid] = issued.token
        return tokens
    finally:
        await store.close()


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _pending_metric(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(f"{url}/metrics") as r:
        text = await r.text()
    found = re.search(r"^whistle_deadlines_pending(?:{[^}]*})?\s+([0-9.e+]+)$", text, re.MULTILINE)
    return int(float(found.group(1))) if found else -1


async def _transitions(
    session: aiohttp.ClientSession,
    url: str,
    cases: list[dict[str, Any]],
    tokens: dict[str, str],
    concurrency: int,
) -> dict[str, Any]:
    """Each client takes the next case and acknowledges then resolves its assignment."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    work = iter(cases)

    async def act(case: dict[str, Any], action: str, body: dict[str, Any]) -> None:
        auth = {"Authorization": f"Bearer {tokens[case['responder']]}"}
        path = f"{url}/api/v1/assignments/{case['assignment']}/{action}"
        started = time.perf_counter()
        async with session.post(path, json=body, headers=auth) as r:
            await r.read()
        latencies.append(time.perf_counter() - started)
        statuses[r.status] = statuses.get(r.status, 0) + 1

    async def client() -> None:
        for case in work:
            await act(case, "acknowledge", {})
            await act(case, "resolve", {"note": "done"})

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    seconds = time.perf_counter() - began
    latencies.sort()
    return {
        "transitions": len(latencies),
        "seconds": round(seconds, 3),
        "per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else 0.0,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def transitions(config: Path, work: Path, size: Size) -> dict[str, Any]:
    root, points = _points(config, 2_000)
    server = ServerProcess(
        work / "lifecycle.sqlite3", config, work / "lifecycle.log", extra_args=SERVER_FLAGS
    )
    try:
        asyncio.run(server.start())
        operator = server.create_token("operator", root)

        async def run() -> dict[str, Any]:
            connector = aiohttp.TCPConnector(limit=max(size.concurrency, 8))
            async with aiohttp.ClientSession(connector=connector) as session:
                cases = await _post_cases(session, server.url, operator, points, size.cases)
                held_after_intake = await _pending_metric(session, server.url)
                tokens = await _responder_tokens(server.db, config, {c["responder"] for c in cases})
                assert server.proc is not None
                cpu = _cpu_seconds(server.proc.pid)
                result = await _transitions(session, server.url, cases, tokens, size.concurrency)
                # The server's own CPU per transition: steadier than wall time on a busy box.
                cpu = _cpu_seconds(server.proc.pid) - cpu
                result["server_cpu_ms_per_transition"] = round(
                    cpu / max(1, result["transitions"]) * 1000, 2
                )
                result["held_after_transitions"] = await _pending_metric(session, server.url)
            result["cases"] = size.cases
            result["acted_on"] = len(cases)
            result["concurrency"] = size.concurrency
            result["held_after_intake"] = held_after_intake
            return result

        result = asyncio.run(run())
    finally:
        server.signal(signal.SIGTERM)
    with sqlite3.connect(server.db) as raw:
        (pending,) = raw.execute(
            "SELECT count(*) FROM deadlines WHERE status = 'pending'"
        ).fetchone()
    result["pending_rows_after"] = pending
    return result


# -- 2. memory per pending deadline -------------------------------------------------------------

KEYS = ("-1:acknowledge", "-2:acknowledge", "-3:acknowledge")
ROUND_KEYS = ("urge:1", "supervise:1", "escalate:1")
PER_CASE = len(KEYS) + len(ROUND_KEYS)


def _case_ids(n: int, start: datetime) -> list[str]:
    clock = FakeClock(start)
    ids = IdFactory(clock, random.Random(5).getrandbits)
    out = []
    for _ in range(n):
        out.append(ids.new())
        clock.advance(timedelta(milliseconds=40))
    return out


def memory(size: Size) -> dict[str, Any]:
    """Resident memory grown by arming the deadlines, per deadline: what the timer holds
    (heap entries, the per-case maps, and the id, key and time objects they keep alive, each
    made fresh as the bus hands them over). Run first, in a fresh process, so that the
    growth is the timer's (tracemalloc would be exact but makes arming a million five times
    slower). Then one transition per case (an acknowledgement: one key fewer, the rest
    handed over again) and the heap entries the timer then holds."""
    now = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    n_cases = size.deadlines // PER_CASE
    ids = _case_ids(n_cases, now)
    gc.collect()
    before = rss_mib()
    timer = DeadlineTimer()
    started = time.perf_counter()
    for i, case_id in enumerate(ids):
        received = now + timedelta(seconds=i)
        timer.replace(case_id, _pending(case_id, received))
    seconds = time.perf_counter() - started
    gc.collect()
    grown = (rss_mib() - before) * 2**20
    armed = len(timer)
    for i, case_id in enumerate(ids):
        pending = _pending(case_id, now + timedelta(seconds=i))
        del pending[f"{case_id}{KEYS[0]}"]
        timer.replace(case_id, pending)
    result = {
        "deadlines": armed,
        "cases": n_cases,
        "rss_grown_mib": round(grown / 2**20, 1),
        "bytes_per_deadline": round(grown / armed, 1),
        "arm_seconds": round(seconds, 3),
        "arm_per_s": round(armed / seconds),
        "after_one_transition_pending": len(timer),
        "after_one_transition_entries": timer.entries,
    }
    del timer
    gc.collect()
    return result


def _pending(case_id: str, received: datetime) -> dict[str, datetime]:
    """A pushed case's deadlines as the bus hands them over: fresh strings and times."""
    case_id = "".join(case_id)  # a copy, as parsing each event's JSON makes
    pending = {f"{case_id}{k}": received + timedelta(minutes=30) for k in KEYS}
    pending["".join(["urge:", "1"])] = received + timedelta(hours=36)
    pending["".join(["supervise:", "1"])] = received + timedelta(hours=48)
    pending["".join(["escalate:", "1"])] = received + timedelta(hours=72)
    return pending


# -- 3. re-arm after restart ---------------------------------------------------------------------


def _rearm_case(case_id: str, n: int, now: datetime, places: list[tuple[str, str]]) -> NewWhistle:
    """A pushed case waiting for its three responders: six pending deadlines, all ahead."""
    code, path = places[n % len(places)]
    received = now - timedelta(minutes=n % 20)
    due = {f"{case_id}{k}": received + timedelta(days=2, minutes=30) for k in KEYS}
    due["urge:1"] = received + timedelta(days=3)
    due["supervise:1"] = received + timedelta(days=4)
    due["escalate:1"] = received + timedelta(days=5)
    resolve_due = received + timedelta(days=4)
    row = WhistleRow(
        id=case_id,
        received_at=received,
        source="citizen",
        category="E0101",
        urgency="normal",
        status="dispatched",
        grid_code=code,
        grid_path=path,
        grid_level=5,
        doc={"id": case_id, "source": "citizen", "category": {"code": "E0101"}},
    )
    assignments = [
        AssignmentRow(
            id=f"{case_id}-{i}",
            whistle_id=case_id,
            responder_id=f"bench-{n % 500}-{i}",
            kind="registered_member",
            mode="push",
            status="dispatched",
            cell=code,
            acknowledge_due=due[f"{case_id}-{i}:acknowledge"],
            claim_due=None,
            resolve_due=resolve_due,
            doc={"id": f"{case_id}-{i}"},
        )
        for i in (1, 2, 3)
    ]
    deadlines = {key: when.isoformat() for key, when in due.items()}
    events = [
        NewEvent("whistle.received", case_id, received, "bench", {"grid": code}),
        NewEvent("whistle.routed", case_id, received, "router", {"deadlines": deadlines}),
    ]
    return NewWhistle(
        row,
        assignments,
        events,
        deadlines=list(due.items()),
        case_doc={"resolve_due": resolve_due.isoformat(), "rework": 0},
    )


async def fill_rearm_db(db: Path, config: Path, pending: int) -> dict[str, Any]:
    hierarchy = load_hierarchy(config)
    places = []
    for cell in list(hierarchy.cells(level=Level.MICRO_GRID))[:2_000]:
        places.append((cell.code, "/" + "/".join(cell.path) + "/"))
    now = datetime.now(UTC)
    n_cases = -(-pending // PER_CASE)
    ids = _case_ids(n_cases, now - timedelta(days=1))
    store = SqliteStore(db, Bus())
    await store.open()
    started = time.perf_counter()
    try:
        for lo in range(0, n_cases, 2_000):
            batch = [
                _rearm_case(ids[n], n, now, places) for n in range(lo, min(n_cases, lo + 2_000))
            ]
            await store.create_whistles(batch)
    finally:
        await store.close()
    return {"cases": n_cases, "fill_seconds": round(time.perf_counter() - started, 2)}


async def rearm_in_process(db: Path, config: Path) -> dict[str, Any]:
    """The CaseService start path, timed around ``start()`` on an opened store (as the
    server does it), with the timer loop off so nothing else runs."""
    hierarchy = load_hierarchy(config)
    dispatch = load_dispatch_config(config)
    router = Router.compile(hierarchy, dispatch)
    store = SqliteStore(db, Bus())
    await store.open()
    try:
        service = CaseService(
            store=store,
            router=router,
            policy=dispatch.policy,
            clock=SystemClock(),
            tz=router.calendar.timezone,
            run_timer=False,
        )
        gc.collect()
        started, cpu = time.perf_counter(), time.process_time()
        await service.start()
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu  # all threads: the reader's SQLite and the arming
        armed = len(service.timer)
        fired = service.fired
        await service.stop()
    finally:
        await store.close()
    return {
        "rearmed": armed,
        "fired_at_start": fired,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
    }


def rearm(config: Path, work: Path, size: Size) -> dict[str, Any]:
    db = work / "rearm.sqlite3"
    result = asyncio.run(fill_rearm_db(db, config, size.rearm))
    with sqlite3.connect(db) as raw:
        (rows,) = raw.execute("SELECT count(*) FROM deadlines WHERE status = 'pending'").fetchone()
    result["pending_rows"] = rows
    result.update(asyncio.run(rearm_in_process(db, config)))
    # Start to ready over an empty database first: the county's load, the baseline.
    result["serve_ready_empty_seconds"], _ = _serve_ready(work / "empty.sqlite3", config, work)
    result["serve_ready_seconds"], result["serve_rearmed"] = _serve_ready(db, config, work)
    return result


def _serve_ready(db: Path, config: Path, work: Path) -> tuple[float, int]:
    """Seconds from spawning ``whistle serve`` over ``db`` to /readyz answering 200, and
    the deadlines its scheduler then holds."""
    server = ServerProcess(db, config, work / "rearm.log", extra_args=SERVER_FLAGS)
    started = time.perf_counter()
    try:
        asyncio.run(server.start(ready_within=120.0))
        seconds = round(time.perf_counter() - started, 2)

        async def held() -> int:
            async with aiohttp.ClientSession() as session:
                return await _pending_metric(session, server.url)

        return seconds, asyncio.run(held())
    finally:
        server.signal(signal.SIGTERM)


# -- the report --------------------------------------------------------------------------------


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=ROOT / "config")
    p.add_argument("--work", type=Path, default=ROOT / "var" / "bench-lifecycle")
    args = p.parse_args()
    size = SIZES.get(args.size, SIZES["full"])  # nothing larger: large runs full
    configure_logging("warning", json=False)
    args.work.mkdir(parents=True, exist_ok=True)
    for old in [*args.work.glob("*.sqlite3*"), *args.work.glob("*.log")]:
        old.unlink()
    began = time.perf_counter()
    mem = memory(size)
    tr = transitions(args.config, args.work, size)
    re_ = rearm(args.config, args.work, size)
    wall = round(time.perf_counter() - began, 1)
    ok = tr["statuses"] == {"200": tr["transitions"]}
    rows = [
        Row(
            SECTION,
            f"transitions/s ({size.concurrency} clients)",
            tr["per_s"],
            "/s",
            note=f"acknowledge + resolve of {tr['acted_on']:,} cases through the API, "
            f"{tr['server_cpu_ms_per_transition']} ms of server CPU each; "
            f"answers {tr['statuses']}",
        ),
        Row(SECTION, "transition p50 / p99", f"{tr['p50_ms']} / {tr['p99_ms']}", "ms"),
        Row(
            SECTION,
            f"deadlines held after {tr['cases']:,} new cases",
            tr["held_after_intake"],
            note=f"{tr['held_after_transitions']:,} once every case was resolved",
        ),
        Row(
            SECTION,
            "memory per pending deadline",
            mem["bytes_per_deadline"],
            "B",
            note=f"RSS grown arming {mem['deadlines']:,} in a DeadlineTimer "
            f"({mem['rss_grown_mib']} MiB, {mem['arm_per_s']:,} armed/s); after one "
            f"transition per case {mem['after_one_transition_pending']:,} pending in "
            f"{mem['after_one_transition_entries']:,} heap entries",
        ),
        Row(
            SECTION,
            f"re-arm {re_['rearmed']:,} pending deadlines (in-process)",
            re_["seconds"],
            "s",
            "< 5 s",
            re_["seconds"] < 5.0,
            f"CaseService.start over {re_['pending_rows']:,} pending rows; "
            f"{re_['cpu_seconds']} s of CPU",
        ),
        Row(
            SECTION,
            f"whistle serve start to ready ({re_['pending_rows']:,} pending)",
            re_["serve_ready_seconds"],
            "s",
            note=f"re-armed {re_['serve_rearmed']:,}; over an empty database "
            f"{re_['serve_ready_empty_seconds']} s (loading the county)",
        ),
        Row(SECTION, "section wall time", wall, "s"),
    ]
    write_report(
        args.json,
        SECTION,
        args.size,
        rows,
        {"transitions": tr, "memory": mem, "rearm": re_, "all_200": ok, "wall_seconds": wall},
    )
    if not ok:
        raise SystemExit(f"some transitions did not answer 200: {tr['statuses']}")


if __name__ == "__main__":
    main()
