"""What every benchmark script shares: the row it reports, the JSON it writes, the table.

The contract between `bench/run.py` and a section script (`bench/<section>.py`):

- the script takes `--size tiny|full|large` (tiny: seconds, for the smoke tests; full: what
  `make bench` runs in under ten minutes; large: the sizes that take longer, `make
  bench-large`: the whole province and 5,000,000 cases; a section with nothing larger runs
  its full size) and `--json PATH`;
- it writes `{"section": ..., "size": ..., "machine": {...}, "rows": [Row...],
  "details": {...}}` to PATH with `write_report` and prints its own table;
- a row is one measured figure with its unit, the target it is held against (if any) and
  whether the target was met; `ratio` rows compare two figures measured in the same run.

Figures are measured, never asserted: the smoke tests check only that a script runs and
that nothing acknowledged was lost.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import time
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SIZES = ("tiny", "full", "large")


@dataclass(frozen=True, slots=True)
class Row:
    """One measured figure.

    `target` is the human wording ("≥ 50%", "< 50 µs"); `met` is None when the row has no
    target. `note` says what the reader must know beside the figure.
    """

    section: str
    measure: str
    value: float | int | str
    unit: str = ""
    target: str = ""
    met: bool | None = None
    note: str = ""


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the two options every section script takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--size", choices=SIZES, default="full")
    p.add_argument("--json", type=Path, required=False)
    return p


def machine() -> dict[str, Any]:
    """The machine a figure was measured on, as the report prints it."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "cpu": model or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib(pid: int | None = None) -> float:
    """A process's current resident memory in MiB, read from /proc (this one by default)."""
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text(encoding="utf-8")
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_ready(
    proc: subprocess.Popen[bytes], url: str, log: Path, what: str, within: float = 30.0
) -> None:
    """Poll ``url`` until it answers 200; raise with the end of ``log`` if ``proc`` exits
    first or ``within`` seconds pass (for the peer and ceiling servers a bench starts)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"{what} exited with {proc.returncode}: {tail}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
    raise RuntimeError(f"{what} not ready within {within} s: {tail}")


def percentile(sorted_values: list[float], p: float) -> float:
    """The nearest-rank percentile of an ascending list (p in 0..1)."""
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(p * len(sorted_values)) - 1))
    return sorted_values[index]


def write_report(
    path: Path | None,
    section: str,
    size: str,
    rows: list[Row],
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write one section's report as JSON (when a path is given) and print its table."""
    report = {
        "section": section,
        "size": size,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "rows": [asdict(row) for row in rows],
        "details": details or {},
    }
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    print(markdown(report["rows"]))
    return report


def _figure(value: float | int | str) -> str:
    if isinstance(value, (bool, str)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def markdown(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of report rows: section, measure, value, target, met, note."""
    lines = ["| section | measure | value | target | met | note |", "|---|---|---|---|---|---|"]
    for row in rows:
        met = {None: "", True: "yes", False: "**no**"}[row.get("met")]
        value = _figure(row["value"])
        if row.get("unit"):
            value = f"{value} {row['unit']}"
        note = str(row.get("note", "")).replace("|", "\\|")
        lines.append(
            f"| {row['section']} | {row['measure']} | {value} | {row.get('target', '')} "
            f"| {met} | {note} |"
        )
    return "\n".join(lines)
