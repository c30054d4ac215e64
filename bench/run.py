"""Run the benchmark suite: every section script in order, then the merged table.

    python bench/run.py [--size tiny|full|large] [--sections intake,camera,...] [--docs]

Each section runs as its own process, ``python bench/<section>.py --size S --json
var/bench/<section>.json`` (see bench/common.py for the contract), and prints its table as it
goes; a section whose script does not exist yet is skipped with a warning. Then the merged
table is printed and written to var/bench/results.json and var/bench/results.md; ``--docs``
also rewrites docs/performance.md with the machine, the command, the date, the table and
which targets are met. The exit code is non-zero when a section failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import ROOT, SIZES, machine, markdown, parser

SECTIONS = (
    "intake",
    "sse",
    "camera",
    "routing",
    "province",
    "backstop_day",
    "lifecycle",
    "stats",
    "replay",
    "search",
    "places",
    "party",
    "peer",
    "postgres",
    "config_swap",
)
OUT = ROOT / "var" / "bench"
DOCS = ROOT / "docs" / "performance.md"


def run_section(name: str, size: str, out: Path) -> dict[str, Any]:
    """Run one section script; what it reported, with its wall time and exit code."""
    script = ROOT / "bench" / f"{name}.py"
    report_file = out / f"{name}.json"
    report_file.unlink(missing_ok=True)
    print(f"\n## {name}\n", flush=True)
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(script), "--size", size, "--json", str(report_file)], check=False
    )
    seconds = time.perf_counter() - began
    print(f"\n{name}: {seconds:.1f} s (exit {done.returncode})", flush=True)
    report: dict[str, Any] = {"section": name, "rows": []}
    if report_file.exists():
        report = json.loads(report_file.read_text(encoding="utf-8"))
    if done.returncode != 0:
        report["rows"] = [
            *report.get("rows", []),
            {
                "section": name,
                "measure": "section run",
                "value": f"failed: exit {done.returncode}",
                "unit": "",
                "target": "exit 0",
                "met": False,
                "note": "see the section's output above",
            },
        ]
    report["seconds"] = round(seconds, 1)
    report["exit"] = done.returncode
    return report


def targets(rows: list[dict[str, Any]]) -> list[str]:
    """One line per row that has a target: met or not met."""
    lines = []
    for row in rows:
        if not row.get("target") or row.get("met") is None:
            continue
        verdict = "met" if row["met"] else "**not met**"
        value = markdown([row]).splitlines()[-1].split(" | ")[2]  # as the table shows it
        lines.append(
            f"- {row['section']}: {row['measure']}: {value} (target {row['target']}): {verdict}"
        )
    return lines


def docs_page(size: str) -> Path:
    """docs/performance.md for make bench; docs/performance-large.md for make bench-large."""
    return DOCS if size != "large" else DOCS.with_name("performance-large.md")


# What follows this line on a page is written by hand (a profile, what was changed and
# why) and kept as it is when the figures above it are rewritten.
KEPT = "<!-- Written by hand below this line: bench/run.py keeps it. -->"


def kept_part(page: Path) -> str:
    """The hand-written end of ``page`` (from the KEPT line on), or nothing."""
    text = page.read_text(encoding="utf-8") if page.exists() else ""
    at = text.find(KEPT)
    return "" if at < 0 else "\n" + text[at:]


def performance_page(result: dict[str, Any]) -> str:
    m = result["machine"]
    load = result["load_average"]
    walls = "\n".join(
        f"| {name} | {section['seconds']:.0f} s |" for name, section in result["sections"].items()
    )
    large = result["size"] == "large"
    title = "Performance at the large sizes" if large else "Performance"
    target = "make bench-large" if large else "make bench"
    other = (
        "The rest of the suite is in\n[performance.md](performance.md)."
        if large
        else "The whole province and\n5,000,000 cases take longer than the ten minutes of "
        "`make bench`: `make bench-large` measures\nthem, in "
        "[performance-large.md](performance-large.md)."
    )
    return f"""# {title}

Written by `bench/run.py --docs` (`{target}`), which rewrites this page on every run: the
figures below are those of the run it records. A run taken while other work shares the
machine (see the load average below) is indicative only. Ratios (pipeline / ceiling,
whistle / Alertmanager) compare systems measured one after the other in the same run with the
same client, and are what count. What the figures show, what holds the system back and what
was changed because of them: [performance-analysis.md](performance-analysis.md). {other}

- Machine: {m["cpu"]}, {m["cores"]} cores, {m["memory_gib"]} GiB, Python {m["python"]},
  {m["platform"]}
- Command: `{target}`, which runs `{result["command"]}`
- Date: {result["when"]}
- Load average (1 min) of the machine: {load[0]:.1f} at the start, {load[1]:.1f} at the end
- Size: {result["size"]}

{markdown(result["rows"])}

## Targets

{chr(10).join(targets(result["rows"])) or "- (no row with a target was measured)"}

## Wall time per section

| section | wall time |
|---|---|
{walls}
| total | {result["seconds"]:.0f} s |

Alertmanager keeps alerts in memory; whistle writes each whistle to disk (fsync'd group
commit) before it answers.
"""


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument(
        "--sections", default=",".join(SECTIONS), help="comma-separated, in the order to run"
    )
    p.add_argument("--out", type=Path, default=OUT, help="where the section reports go")
    p.add_argument("--docs", action="store_true", help=f"rewrite {DOCS.relative_to(ROOT)}")
    args = p.parse_args()
    if args.size not in SIZES:  # argparse already refuses; kept for readers of the contract
        raise SystemExit(f"--size: one of {SIZES}")
    names = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise SystemExit(f"--sections: unknown {unknown}; known: {', '.join(SECTIONS)}")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    sections: dict[str, dict[str, Any]] = {}
    for name in names:
        if not (ROOT / "bench" / f"{name}.py").exists():
            print(f"warning: bench/{name}.py does not exist yet: section skipped", flush=True)
            continue
        sections[name] = run_section(name, args.size, out)
    rows = [row for section in sections.values() for row in section.get("rows", [])]
    command = " ".join(["python", "bench/run.py", *sys.argv[1:]])
    result = {
        "command": command,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "size": args.size,
        "machine": machine(),
        "seconds": round(time.perf_counter() - began, 1),
        "load_average": [round(load_at_start, 2), round(os.getloadavg()[0], 2)],
        "sections": sections,
        "rows": rows,
    }
    table = markdown(rows)
    print("\n## All sections\n\n" + table)
    for name, section in sections.items():
        print(f"{name}: {section['seconds']:.1f} s")
    print(f"total: {result['seconds']:.1f} s")
    stem = "results" if args.size != "large" else "results-large"
    (args.json or out / f"{stem}.json").write_text(
        json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    (out / f"{stem}.md").write_text(table + "\n", encoding="utf-8")
    if args.docs:
        page = docs_page(args.size)
        page.write_text(performance_page(result) + kept_part(page), encoding="utf-8")
        print(f"wrote {page.relative_to(ROOT)}")
    failed = [name for name, section in sections.items() if section["exit"] != 0]
    if failed:
        raise SystemExit(f"sections failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
