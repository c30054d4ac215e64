"""The soak: a mixed workload against a real ``whistle serve`` process, with its figures.

First the intake ceiling is measured (many concurrent clients posting as fast as the server
answers, each whistle with its share of acknowledgements and resolutions; this also warms
the server up); then, for ``duration`` seconds, whistles arrive at
half that rate on a fixed schedule (open loop: a slow answer does not slow the arrivals),
while responders acknowledge and resolve some of them, the server's clock is moved forward in
steps so that acknowledgement deadlines pass and escalations fire, and readers poll the
statistics and single cases. At the end: the server's resident memory then and after
warm-up, every answer that was neither a success nor an expected refusal (an error), and every
acknowledged whistle missing from the database (lost).

Expected refusals: 409 (the case moved on: e.g. an escalation took the assignment a responder
was about to resolve) and ``503 Busy`` with Retry-After (backpressure). Anything else that is
not 2xx, and any failed connection, is an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from grids import Hierarchy
from tests.support.reliability import NO_LIMITS, body, check_log, stored_ids
from whistle.allocator import TRIM_EVERY
from whistle.testing import ServerProcess

__all__ = ["SoakFigures", "SoakSize", "run_soak"]

# Escalation events, written by the scheduler when a deadline passes.
_ESCALATIONS = ("assignment.added", "case.overdue", "case.urged", "case.supervised")


@dataclass(frozen=True, slots=True)
class SoakSize:
    """How long and how hard. ``clock_step`` of server time every ``clock_every`` seconds."""

    duration: float
    ceiling_seconds: float
    ceiling_clients: int = 64
    clock_every: float = 30.0
    clock_step: float = 20 * 60.0
    # Of whistles, acknowledged by their responder; of those, resolved, and then verified
    # (closed) by the operator. A steady state, as in service: nearly every case closes, so
    # the open cases (and their deadlines in the scheduler's memory) stop growing; the few
    # left are what escalates, beside the acknowledgements the clock's jumps overtake.
    ack_share: float = 0.98
    resolve_share: float = 0.98
    stats_every: float = 1.0
    case_read_every: float = 0.1
    max_in_flight: int = 2_000  # the client's own bound; past it an arrival is skipped
    seed: int = 20261121
    # Memory is read with no client connection open, this long after the client closed its
    # connections: an idle keep-alive connection holds its last request and response in
    # aiohttp's handler (about 15 KB), so the figure would follow how many connections the
    # last seconds' burst opened, not what the server kept. It also lets the server's
    # periodic heap trim (whistle/allocator.py) run once, at the start as at the end.
    settle: float = TRIM_EVERY + 2.0


@dataclass
class SoakFigures:
    """What the soak measured; written as JSON."""

    duration: float
    ceiling_per_s: float = 0.0
    target_per_s: float = 0.0
    achieved_per_s: float = 0.0
    rss_start_kib: int = 0
    rss_end_kib: int = 0
    rss_growth: float = 0.0
    # The anonymous part of RSS (heap): VmRSS also counts the database file's mapped pages,
    # which grow with the database, not with a leak.
    anon_start_kib: int = 0
    anon_end_kib: int = 0
    anon_growth: float = 0.0
    # RssAnon at the end of the load, its connections still open (reported, not asserted).
    anon_end_open_kib: int = 0
    connections_open_at_end: int = 0
    intake_p50_ms: float = 0.0
    intake_p99_ms: float = 0.0
    errors: int = 0
    lost: int = 0
    skipped_arrivals: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    # Per tenth of the run: [whistles acknowledged per s, intake p50 ms, p99 ms], to show a
    # slowdown that builds up (a leak, a growing scan) apart from a steady overload.
    windows: list[list[float]] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        c = self.counts
        return (
            f"soak {self.duration:g} s: ceiling {self.ceiling_per_s:.0f}/s, target "
            f"{self.target_per_s:.0f}/s, achieved {self.achieved_per_s:.0f}/s; intake p50 "
            f"{self.intake_p50_ms:.1f} ms p99 {self.intake_p99_ms:.1f} ms; RSS "
            f"{self.rss_start_kib / 1024:.1f} -> {self.rss_end_kib / 1024:.1f} MiB "
            f"({self.rss_growth:+.1%}; anonymous {self.anon_start_kib / 1024:.1f} -> "
            f"{self.anon_end_kib / 1024:.1f} MiB, {self.anon_growth:+.1%}; "
            f"{self.anon_end_open_kib / 1024:.1f} MiB before the client's "
            f"{self.connections_open_at_end} connections closed); errors "
            f"{self.errors}, lost {self.lost}, skipped "
            f"arrivals {self.skipped_arrivals}; whistles {c.get('whistles', 0)}, "
            f"acknowledged {c.get('acknowledged', 0)}, resolved {c.get('resolved', 0)}, "
            f"closed {c.get('closed', 0)}, "
            f"escalation events {c.get('escalation_events', 0)}, stats reads "
            f"{c.get('stats_reads', 0)}, case reads {c.get('case_reads', 0)}, refusals "
            f"{c.get('refusals', 0)}, clock steps {c.get('clock_steps', 0)}"
        )


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """Resident memory of process ``pid`` (``VmRSS``, or ``RssAnon``...), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class _Soak:
    def __init__(self, server: ServerProcess, county: Hierarchy, size: SoakSize) -> None:
        self.server = server
        self.county = county
        self.size = size
        self.rng = random.Random(size.seed)
        self.counts: Counter[str] = Counter()
        self.errors: list[str] = []
        self.acked: set[str] = set()
        self.recent: list[str] = []
        self.latencies: list[float] = []
        self.answered: list[tuple[float, float]] = []  # (answered at, latency), paced phase
        self.tasks: set[asyncio.Task[None]] = set()
        self.tokens: dict[str, str] = {}
        self.token_locks: dict[str, asyncio.Lock] = {}
        self.operator = ""
        self.admin = ""
        self.offset = 0.0
        self.n = 0
        self.session: aiohttp.ClientSession

    # -- plumbing ------------------------------------------------------------------------

    def spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def error(self, what: str) -> None:
        self.counts["errors"] += 1
        if len(self.errors) < 20:
            self.errors.append(what)

    async def request(
        self, method: str, path: str, token: str, payload: Any = None, **headers: str
    ) -> tuple[int, Any, dict[str, str]]:
        """(status, JSON body or None, headers); status 0 when the connection failed."""
        try:
            async with self.session.request(
                method,
                f"{self.server.url}{path}",
                json=payload,
                headers={"Authorization": f"Bearer {token}", **headers},
            ) as response:
                doc = await response.json(content_type=None)
                return response.status, doc, dict(response.headers)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            return 0, repr(exc), {}

    def expected_refusal(self, status: int, doc: Any, headers: dict[str, str]) -> bool:
        if status == 409:
            return True
        return status == 503 and isinstance(doc, dict) and doc.get("title") == "Busy"

    def judge(self, what: str, status: int, doc: Any, headers: dict[str, str]) -> bool:
        """True on 2xx; counts a refusal or an error otherwise."""
        if 200 <= status < 300:
            return True
        if self.expected_refusal(status, doc, headers):
            self.counts["refusals"] += 1
        else:
            self.error(f"{what}: {status} {str(doc)[:200]}")
        return False

    async def responder_token(self, responder_id: str) -> str:
        lock = self.token_locks.setdefault(responder_id, asyncio.Lock())
        async with lock:
            if responder_id not in self.tokens:
                status, doc, headers = await self.request(
                    "POST",
                    "/api/v1/tokens",
                    self.admin,
                    {"role": "responder", "scope": self.county.root, "responder": responder_id},
                )
                if not self.judge("token", status, doc, headers):
                    return ""
                self.tokens[responder_id] = doc["token"]
            return self.tokens[responder_id]

    # -- the actions ---------------------------------------------------------------------

    async def intake(self, *, track: bool = True) -> None:
        """One whistle; its responder's actions follow in a task of their own (``track``) or
        at once, before this returns (not ``track``: the ceiling's closed loop)."""
        n = self.n
        self.n += 1
        started = time.monotonic()
        status, doc, headers = await self.request(
            "POST",
            "/api/v1/whistles",
            self.operator,
            body(self.county, n),
            # The whole whistle: its responders act on the assignments it lists.
            **{"Idempotency-Key": f"soak-{n}", "Prefer": "return=representation"},
        )
        elapsed = time.monotonic() - started
        if not self.judge("intake", status, doc, headers):
            return
        self.acked.add(doc["id"])
        self.counts["whistles"] += 1
        if not track:
            if self.rng.random() < self.size.ack_share:
                await self.respond(doc, pause=False)
            return
        self.latencies.append(elapsed)
        self.answered.append((time.monotonic(), elapsed))
        self.recent.append(doc["id"])
        if len(self.recent) > 1000:
            del self.recent[:500]
        if self.rng.random() < self.size.ack_share:
            self.spawn(self.respond(doc))

    async def respond(self, doc: dict[str, Any], *, pause: bool = True) -> None:
        """The assignment's responder acknowledges it and, sometimes, resolves it."""
        push = [
            a for a in doc.get("assignments", []) if a.get("responder") and a.get("mode") == "push"
        ]
        if not push:
            return
        assignment = self.rng.choice(push)
        token = await self.responder_token(assignment["responder"]["id"])
        if not token:
            return
        if pause:
            await asyncio.sleep(self.rng.uniform(0.0, 2.0))  # a person takes a moment
        path = f"/api/v1/assignments/{assignment['id']}"
        status, answer, headers = await self.request("POST", f"{path}/acknowledge", token, {})
        if not self.judge("acknowledge", status, answer, headers):
            return
        self.counts["acknowledged"] += 1
        if self.rng.random() >= self.size.resolve_share:
            return
        if pause:
            await asyncio.sleep(self.rng.uniform(0.0, 2.0))
        note = {"note": "已清理楼道杂物"}
        status, answer, headers = await self.request("POST", f"{path}/resolve", token, note)
        if not self.judge("resolve", status, answer, headers):
            return
        self.counts["resolved"] += 1
        # The operator checks the work (核查) and the case closes (结案). A case another of
        # its assignments keeps open answers 409, an expected refusal.
        status, answer, headers = await self.request(
            "POST", f"/api/v1/whistles/{doc['id']}/verify", self.operator, {"passed": True}
        )
        if self.judge("verify", status, answer, headers):
            self.counts["closed"] += 1

    async def read_stats(self, until: float) -> None:
        while time.monotonic() < until:
            status, doc, headers = await self.request("GET", "/api/v1/stats", self.operator)
            if self.judge("stats", status, doc, headers):
                self.counts["stats_reads"] += 1
            await asyncio.sleep(self.size.stats_every)

    async def read_cases(self, until: float) -> None:
        while time.monotonic() < until:
            if self.recent:
                whistle_id = self.rng.choice(self.recent)
                status, doc, headers = await self.request(
                    "GET", f"/api/v1/whistles/{whistle_id}", self.operator
                )
                if self.judge("case read", status, doc, headers):
                    self.counts["case_reads"] += 1
            await asyncio.sleep(self.size.case_read_every)

    async def move_clock(self, until: float, offset_file: Path) -> None:
        """Every ``clock_every`` seconds the server's time jumps ``clock_step`` ahead."""
        assert self.server.proc is not None
        while True:
            await asyncio.sleep(min(self.size.clock_every, max(0.0, until - time.monotonic())))
            if time.monotonic() >= until:
                return
            self.offset += self.size.clock_step
            offset_file.write_text(f"{self.offset}\n", encoding="utf-8")  # noqa: ASYNC240
            self.server.proc.send_signal(signal.SIGUSR1)
            self.counts["clock_steps"] += 1

    # -- the phases ----------------------------------------------------------------------

    async def ceiling(self) -> float:
        """Whistles per second with ``ceiling_clients`` posting back to back, each whistle
        with its share of acknowledgements and resolutions done before the client's next one:
        the ceiling of this workload's intake. (Intake alone goes faster; at half of that,
        the acknowledgements and resolutions on top, each a write dearer than an intake, were
        more than the server could take on a shared machine: the run measured an overload.)"""
        until = time.monotonic() + self.size.ceiling_seconds
        before = self.counts["whistles"]

        async def client() -> None:
            while time.monotonic() < until:
                await self.intake(track=False)

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(self.size.ceiling_clients)))
        return (self.counts["whistles"] - before) / (time.monotonic() - started)

    async def paced(self, rate: float, offset_file: Path) -> float:
        """Arrivals at ``rate`` per second on a fixed schedule for ``duration`` seconds."""
        started = time.monotonic()
        until = started + self.size.duration
        readers = [
            asyncio.create_task(self.read_stats(until)),
            asyncio.create_task(self.read_cases(until)),
            asyncio.create_task(self.move_clock(until, offset_file)),
        ]
        before = self.counts["whistles"]
        arrivals = 0
        while True:
            due = started + arrivals / rate
            if due >= until:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            arrivals += 1
            if len(self.tasks) >= self.size.max_in_flight:
                self.counts["skipped_arrivals"] += 1
                continue
            self.spawn(self.intake())
        await asyncio.gather(*readers)
        while self.tasks:  # the last answers and the responders' last actions
            await asyncio.wait(set(self.tasks))
        return (self.counts["whistles"] - before) / (time.monotonic() - started)


