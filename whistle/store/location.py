"""Where the store lives, and opening it from there: the one place that turns ``--db`` into a
Store.

``--db`` is a SQLite file path (``var/whistle.sqlite3``), a SQLite URL (``sqlite:///abs/path``,
a file URL's form: three slashes and an absolute path) or a PostgreSQL URL
(``postgresql://user@host:port/db``, libpq's form, read by asyncpg; ``postgres://`` too). Any
other scheme is refused with the reason, rather than creating a file of that name.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from whistle.bus import Bus
from whistle.exceptions import StoreUrlError
from whistle.store.base import Store
from whistle.store.postgres import PostgresStore
from whistle.store.sqlite import SqliteStore

__all__ = ["SCHEMES", "StoreUrl", "open_store"]

# The backends this build has, by URL scheme.
SCHEMES = ("sqlite", "postgresql", "postgres")

# Where a PostgreSQL deployment keeps its files beside the database (uploaded photos go to
# its parent's media/): the working directory's var/, as `make run` has it.
_PG_FILES = Path("var") / "postgresql"

# "scheme://" at the start: a URL. Anything else, colons included, is a file path.
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True, slots=True)
class StoreUrl:
    """A parsed ``--db``: the backend's scheme; for SQLite the file, for PostgreSQL the URL
    (``dsn``, which may hold a password: never log it) and ``path`` a local place for files
    beside the database."""

    scheme: str
    path: Path
    dsn: str = ""

    def __repr__(self) -> str:  # the DSN's password stays out of logs and tracebacks
        return f"StoreUrl({self.scheme!r}, {str(self.path)!r})"

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return "postgresql" if self.scheme in ("postgresql", "postgres") else "sqlite"

    @classmethod
    def parse(cls, text: str | os.PathLike[str]) -> StoreUrl:
        """A path or a ``sqlite:///`` URL; StoreUrlError (a ValueError) for anything else."""
        if isinstance(text, os.PathLike):
            return cls("sqlite", Path(text))
        match = _URL.match(text)
        if match is None:
            if not text:
                raise StoreUrlError("no database given: a file path or sqlite:///path")
            return cls("sqlite", Path(text))
        scheme = match.group(1).lower()
        if scheme not in SCHEMES:
            # The scheme only: the rest of a URL may hold a password.
            raise StoreUrlError(
                f"unknown database scheme {scheme!r}: give a SQLite file (a path, or "
                "sqlite:///absolute/path) or postgresql://user@host:port/database"
            )
        parts = urlsplit(text)
        if scheme != "sqlite":
            if not parts.hostname and "host=" not in parts.query:
                raise StoreUrlError("a postgresql URL names its host: postgresql://user@host/db")
            if parts.path in ("", "/"):
                raise StoreUrlError("the postgresql URL names no database: ...@host:port/db")
            return cls(scheme, _PG_FILES, text)
        if parts.netloc:
            raise StoreUrlError(
                f"a sqlite URL names a local file, not a host ({parts.netloc!r}): "
                "write sqlite:///absolute/path"
            )
        if parts.query or parts.fragment:
            raise StoreUrlError("a sqlite URL takes no ?options or #fragment")
        path = unquote(parts.path)
        if path in ("", "/"):
            raise StoreUrlError("the sqlite URL names no file: write sqlite:///absolute/path")
        return cls("sqlite", Path(path))


async def open_store(
    where: str | os.PathLike[str] | StoreUrl,
    bus: Bus,
    *,
    max_queue: int = 10_000,
    max_batch: int = 1_000,
) -> Store:
    """The store at ``where`` (a path, a URL or a parsed StoreUrl), opened: migrated, and
    every event stored but not yet published handed to ``bus``. Raises StoreUrlError for a
    ``where`` no backend takes, StoreUnavailable when the database cannot be opened."""
    url = where if isinstance(where, StoreUrl) else StoreUrl.parse(where)
    store: SqliteStore | PostgresStore
    if url.backend == "postgresql":
        store = PostgresStore(url.dsn, bus, max_queue=max_queue, max_batch=max_batch)
    else:
        store = SqliteStore(url.path, bus, max_queue=max_queue, max_batch=max_batch)
    await store.open()
    return store
