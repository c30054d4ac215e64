"""The compiled cache: a validated hierarchy's columns in one file, mapped read-only.

Loading a province from its CSV and GeoJSON files is minutes of parsing and checking; its
compiled columns (``grids.tables``) map in well under a second. :func:`load_compiled` keys
the cache by the content hash of the three grid files (and this format's version), so any
change to a file is a miss. What is cached for a hash is the outcome of every check the
loader runs: the columns when the files are valid, the problems when they are not, so a
broken config is refused as fast, with the same problems, as it would be from the files.

The file is ``WHGRIDS2``, a checksum of everything after it (CRC-32, in a 32-byte field),
the header's length (8 bytes, little-endian), a JSON header (content hash, the problems or the
array table, ``Tables.meta``), then each array at a 64-byte aligned offset. The checksum is
checked on every open; a file that is short, unreadable, from another format or whose
checksum differs is never trusted: it is rebuilt from the config. CRC-32 because it is there
to catch a damaged file, not a forged one (whoever can write the cache can write the config),
and it runs at several GB/s where SHA-256 took seconds on a province's gigabyte. Processes
that open the same file share its pages (``mmap`` of a read-only file), which is what the
PSS figures measure.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from grids.exceptions import GridConfigError, Problem
from grids.hierarchy import Hierarchy
from grids.loader import GEOJSON_FILE, GRIDS_FILE, RESPONDERS_FILE, load_hierarchy
from grids.names import NameTable
from grids.tables import Tables, column_view

__all__ = ["CACHE_SUFFIX", "FORMAT", "cache_path", "content_hash", "load_compiled", "load_names"]

FORMAT = b"WHGRIDS2"
# Bumped whenever the columns or their meaning change: a new version never reads an old file.
_LAYOUT = 1
CACHE_SUFFIX = ".grids"
_INPUTS = (GRIDS_FILE, GEOJSON_FILE, RESPONDERS_FILE)
_ALIGN = 64
_CHUNK = 16 * 1024 * 1024

log = structlog.get_logger(__name__)


def content_hash(config_dir: Path) -> str:
    """SHA-256 over the grid files' names and bytes (a missing optional file counts)."""
    digest = hashlib.sha256(f"whistle-grids/{_LAYOUT}".encode())
    for name in _INPUTS:
        path = config_dir / name
        digest.update(b"\0" + name.encode())
        try:
            with path.open("rb") as stream:
                digest.update(b"+")
                while chunk := stream.read(_CHUNK):
                    digest.update(chunk)
        except FileNotFoundError:
            digest.update(b"-")
    return digest.hexdigest()


def cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"hierarchy-{key[:40]}{CACHE_SUFFIX}"


def load_compiled(config_dir: Path, cache_dir: Path | None) -> Hierarchy:
    """The hierarchy of ``config_dir``, from the cache when it holds this content's result.

    Without ``cache_dir`` this is :func:`grids.loader.load_hierarchy`. On a miss (or a
    corrupt file) the config is loaded and checked in full, the outcome is written, and a
    valid hierarchy is returned mapped from the file just written. Raises GridConfigError
    with every problem, from the files or from the cache.
    """
    if cache_dir is None:
        return load_hierarchy(config_dir)
    key = content_hash(config_dir)
    path = cache_path(cache_dir, key)
    cached = _open(path, key)
    if cached is not None:
        log.info("grids.cache_hit", path=str(path))
        return _outcome(cached)
    log.info("grids.cache_miss", path=str(path))
    try:
        hierarchy = load_hierarchy(config_dir)
    except GridConfigError as exc:
        _write(path, key, problems=exc.problems)
        raise
    if not _write(path, key, tables=hierarchy.tables):
        return hierarchy  # the cache directory is not writable: serve what was loaded
    _prune(cache_dir, keep=path)
    # Serve from the mapping, not the arrays just built: the pages are then the shared ones.
    # The arrays go first, so the process never holds a province twice (its peak, cold).
    del hierarchy
    mapped = _open(path, key)
    if mapped is None:  # the file just written does not read back: load once more
        return load_hierarchy(config_dir)
    return _outcome(mapped)


def load_names(tables: Tables, cache_dir: Path | None) -> NameTable:
    """The place names of the hierarchy whose columns are ``tables`` (``grids.names``).

    A hierarchy mapped from the cache knows its content hash: its names are then mapped from
    ``names-<hash>.grids`` beside it, written on a miss, so that a warm start builds nothing
    and every process shares one copy. Otherwise (no cache, or the cache not writable) the
    names are built in memory.
    """
    content = tables.meta.get("content")
    if cache_dir is None or not isinstance(content, str):
        return NameTable.build(tables)
    key = f"{content}/{NameTable.layout()}"
    path = cache_dir / f"names-{content[:40]}{CACHE_SUFFIX}"
    cached = _open(path, key)
    if isinstance(cached, Tables):
        log.info("grids.names_cache_hit", path=str(path))
        return NameTable.from_tables(cached)
    log.info("grids.names_cache_miss", path=str(path))
    names = NameTable.build(tables)
    if not _write(path, key, tables=names.as_tables()):
        return names
    _prune(cache_dir, keep=path, pattern=f"names-*{CACHE_SUFFIX}")
    mapped = _open(path, key)
    return NameTable.from_tables(mapped) if isinstance(mapped, Tables) else names


