"""One server process per SQLite file.

SQLite takes one writer at a time, and each ``whistle serve`` keeps in-memory state that
another process cannot see: its deadline timers, its outbox cursor, its silences. A second
server on the same file answered 503s (the writer lock was held) and armed the same deadlines
twice. So a server holds an exclusive ``flock`` on a sidecar ``<db>.lock`` file for its whole
life; a second one finds it taken and refuses to start. The kernel drops the lock when the
process ends, however it ends (SIGKILL too), so a stale file never blocks a restart.

Only servers take it: the command-line tools (``whistle token create``, ``whistle user add``,
``whistle import-hotline``) open the database beside a running server, as SQLite allows.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from whistle.exceptions import StoreUnavailable

__all__ = ["DatabaseInUse", "lock_path", "serving"]


class DatabaseInUse(StoreUnavailable):
    """Another server process holds the database file."""


def lock_path(db: Path) -> Path:
    """The sidecar file whose lock says a server owns ``db``."""
    return db.with_name(db.name + ".lock")


@contextlib.contextmanager
def serving(db: Path) -> Iterator[Path]:
    """Hold the server lock of ``db`` for the ``with`` block; DatabaseInUse if another
    process holds it. The lock file keeps the holder's pid, for the message."""
    path = lock_path(db)
    path.parent.mkdir(parents=True, exist_ok=True)
    writable = True
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        # A read-only filesystem or file: lock it all the same (flock needs no write
        # access), and let the store say why it cannot open the database.
        fd = os.open(path, os.O_RDONLY)
        writable = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise DatabaseInUse(
                f"{db} is already served by another whistle process (pid {holder}; lock "
                f"{path}). One SQLite file takes one server process: stop the other one. To "
                "run several processes the database must be PostgreSQL (the store interface "
                "is ready for it; no PostgreSQL store ships yet)."
            ) from None
        # Never unlinked: removing it would let a third process lock a new file while a
        # second still waits on the old one.
        if writable:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock
