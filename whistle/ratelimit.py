"""Token-bucket rate limits per key (a token id, a client address), on the injected clock."""

from __future__ import annotations

from dataclasses import dataclass

from whistle.clock import Clock

__all__ = ["Limit", "RateLimiter"]


@dataclass(frozen=True, slots=True)
class Limit:
    """``rate`` requests per second on average, bursts of up to ``burst``."""

    rate: float
    burst: float


class RateLimiter:
    """Buckets per key, refilled from the clock; forgets idle keys so memory stays bounded."""

    def __init__(self, limit: Limit, clock: Clock, *, max_keys: int = 100_000) -> None:
        self.limit = limit
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def __repr__(self) -> str:
        return f"RateLimiter({self.limit}, keys={len(self._buckets)})"

    def take(self, key: str) -> float:
        """Spend one request for ``key``: 0.0 when allowed, else the seconds to wait."""
        now = self._clock.now().timestamp()
        tokens, at = self._buckets.get(key, (self.limit.burst, now))
        tokens = min(self.limit.burst, tokens + (now - at) * self.limit.rate)
        if tokens >= 1.0:
            self._store(key, tokens - 1.0, now)
            return 0.0
        self._store(key, tokens, now)
        return (1.0 - tokens) / self.limit.rate

    def _store(self, key: str, tokens: float, at: float) -> None:
        if key not in self._buckets and len(self._buckets) >= self._max_keys:
            # Full: drop the buckets that have refilled completely (they carry no state).
            now = at
            full = [
                k
                for k, (t, a) in self._buckets.items()
                if t + (now - a) * self.limit.rate >= self.limit.burst
            ]
            for k in full:
                del self._buckets[k]
            if len(self._buckets) >= self._max_keys:
                self._buckets.pop(next(iter(self._buckets)))
        self._buckets[key] = (tokens, at)