async def run_soak(
    server: ServerProcess, county: Hierarchy, size: SoakSize, offset_file: Path
) -> SoakFigures:
    """Run the soak against ``server`` (started here, with ``--clock-offset-file``
    ``offset_file``) and stop it at the end; return the figures."""
    assert "--clock-offset-file" in server.extra_args
    soak = _Soak(server, county, size)
    figures = SoakFigures(duration=size.duration)
    await server.start()
    soak.operator = server.create_token("operator", county.root)
    soak.admin = server.create_token("admin", None)
    assert server.proc is not None
    pid = server.proc.pid
    timeout = aiohttp.ClientTimeout(total=60)

    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=size.max_in_flight + 64)
        return aiohttp.ClientSession(connector=connector, timeout=timeout)

    async with session() as soak.session:
        figures.ceiling_per_s = await soak.ceiling()
    await asyncio.sleep(size.settle)
    figures.rss_start_kib = rss_kib(pid)  # after the ceiling run: warmed up
    figures.anon_start_kib = rss_kib(pid, "RssAnon")
    figures.target_per_s = figures.ceiling_per_s / 2
    async with session() as soak.session:
        paced_from = time.monotonic()
        figures.achieved_per_s = await soak.paced(figures.target_per_s, offset_file)
        figures.windows = _windows(soak.answered, paced_from, size.duration)
        figures.anon_end_open_kib = rss_kib(pid, "RssAnon")
        figures.connections_open_at_end = _sockets(pid) - 1
    await asyncio.sleep(size.settle)
    figures.rss_end_kib = rss_kib(pid)
    figures.anon_end_kib = rss_kib(pid, "RssAnon")
    assert server.signal(signal.SIGTERM) == 0
    check_log(server.db)
    figures.rss_growth = figures.rss_end_kib / figures.rss_start_kib - 1
    figures.anon_growth = figures.anon_end_kib / figures.anon_start_kib - 1
    figures.intake_p50_ms = _percentile(soak.latencies, 0.50) * 1000
    figures.intake_p99_ms = _percentile(soak.latencies, 0.99) * 1000
    figures.lost = len(soak.acked - set(stored_ids(server.db)))
    figures.errors = soak.counts["errors"]
    figures.skipped_arrivals = soak.counts["skipped_arrivals"]
    figures.error_samples = soak.errors
    figures.counts = dict(soak.counts)
    figures.counts["escalation_events"] = _escalation_events(server.db)
    return figures


