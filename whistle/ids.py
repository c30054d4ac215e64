"""Whistle identifiers: ULIDs (time-ordered, 26 Crockford base32 characters).

Time-ordered ids let the store page through whistles by id alone, and a human can read the
order of two case numbers at a glance. Ids are monotonic within one process even when many
are made in the same millisecond.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from datetime import datetime

from whistle.clock import Clock

__all__ = ["IdFactory", "is_ulid"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALID = frozenset(_ALPHABET)


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def is_ulid(text: str) -> bool:
    """True when ``text`` has the shape of an id this factory makes."""
    return len(text) == 26 and text[0] in "01234567" and set(text) <= _VALID


class IdFactory:
    """Makes monotonic ULIDs from an injected clock and random source."""

    def __init__(self, clock: Clock, randbits: Callable[[int], int] = secrets.randbits) -> None:
        self._clock = clock
        self._randbits = randbits
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
        return _encode(ms, 10) + _encode(rand, 16)


def _millis(when: datetime) -> int:
    return int(when.timestamp() * 1000)
