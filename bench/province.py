"""Province start-up: `whistle serve` to /readyz cold and warm, its memory, PSS of 2 and 3.

The generated province (250,000 grids, 2.8 million cells; var/bench/province-<size>/, made
by bench/routing.py's ensure_province and kept) is served by real `whistle serve` processes:

- cold: the compiled grids cache is removed first, so the server parses and checks every
  file and writes the cache;
- warm: the same files again, so the server maps the cache (the content hash matches);
- each time, after /readyz, the wait for the place names (the gazetteer, indexed in a thread
  after the start and written to its own cache file cold, mapped warm): the memory figures
  are taken once it is done, since a server that has it is what runs;
- PSS: two, then three warm servers (each on its own database) running at once; the sum of
  their proportional set sizes (/proc/PID/smaps_rollup) is what they cost together, the
  cache's pages being counted once between them.

Each figure carries the machine's 1-minute load average when it was taken: the machine is
shared, and a loaded machine makes the seconds longer.

    python bench/province.py [--size tiny|full|large] [--json PATH]
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import Row, parser, rss_mib, write_report  # noqa: E402
from routing import cache_of, ensure_province  # noqa: E402

from whistle.testing import ServerProcess  # noqa: E402

SECTION = "province"
# Before the compiled columns (docs/performance-large.md of 2026-11-21): the province's load
# took 124 s and 8,336 MiB resident (peak 9,774 MiB), each process its own copy.
BASELINE_LOAD_S, BASELINE_MIB = 124, 8336
READY_WITHIN = 900.0  # seconds; the cold start of the old loader took minutes


def load_average() -> float:
    return os.getloadavg()[0]


def status_mib(pid: int, field: str) -> float:
    """A VmRSS/VmHWM-style field of /proc/PID/status, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pss_mib(pid: int) -> float:
    """The process's proportional set size: shared pages divided among their mappers."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text(encoding="utf-8").splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def start(work: Path, config: Path, cache: Path, n: int) -> tuple[ServerProcess, float]:
    server = ServerProcess(
        work / f"db{n}.sqlite3",
        config,
        work / f"server{n}.log",
        extra_args=("--grid-cache", str(cache), "--log-level", "warning"),
    )
    began = time.perf_counter()
    await server.start(ready_within=READY_WITHIN)
    return server, time.perf_counter() - began


async def names_ready(server: ServerProcess, within: float = READY_WITHIN) -> float:
    """Seconds from now until ``/readyz`` counts place names (the gazetteer is in use)."""
    began = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        while time.perf_counter() - began < within:
            async with session.get(f"{server.url}/readyz") as answer:
                body = json.loads(await answer.text())
            if body.get("place_names", 0) > 0:
                return time.perf_counter() - began
            await asyncio.sleep(0.2)
    raise TimeoutError(f"no place names within {within:.0f} s")


def stop(server: ServerProcess) -> None:
    """Stop a server; killed when it does not stop in time (a province's gazetteer, built in
    a thread after the start, holds the exit until it is done)."""
    try:
        server.signal(timeout=30.0)
    except subprocess.TimeoutExpired:
        server.stop()


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def figures(server: ServerProcess) -> dict[str, float]:
    assert server.proc is not None
    pid = server.proc.pid
    return {
        "cpu_s": cpu_s(pid),
        "rss_mib": status_mib(pid, "VmRSS"),
        "peak_mib": status_mib(pid, "VmHWM"),
        "pss_mib": pss_mib(pid),
    }


async def measure(config: Path, cache: Path) -> dict[str, object]:
    shutil.rmtree(cache, ignore_errors=True)
    result: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="whistle-province-") as tmp:
        work = Path(tmp)
        cold, seconds = await start(work, config, cache, 0)
        # Before anything else can touch it: the CPU it took to be ready.
        ready = {**figures(cold), "ready_s": seconds, "load": load_average()}
        names_s = await names_ready(cold)
        after = figures(cold)
        result["cold"] = {
            **ready,
            "names_s": names_s,
            "names_cpu_s": after["cpu_s"] - ready["cpu_s"],
            "peak_mib": after["peak_mib"],
            "rss_mib": after["rss_mib"],
        }
        stop(cold)
        servers: list[ServerProcess] = []
        try:
            for n in (1, 2, 3):
                server, seconds = await start(work, config, cache, n)
                ready_cpu = figures(server)["cpu_s"]
                names_s = await names_ready(server)
                servers.append(server)
                await asyncio.sleep(1.0)  # let the allocator settle after the start
                each = [figures(s) for s in servers]
                result[f"warm{n}"] = {
                    **each[-1],
                    "ready_s": seconds,
                    "ready_cpu_s": ready_cpu,
                    "names_s": names_s,
                    "load": load_average(),
                    "pss_sum_mib": sum(f["pss_mib"] for f in each),
                    "rss_sum_mib": sum(f["rss_mib"] for f in each),
                }
        finally:
            for server in servers:
                stop(server)
    return result


def cache_mib(cache: Path) -> float:
    return sum(p.stat().st_size for p in cache.glob("*")) / 2**20


def rows(result: dict[str, object], whole: bool) -> list[Row]:
    cold, warm1, warm2, warm3 = (result[k] for k in ("cold", "warm1", "warm2", "warm3"))
    assert isinstance(cold, dict)
    assert isinstance(warm1, dict)
    assert isinstance(warm2, dict)
    assert isinstance(warm3, dict)

    def target(wording: str, met: bool) -> tuple[str, bool | None]:
        return (wording, met) if whole else ("", None)

    def load(figure: dict[str, float]) -> str:
        return f"load average {figure['load']:.1f}"

    name = "province" if whole else "province (smaller)"
    return [
        Row(
            SECTION,
            f"{name} cold start to /readyz s",
            round(cold["ready_s"], 1),
            "s",
            *target("< 30 s", cold["ready_s"] < 30),
            f"no cache: every file parsed and checked, cache written; CPU "
            f"{cold['cpu_s']:.0f} s; {load(cold)}; "
            f"baseline {BASELINE_LOAD_S} s",
        ),
        Row(
            SECTION,
            f"{name} cold start peak MiB",
            round(cold["peak_mib"]),
            "MiB",
            note=f"VmHWM while loading and indexing the place names; resident after: "
            f"{cold['rss_mib']:,.0f} MiB",
        ),
        Row(
            SECTION,
            f"{name} cold place names s",
            round(cold["names_s"], 1),
            "s",
            note=f"after /readyz: the gazetteer built and its cache written; CPU "
            f"{cold['names_cpu_s']:.1f} s",
        ),
        Row(
            SECTION,
            f"{name} warm start to /readyz s",
            round(warm1["ready_s"], 1),
            "s",
            *target("< 30 s (aim 10 s)", warm1["ready_s"] < 30),
            f"compiled cache mapped; CPU {warm1['ready_cpu_s']:.1f} s; {load(warm1)}; "
            f"baseline {BASELINE_LOAD_S} s",
        ),
        Row(
            SECTION,
            f"{name} warm resident MiB",
            round(warm1["rss_mib"]),
            "MiB",
            *target("< 4 GB (aim 2 GB)", warm1["rss_mib"] < 4096),
            f"VmRSS of one server with its place names (mapped {warm1['names_s']:.1f} s "
            f"after /readyz), peak {warm1['peak_mib']:,.0f} MiB; {load(warm1)}; "
            f"baseline {BASELINE_MIB:,} MiB",
        ),
        Row(
            SECTION,
            f"{name} PSS of 1 server MiB",
            round(warm1["pss_sum_mib"]),
            "MiB",
            note=f"cache file {result['cache_mib']:,.0f} MiB",
        ),
        Row(
            SECTION,
            f"{name} PSS of 2 servers MiB",
            round(warm2["pss_sum_mib"]),
            "MiB",
            note=f"together (RSS sum {warm2['rss_sum_mib']:,.0f} MiB); {load(warm2)}",
        ),
        Row(
            SECTION,
            f"{name} PSS of 3 servers MiB",
            round(warm3["pss_sum_mib"]),
            "MiB",
            note=f"together (RSS sum {warm3['rss_sum_mib']:,.0f} MiB); {load(warm3)}",
        ),
    ]


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    size = args.size
    config, generated_s, reused = ensure_province(size)
    cache = cache_of(config)
    started = load_average()
    result = asyncio.run(measure(config, cache))
    result["cache_mib"], result["bench_rss_mib"] = cache_mib(cache), rss_mib()
    result["generated_s"], result["reused"], result["load_start"] = generated_s, reused, started
    result["load_end"] = load_average()
    write_report(args.json, SECTION, size, rows(result, size == "large"), result)


if __name__ == "__main__":
    main()
