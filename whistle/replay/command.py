"""``whistle replay``: the command line of what-if replay."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson

# Two: the machine this is measured on has two cores; more only helps where there are more.
WORKERS = min(2, os.cpu_count() or 1)

__all__ = ["VersionsUnavailable", "add_parser", "job", "run", "source_rules"]


def add_parser(sub: Any) -> None:
    """Add ``replay`` to the ``whistle`` command's subcommands."""
    p = sub.add_parser(
        "replay",
        help="run a period's recorded whistles through proposed rules (reads, never writes)",
    )
    p.add_argument("--db", type=Path, required=True, help="the SQLite database file")
    p.add_argument("--from", dest="first", type=date.fromisoformat, required=True,
                   help="first day (YYYY-MM-DD, Shanghai days, included)")  # fmt: skip
    p.add_argument("--to", dest="last", type=date.fromisoformat, required=True,
                   help="last day (included)")  # fmt: skip
    rules = p.add_mutually_exclusive_group(required=True)
    rules.add_argument("--config", type=Path, help="a config directory with the proposed rules")
    rules.add_argument("--version", dest="version", help="a stored configuration version id")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--limit", type=int, default=200, help="changed cases listed (default 200)")
    p.add_argument("--workers", type=int, default=WORKERS,
                   help=f"processes to split the period over (default {WORKERS})")  # fmt: skip


class VersionsUnavailable(Exception):
    """``--version`` on a database that keeps no configuration versions."""


def source_rules(db: Path, *, config: Path | None, version: str | None) -> Any:
    """The proposed rules: a directory, or a stored version (wired when versioned
    configuration, issue 20's other half, lands: until then a clear refusal)."""
    from whistle.replay.rules import ProposedRules

    if config is not None:
        return ProposedRules.from_dir(config)
    raise VersionsUnavailable(
        f"configuration version {version!r}: this database keeps no configuration versions "
        "(versioned configuration is not in this build); replay a directory with --config"
    )


def run(args: argparse.Namespace, now: datetime) -> int:
    """Run the replay the arguments describe; print the report."""
    from whistle.replay import Period, replay
    from whistle.replay.text import render

    if args.last < args.first:
        print("whistle: replay: --to is before --from", file=sys.stderr)
        return 2
    try:
        rules = source_rules(args.db, config=args.config, version=args.version)
        period = Period(args.first, args.last)
        report = replay(args.db, period, rules, now=now, limit=args.limit, workers=args.workers)
    except VersionsUnavailable as exc:
        print(f"whistle: replay: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"whistle: replay: {exc}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(report) + b"\n")
    else:
        print(render(report))
    return 0


def job(
    db: str, first: str, last: str, config: str | None, version: str | None, now: str, limit: int
) -> dict[str, Any]:
    """One replay as the server runs it, in its worker process (plain arguments, so that they
    pickle; that process has no threads, so it may fork its own workers): the report, or
    raises what loading the rules raised."""
    from whistle.replay import Period, replay

    rules = source_rules(Path(db), config=None if config is None else Path(config), version=version)
    period = Period(date.fromisoformat(first), date.fromisoformat(last))
    when = datetime.fromisoformat(now)
    return replay(Path(db), period, rules, now=when, limit=limit, workers=WORKERS)
