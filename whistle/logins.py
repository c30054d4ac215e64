"""Password logins under attack: argon2 off the event loop, bounded, and failures throttled.

Checking a password costs about 100 ms of CPU (argon2id, 64 MiB). Run on the event loop, a
burst of wrong logins stalls every other request; run without a bound, it queues without end.
:class:`PasswordWork` runs hashes and checks in a small thread pool of its own (argon2-cffi
releases the GIL while it works) and refuses, at once, what would wait beyond its queue. An
unknown name is checked against a dummy hash, so that it costs the same as a known one and the
answer's time does not tell which names exist.

:class:`FailureThrottle` counts failed logins per name and per client address over a window.
Past a threshold it refuses that key for a period that doubles with each further failure, up
to a cap, and a correct password is refused too while it lasts: otherwise guessing would only
be slowed, not stopped. The refusal is temporary, never a lock an administrator has to lift,
so that an attacker cannot lock a real user out for longer than the cap after they stop.
Attempts still being checked count against the threshold, so a burst sent at once gets no
more tries than a burst sent one after another. It lives in each process's memory.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from whistle.auth import hash_password, verify_password
from whistle.clock import Clock
from whistle.exceptions import Overloaded

__all__ = ["FailureThrottle", "LoginLimits", "PasswordWork", "Throttling"]

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Throttling:
    """``threshold`` failures within ``window`` seconds refuse the key for ``base`` seconds,
    doubled for each further failure, at most ``cap`` seconds."""

    threshold: int
    window: float = 15 * 60.0
    base: float = 60.0
    cap: float = 15 * 60.0


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """Limits on password logins: per name, per client address, and the verification pool."""

    per_name: Throttling = field(default_factory=lambda: Throttling(threshold=5))
    # Many people may share one address (an office behind NAT, a proxy): a higher threshold.
    per_address: Throttling = field(default_factory=lambda: Throttling(threshold=20))
    workers: int = 2  # argon2 checks at once: each takes a core for ~100 ms
    queue: int = 16  # checks waiting for a worker; beyond it logins get 503 at once


@dataclass(slots=True)
class _Key:
    failures: deque[float] = field(default_factory=deque)
    checking: int = 0


class FailureThrottle:
    """Failed attempts per key, on the injected clock; forgets keys whose window has passed."""

    def __init__(self, rule: Throttling, clock: Clock, *, max_keys: int = 100_000) -> None:
        self.rule = rule
        self._clock = clock
        self._max_keys = max_keys
        self._keys: dict[str, _Key] = {}

    def __repr__(self) -> str:
        return f"FailureThrottle({self.rule}, keys={len(self._keys)})"

    def wait(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0.0 when it may try now."""
        now = self._clock.now().timestamp()
        entry = self._keys.get(key)
        if entry is None:
            return 0.0
        self._forget_old(entry, now)
        failures = len(entry.failures)
        if failures >= self.rule.threshold:
            excess = min(failures - self.rule.threshold, 30)
            until = entry.failures[-1] + min(self.rule.cap, self.rule.base * 2.0**excess)
            if now < until:
                return until - now
            # The refusal is over: one more try at a time, and its failure refuses for longer.
            return 0.0 if entry.checking == 0 else 1.0
        if failures + entry.checking >= self.rule.threshold:
            return 1.0  # the attempts still being checked use up what is left
        return 0.0

    def begin(self, key: str) -> None:
        """An attempt for ``key`` is being checked (call :meth:`end` when it is decided)."""
        entry = self._keys.get(key)
        if entry is None:
            if len(self._keys) >= self._max_keys:
                self._prune()
            entry = self._keys[key] = _Key()
        entry.checking += 1

    def end(self, key: str, *, failed: bool, forget: bool = False) -> None:
        """The attempt is decided: a failure counts; ``forget`` clears the key's failures."""
        entry = self._keys.get(key)
        if entry is None:
            return
        entry.checking = max(0, entry.checking - 1)
        if failed:
            entry.failures.append(self._clock.now().timestamp())
            while len(entry.failures) > self.rule.threshold + 30:
                entry.failures.popleft()
        elif forget:
            entry.failures.clear()
        if not entry.failures and not entry.checking:
            del self._keys[key]

    def _forget_old(self, entry: _Key, now: float) -> None:
        while entry.failures and entry.failures[0] <= now - self.rule.window:
            entry.failures.popleft()

    def _prune(self) -> None:
        now = self._clock.now().timestamp()
        for key in list(self._keys):
            entry = self._keys[key]
            self._forget_old(entry, now)
            if not entry.failures and not entry.checking:
                del self._keys[key]
        while len(self._keys) >= self._max_keys:  # all of them busy: drop the oldest
            self._keys.pop(next(iter(self._keys)))


@functools.cache
def _dummy_hash() -> str:
    # Made once with the same hasher, so that checking it costs what a real check costs.
    return hash_password("not a password: checked for names that do not exist")


def _check(stored: str | None, password: str) -> bool:
    if stored is None:
        verify_password(_dummy_hash(), password)
        return False
    return verify_password(stored, password)


class PasswordWork:
    """argon2 hashing and checking in a bounded pool of threads, off the event loop."""

    def __init__(self, *, workers: int = 2, queue: int = 16) -> None:
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="argon2")
        # Made now, in the background: the first unknown name must not cost twice as much.
        self._pool.submit(_dummy_hash)
        self._slots = max(1, workers) + max(0, queue)
        self._busy = 0
        self.checked = 0  # passwords checked (known names and unknown ones alike)

    def __repr__(self) -> str:
        return f"PasswordWork(busy={self._busy}, slots={self._slots}, checked={self.checked})"

    @property
    def busy(self) -> int:
        """Hashes and checks running or waiting now."""
        return self._busy

    async def check(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored`` (None: an unknown name, always False, at the
        same cost). Raises Overloaded when the pool and its queue are full."""
        result = await self._run(_check, stored, password)
        self.checked += 1
        return result

    async def hash(self, password: str) -> str:
        """The argon2id hash of ``password``. Raises Overloaded like :meth:`check`."""
        return await self._run(hash_password, password)

    async def _run(self, work: Callable[..., _T], *args: str | None) -> _T:
        if self._busy >= self._slots:
            raise Overloaded("too many password checks at once; try again in a moment")
        self._busy += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)
        finally:
            self._busy -= 1

    def close(self) -> None:
        """Stop the threads; checks not started yet are dropped."""
        self._pool.shutdown(wait=False, cancel_futures=True)