def _sockets(pid: int) -> int:
    """How many sockets process ``pid`` holds open (its listening socket among them)."""
    fds = Path(f"/proc/{pid}/fd")
    count = 0
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):  # closed meanwhile
            count += str(fd.readlink()).startswith("socket:")
    return count


def _windows(
    answered: list[tuple[float, float]], start: float, duration: float
) -> list[list[float]]:
    width = duration / 10
    out = []
    for i in range(10):
        lo, hi = start + i * width, start + (i + 1) * width
        lat = [latency for at, latency in answered if lo <= at < hi]
        out.append(
            [
                round(len(lat) / width, 1),
                round(_percentile(lat, 0.5) * 1000, 1),
                round(_percentile(lat, 0.99) * 1000, 1),
            ]
        )
    return out


def _escalation_events(db: Path) -> int:
    import sqlite3

    marks = ",".join("?" * len(_ESCALATIONS))
    raw = sqlite3.connect(db)
    try:
        row = raw.execute(
            f"SELECT count(*) FROM events WHERE actor = 'scheduler' AND type IN ({marks})",
            _ESCALATIONS,
        ).fetchone()
    finally:
        raw.close()
    return int(row[0])


def server_for_soak(db: Path, config: Path, log: Path, offset_file: Path) -> ServerProcess:
    """``whistle serve`` with the rate limits lifted and the movable clock."""
    args = (*NO_LIMITS, "--clock-offset-file", str(offset_file))
    return ServerProcess(db, config, log, extra_args=args)
