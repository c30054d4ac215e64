"""The load generator every HTTP section shares: N concurrent aiohttp clients on loopback.

One ClientSession with a connection pool of N (``TCPConnector(limit=N)``); N workers take
request numbers from one counter until the request count or the time limit is reached, post
the body ``make(n)`` returns and time each answer. The same generator drives every system
compared in one run (bare handler, ceiling, whistle, Alertmanager), so their ratios compare
servers, not clients.

A single Python client process spends about as much CPU per request as a bare aiohttp
handler, so against the fastest servers it is the client that saturates. ``processes=2``
splits the clients over two forked processes (each with its own session and share of the
requests); use the same setting for every system compared in one run.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from common import percentile

__all__ = ["LoadResult", "Post", "created_id", "load", "run_load"]


@dataclass(frozen=True, slots=True)
class Post:
    """One request: a path on the server, the body bytes, the headers."""

    path: str
    body: bytes
    headers: Mapping[str, str]


# (request number, status, answer body) -> what the answer acknowledged (ids, or other keys).
Acknowledged = Callable[[int, int, bytes], Iterable[str]]


def created_id(n: int, status: int, body: bytes) -> list[str]:
    """The id of a 201 answer ``{"id": ...}``; nothing for any other answer."""
    if status != 201:
        return []
    return [str(orjson.loads(body)["id"])]


@dataclass(slots=True)
class LoadResult:
    """What one load run measured. Latencies are in seconds, sorted ascending."""

    clients: int
    sent: int = 0
    seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)  # connection errors by type
    acknowledged: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    @property
    def requests_per_s(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    @property
    def acknowledged_per_s(self) -> float:
        return len(self.acknowledged) / self.seconds if self.seconds else 0.0

    def ms(self, p: float) -> float:
        """The p-th latency percentile in milliseconds (p in 0..1; 1 is the maximum)."""
        if p >= 1:
            return self.latencies[-1] * 1000 if self.latencies else 0.0
        return percentile(self.latencies, p) * 1000

    def errors(self, ok: Iterable[int]) -> int:
        """Answers outside ``ok`` plus requests that got no answer at all."""
        good = set(ok)
        return sum(c for s, c in self.statuses.items() if s not in good) + sum(
            self.failures.values()
        )

    def summary(self) -> dict[str, Any]:
        """The figures as JSON-ready numbers (for a report's details)."""
        return {
            "clients": self.clients,
            "sent": self.sent,
            "seconds": round(self.seconds, 3),
            "requests_per_s": round(self.requests_per_s, 1),
            "acknowledged": len(self.acknowledged),
            "acknowledged_per_s": round(self.acknowledged_per_s, 1),
            "p50_ms": round(self.ms(0.50), 2),
            "p99_ms": round(self.ms(0.99), 2),
            "max_ms": round(self.ms(1), 2),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "failures": self.failures,
        }

    def merge(self, other: LoadResult) -> None:
        self.clients += other.clients
        self.sent += other.sent
        self.seconds = max(self.seconds, other.seconds)
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count
        for kind, count in other.failures.items():
            self.failures[kind] = self.failures.get(kind, 0) + count
        self.acknowledged += other.acknowledged
        self.latencies += other.latencies
        self.latencies.sort()


async def load(
    base_url: str,
    make: Callable[[int], Post],
    *,
    clients: int,
    requests: int,
    seconds: float,
    acknowledged: Acknowledged = created_id,
    numbers: Iterable[int] | None = None,
) -> LoadResult:
    """Post ``make(n)`` for n in ``numbers`` (default 0..requests-1) from ``clients`` workers.

    Stops taking new numbers after ``requests`` or ``seconds``, whichever comes first; the
    requests in flight finish and count. Only 127.0.0.1 is allowed: a bench never leaves the
    machine.
    """
    if not base_url.startswith("http://127.0.0.1:"):
        raise ValueError(f"bench load goes to 127.0.0.1 only, not {base_url}")
    result = LoadResult(clients)
    counter = iter(numbers if numbers is not None else range(requests))
    taken = itertools.count()
    deadline = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        for n in counter:
            if next(taken) >= requests or time.perf_counter() > deadline:
                return
            post = make(n)
            start = time.perf_counter()
            try:
                async with session.post(
                    base_url + post.path, data=post.body, headers=post.headers
                ) as response:
                    body = await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                kind = type(exc).__name__
                result.failures[kind] = result.failures.get(kind, 0) + 1
                continue
            finally:
                result.sent += 1
            result.latencies.append(time.perf_counter() - start)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            result.acknowledged.extend(acknowledged(n, status, body))

    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        began = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(clients)))
        result.seconds = time.perf_counter() - began
    result.latencies.sort()
    return result


def _child(
    conn: Any,
    base_url: str,
    make: Callable[[int], Post],
    clients: int,
    requests: int,
    seconds: float,
    acknowledged: Acknowledged,
    part: int,
    parts: int,
) -> None:
    numbers = range(part, requests, parts)  # interleaved: no number is sent twice
    share = len(numbers)
    result = asyncio.run(
        load(
            base_url,
            make,
            clients=clients,
            requests=share,
            seconds=seconds,
            acknowledged=acknowledged,
            numbers=numbers,
        )
    )
    conn.send(result)
    conn.close()


def run_load(
    base_url: str,
    make: Callable[[int], Post],
    *,
    clients: int,
    requests: int,
    seconds: float,
    acknowledged: Acknowledged = created_id,
    processes: int = 1,
) -> LoadResult:
    """``load`` from synchronous code, in this process or split over ``processes`` forks.

    With several processes the clients and requests are shared out (request n goes to
    process n mod processes) and the results merged; the elapsed time is the slowest
    process's.
    """
    if processes <= 1:
        return asyncio.run(
            load(
                base_url,
                make,
                clients=clients,
                requests=requests,
                seconds=seconds,
                acknowledged=acknowledged,
            )
        )
    # fork: the children inherit `make` and `acknowledged` (closures do not pickle).
    context = multiprocessing.get_context("fork")
    pipes, children = [], []
    for part in range(processes):
        share = clients // processes + (1 if part < clients % processes else 0)
        receive, send = context.Pipe(duplex=False)
        child = context.Process(
            target=_child,
            args=(send, base_url, make, share, requests, seconds, acknowledged, part, processes),
        )
        child.start()
        send.close()
        pipes.append(receive)
        children.append(child)
    merged = LoadResult(0)
    for receive, child in zip(pipes, children, strict=True):
        merged.merge(receive.recv())
        child.join()
    return merged
