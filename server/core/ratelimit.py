"""A token bucket per key: the mechanism behind per-principal and per-tenant call rates.

``RateLimiter`` keeps the buckets in process memory (one process, or the SQLite default);
``domain.shared_rates.StoreRateLimiter`` keeps them in PostgreSQL so that every replica
takes from the same bucket. Both refill continuously and refuse with the same error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from paybill.server.core.errors import QuotaExceeded


class Limiter(Protocol):
    """What the guards need of a rate limiter: take one call from ``key``'s bucket."""

    per_minute: int

    def take(self, key: str, per_minute: int | None = None) -> None:
        """Raises: QuotaExceeded when ``key`` has no call left right now."""
        ...

    def dispose(self) -> None:
        """Close what the limiter holds open (a store limiter's connections)."""
        ...


def rate_of(default: int, per_minute: int | None) -> int:
    """The bucket's size and refill per minute: ``per_minute`` when given, else the default.

    Raises:
        ValueError: a rate below 1 (a bug in the caller: plans and settings forbid it).
    """
    rate = per_minute or default
    if rate < 1:
        raise ValueError(f"a rate limit must allow at least 1 call per minute, not {rate}")
    return rate


def exceeded(rate: int, tokens: float) -> QuotaExceeded:
    """The refusal of a call when ``tokens`` (< 1) are left of a bucket of ``rate``."""
    wait = (1 - tokens) * 60 / rate
    return QuotaExceeded(
        f"Rate limit of {rate} calls per minute reached; retry in {wait:.1f} s.",
        limit_per_minute=rate,
        retry_after_seconds=round(wait, 1),
    )


class RateLimiter:
    """A token bucket per key in this process: ``per_minute`` calls, refilled continuously."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, per_minute: int | None = None) -> None:
        """Raises: QuotaExceeded when ``key`` has no call left right now."""
        rate = rate_of(self.per_minute, per_minute)
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(key, (float(rate), now))
            tokens = min(rate, tokens + (now - last) * rate / 60)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                raise exceeded(rate, tokens)
            self._buckets[key] = (tokens - 1, now)

    def dispose(self) -> None:
        """Nothing to close: the buckets go with the process."""
