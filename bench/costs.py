"""What each whistle costs a running ``whistle serve``, read from outside the process.

Two snapshots of the server, before and after a load, and their difference divided by the
whistles the load acknowledged:

- CPU per thread from ``/proc/PID/task/TID/stat`` (user + system ticks). The event loop is
  the main thread (its id is the process id); the store's writer names its thread
  ``store-writer`` (``whistle/store/sqlite/write_thread.py`` sets the OS name, so ``top -H``
  shows it too); every other thread (SQLite readers, the login pool) is "other".
- bytes written to storage, from ``/proc/PID/io`` (``write_bytes``: what reached the block
  layer, the WAL and its checkpoints included);
- bytes stored: the database's pages in use (``page_count - freelist_count``, times the page
  size), read on a read-only connection of its own.

Linux only (``/proc``); elsewhere :func:`snapshot` answers None and the rows say so.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Costs", "Snapshot", "per_whistle", "snapshot"]

WRITER_THREAD = "store-writer"
_TICK = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01


@dataclass(frozen=True, slots=True)
class Snapshot:
    """CPU seconds by thread role, bytes written, and bytes stored, at one moment."""

    loop: float
    writer: float
    other: float
    written: int
    stored: int


@dataclass(frozen=True, slots=True)
class Costs:
    """Per whistle: CPU µs by thread role, and bytes stored and written."""

    whistles: int
    loop_us: float
    writer_us: float
    other_us: float
    stored_bytes: float
    written_bytes: float


def _thread_cpu(pid: int) -> tuple[float, float, float]:
    loop = writer = other = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
            name = (task / "comm").read_text().strip()
        except FileNotFoundError:  # the thread ended between the listing and the read
            continue
        # Fields after the parenthesised name: utime and stime are the 12th and 13th.
        fields = stat.rsplit(")", 1)[1].split()
        seconds = (int(fields[11]) + int(fields[12])) * _TICK
        if int(task.name) == pid:
            loop += seconds
        elif name == WRITER_THREAD:
            writer += seconds
        else:
            other += seconds
    return loop, writer, other


def _written(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "write_bytes":
            return int(value)
    return 0


def stored_bytes(db: Path) -> int:
    """The bytes of the pages the database uses (its free pages left out)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    return int((pages - free) * size)


def snapshot(pid: int, db: Path) -> Snapshot | None:
    """The server ``pid``'s counters and its database's size now; None without /proc."""
    if not Path(f"/proc/{pid}/task").is_dir():
        return None
    loop, writer, other = _thread_cpu(pid)
    return Snapshot(loop, writer, other, _written(pid), stored_bytes(db))


def per_whistle(before: Snapshot, after: Snapshot, whistles: int) -> Costs:
    """What the ``whistles`` acknowledged between the two snapshots cost, each."""
    n = max(1, whistles)
    return Costs(
        whistles=whistles,
        loop_us=(after.loop - before.loop) / n * 1e6,
        writer_us=(after.writer - before.writer) / n * 1e6,
        other_us=(after.other - before.other) / n * 1e6,
        stored_bytes=(after.stored - before.stored) / n,
        written_bytes=(after.written - before.written) / n,
    )
