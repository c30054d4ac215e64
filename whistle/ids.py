"""Whistle identifiers: ULIDs (time-ordered, 26 Crockford base32 characters).

Time-ordered ids let the store page through whistles by id alone, and a human can read the
order of two case numbers at a glance. Ids are monotonic within one process even when many
are made in the same millisecond.

An id is shown to whoever filed the whistle, so its 80 random bits must stay unguessable;
but ``secrets.randbits`` asks the kernel for 10 bytes per id, one ``getrandom`` call each,
which measured 7-100 µs of the event loop a whistle under load (issue 21). :class:`Entropy`
reads the same kernel source 4 KiB at a time and slices it: the bits are as unpredictable,
at one system call per 400 ids.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from datetime import datetime

from whistle.clock import Clock

__all__ = ["Entropy", "IdFactory", "is_ulid"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALID = frozenset(_ALPHABET)
# Two characters (10 bits) per lookup: a ULID is one character, twelve pairs and one more.
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)


def _ulid(ms: int, rand: int) -> str:
    """The 26 characters of a 48-bit time and an 80-bit random part (130 bits, the top two
    zero), unrolled: a loop of 26 ``divmod`` took five times as long."""
    v = (ms << 80) | rand
    a, p = _ALPHABET, _PAIRS
    return (
        a[v >> 125]
        + p[(v >> 115) & 1023]
        + p[(v >> 105) & 1023]
        + p[(v >> 95) & 1023]
        + p[(v >> 85) & 1023]
        + p[(v >> 75) & 1023]
        + p[(v >> 65) & 1023]
        + p[(v >> 55) & 1023]
        + p[(v >> 45) & 1023]
        + p[(v >> 35) & 1023]
        + p[(v >> 25) & 1023]
        + p[(v >> 15) & 1023]
        + p[(v >> 5) & 1023]
        + a[v & 31]
    )


def is_ulid(text: str) -> bool:
    """True when ``text`` has the shape of an id this factory makes."""
    return len(text) == 26 and text[0] in "01234567" and set(text) <= _VALID


# Every Entropy of this process: a forked child must not reuse its parent's unread bytes
# (two processes would hand out the same ids), so the child drops them all.
_POOLS: weakref.WeakSet[Entropy] = weakref.WeakSet()


class Entropy:
    """Random bits from ``os.urandom``, read ``chunk`` bytes at a time (not thread-safe: the
    IdFactory draws under its lock)."""

    def __init__(self, chunk: int = 4096) -> None:
        self._chunk = chunk
        self._buffer = b""
        self._at = 0
        _POOLS.add(self)

    def randbits(self, bits: int) -> int:
        """``bits`` random bits as a non-negative int (like ``secrets.randbits``)."""
        size = (bits + 7) // 8
        if self._at + size > len(self._buffer):
            self._buffer = os.urandom(max(self._chunk, size))
            self._at = 0
        start = self._at
        self._at = start + size
        value = int.from_bytes(self._buffer[start : self._at], "big")
        return value >> (size * 8 - bits)

    def forget(self) -> None:
        """Drop the unread bytes (after a fork)."""
        self._buffer, self._at = b"", 0


def _after_fork() -> None:
    for pool in list(_POOLS):
        pool.forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


class IdFactory:
    """Makes monotonic ULIDs from an injected clock and random source (by default the
    kernel's, through :class:`Entropy`)."""

    def __init__(self, clock: Clock, randbits: Callable[[int], int] | None = None) -> None:
        self._clock = clock
        self._randbits = randbits or Entropy().randbits
        self._last_ms = -1
        self._last_rand = 0
        self._lock = threading.Lock()

    def new(self) -> str:
        ms = _millis(self._clock.now())
        with self._lock:
            if ms <= self._last_ms:
                # Same (or an earlier) millisecond: keep order by counting up the random part.
                ms = self._last_ms
                rand = self._last_rand + 1
                if rand >= 1 << 80:
                    ms += 1
                    rand = self._randbits(80)
            else:
                rand = self._randbits(80)
            self._last_ms, self._last_rand = ms, rand
        return _ulid(ms, rand)


def _millis(when: datetime) -> int:
    return int(when.timestamp() * 1000)