def _outcome(cached: Tables | list[Problem]) -> Hierarchy:
    if isinstance(cached, list):
        raise GridConfigError(cached)
    return Hierarchy.from_tables(cached)


# -- writing ------------------------------------------------------------------------------


def _write(
    path: Path, key: str, *, tables: Tables | None = None, problems: list[Problem] | None = None
) -> bool:
    """Write the outcome beside ``path`` and rename it there; False when it cannot be."""
    arrays = (
        {} if tables is None else {k: np.ascontiguousarray(v) for k, v in tables.arrays.items()}
    )
    table: list[list[Any]] = []
    offset = 0
    for name, array in arrays.items():
        offset = _aligned(offset)
        table.append([name, array.dtype.str, list(array.shape), offset, array.nbytes])
        offset += array.nbytes
    header = {
        "content": key,
        "problems": None if problems is None else [_problem_json(p) for p in problems],
        "meta": {} if tables is None else tables.meta,
        "arrays": table,
    }
    head = json.dumps(header, ensure_ascii=False).encode("utf-8")
    start = _aligned(len(FORMAT) + 32 + 8 + len(head))
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = _Crc()
        with partial.open("wb") as stream:
            stream.write(FORMAT + b"\0" * 32)
            body = struct.pack("<Q", len(head)) + head + b"\0" * (start - 48 - len(head))
            stream.write(body)
            digest.update(body)
            written = 0
            for (_, _, _, at, _), array in zip(table, arrays.values(), strict=True):
                pad = b"\0" * (at - written)
                stream.write(pad)
                digest.update(pad)
                data = column_view(array, "B") if array.nbytes else b""
                stream.write(data)
                digest.update(data)
                written = at + array.nbytes
            stream.seek(len(FORMAT))
            stream.write(digest.digest())
            stream.flush()
            os.fsync(stream.fileno())
        partial.replace(path)
    except OSError as exc:
        log.warning("grids.cache_unwritable", path=str(path), error=str(exc))
        with contextlib.suppress(OSError):
            partial.unlink()
        return False
    return True


class _Crc:
    """CRC-32 over what is fed to it, with hashlib's update/digest (32 bytes, zero-padded)."""

    def __init__(self) -> None:
        self._value = 0

    def update(self, data: Any) -> None:
        self._value = zlib.crc32(data, self._value)

    def digest(self) -> bytes:
        return struct.pack("<I", self._value) + b"\0" * 28


def _aligned(offset: int) -> int:
    return (offset + _ALIGN - 1) // _ALIGN * _ALIGN


def _problem_json(problem: Problem) -> list[Any]:
    return [problem.file, problem.line, problem.code, problem.message]


def _prune(cache_dir: Path, keep: Path, pattern: str = f"hierarchy-*{CACHE_SUFFIX}") -> None:
    """Remove the outcomes of earlier contents (a process still mapping one keeps it)."""
    for old in cache_dir.glob(pattern):
        if old != keep:
            with contextlib.suppress(OSError):
                old.unlink()


# -- reading ------------------------------------------------------------------------------


def _open(path: Path, key: str) -> Tables | list[Problem] | None:
    """The cached outcome for ``key``, or None when the file is missing or not to be trusted."""
    try:
        with path.open("rb") as stream:
            mapped = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None  # missing, unreadable, or empty (an empty file cannot be mapped)
    try:
        return _parse(mapped, key)
    except (ValueError, KeyError, TypeError, IndexError, struct.error) as exc:
        log.warning("grids.cache_corrupt", path=str(path), error=str(exc))
        # Arrays already made over the map may still hold it: then it closes when they go.
        with contextlib.suppress(BufferError):
            mapped.close()
        return None


def _parse(mapped: mmap.mmap, key: str) -> Tables | list[Problem]:
    view = memoryview(mapped)
    if bytes(view[: len(FORMAT)]) != FORMAT:
        raise ValueError("not a compiled grids file of this format")
    recorded = bytes(view[len(FORMAT) : len(FORMAT) + 32])
    digest = _Crc()
    for at in range(48 - 8, len(view), _CHUNK):
        digest.update(view[at : at + _CHUNK])
    if digest.digest() != recorded:
        raise ValueError("checksum mismatch")
    (length,) = struct.unpack("<Q", view[40:48])
    header = json.loads(bytes(view[48 : 48 + length]).decode("utf-8"))
    if header["content"] != key:
        raise ValueError("content hash differs")
    if header["problems"] is not None:
        return [Problem(f, line, code, message) for f, line, code, message in header["problems"]]
    start = _aligned(48 + length)
    arrays: dict[str, Any] = {}
    for name, dtype, shape, offset, nbytes in header["arrays"]:
        count = int(np.prod(shape)) if shape else 1
        array = np.frombuffer(mapped, dtype=np.dtype(dtype), count=count, offset=start + offset)
        if array.nbytes != nbytes:
            raise ValueError(f"array {name} is truncated")
        arrays[name] = array.reshape(shape)
    # The content hash goes with the columns: the names' cache is keyed by it (load_names).
    return Tables(arrays, {**header["meta"], "content": key})
