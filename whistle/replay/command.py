"""``whistle replay``: the command line of what-if replay."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from datetime import UTC, date, datetime
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
    p.add_argument("--grids", type=Path, default=Path("config"),
                   help="with --version: the config directory whose grids it runs over "
                   "(default config/; a version holds the rules, not the grids)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--limit", type=int, default=200, help="changed cases listed (default 200)")
    p.add_argument("--workers", type=int, default=WORKERS,
                   help=f"processes to split the period over (default {WORKERS})")  # fmt: skip


class VersionsUnavailable(Exception):
    """``--version`` names no configuration version this database keeps."""


def source_rules(
    db: Path,
    *,
    config: Path | None,
    version: str | None,
    grids: Path | None = None,
    now: datetime | None = None,
) -> Any:
    """The proposed rules: a directory, or a version stored in ``db`` (whistle.versions) over
    the grids of ``grids``. Read on a read-only connection of its own, as the replay reads."""
    from whistle.replay.rules import ProposedRules

    if config is not None:
        return ProposedRules.from_dir(config)
    assert version is not None
    files = _stored_version(db, version)
    from grids.loader import load_hierarchy
    from whistle.versions import build_bundle

    hierarchy = load_hierarchy(grids or Path("config"))
    at = now or datetime.now(UTC)
    bundle = build_bundle(files, hierarchy, now=at, version_id=int(version))
    return ProposedRules(bundle.router, bundle.duty, f"version {version}")


def _stored_version(db: Path, version: str) -> dict[str, str]:
    """The files of configuration version ``version`` in ``db``; VersionsUnavailable if it
    keeps none by that id."""
    if not version.isdigit() or len(version) > 12:
        raise VersionsUnavailable(f"configuration version {version!r}: not a version number")
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            row = conn.execute(
                "SELECT files FROM config_versions WHERE id = ?", (int(version),)
            ).fetchone()
    except sqlite3.Error as exc:  # no such file or table: a database from before versions
        raise VersionsUnavailable(f"configuration version {version}: {exc}") from None
    if row is None:
        raise VersionsUnavailable(f"configuration version {version}: no such version")
    files: dict[str, str] = orjson.loads(row[0])
    return files


def run(args: argparse.Namespace, now: datetime) -> int:
    """Run the replay the arguments describe; print the report."""
    from whistle.replay import Period, replay
    from whistle.replay.text import render

    if args.last < args.first:
        print("whistle: replay: --to is before --from", file=sys.stderr)
        return 2
    try:
        rules = source_rules(
            args.db, config=args.config, version=args.version, grids=args.grids, now=now
        )
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
    db: str,
    first: str,
    last: str,
    config: str | None,
    version: str | None,
    now: str,
    limit: int,
    grids: str = "config",
) -> dict[str, Any]:
    """One replay as the server runs it, in its worker process (plain arguments, so that they
    pickle; that process has no threads, so it may fork its own workers): the report, or
    raises what loading the rules raised."""
    from whistle.replay import Period, replay

    rules = source_rules(
        Path(db),
        config=None if config is None else Path(config),
        version=version,
        grids=Path(grids),
        now=datetime.fromisoformat(now),
    )
    period = Period(date.fromisoformat(first), date.fromisoformat(last))
    when = datetime.fromisoformat(now)
    return replay(Path(db), period, rules, now=when, limit=limit, workers=WORKERS)
