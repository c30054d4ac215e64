"""Helpers shared by the reliability tests."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from grids import Hierarchy, Level

# ``WHISTLE_FULL=1`` (``make soak``) runs every fault at full size; the default is CI size.
FULL = os.environ.get("WHISTLE_FULL", "") not in ("", "0")

# `whistle serve` flags that lift the per-token and per-address rate limits.
NO_LIMITS = ("--limit-per-token", "1000000", "--limit-per-address", "1000000")


def micro_grids(county: Hierarchy) -> list[str]:
    return [c.code for c in county.cells(level=Level.MICRO_GRID)]


def body(county: Hierarchy, n: int) -> dict[str, Any]:
    """Whistle number ``n``: a citizen's report in one of the county's micro-grids."""
    micro = micro_grids(county)
    return {
        "source": "citizen",
        "category": "E0101",
        "description": f"楼道堆放杂物，影响通行 #{n}",
        "location": {"grid": micro[n % len(micro)]},
        "reporter": "网格员王芳",
    }


def stored_ids(db: Path) -> list[str]:
    with sqlite3.connect(db) as raw:
        return [row[0] for row in raw.execute("SELECT id FROM whistles")]


def check_log(db: Path) -> int:
    """Integrity ok and the event log's seq gap-free from 1; returns the number of events."""
    raw = sqlite3.connect(db)
    try:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        seqs = [row[0] for row in raw.execute("SELECT seq FROM events ORDER BY seq")]
    finally:
        raw.close()
    assert seqs == list(range(1, len(seqs) + 1)), "gap or repeat in the event log"
    return len(seqs)
