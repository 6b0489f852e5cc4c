"""A token bucket per key: the mechanism behind per-principal and per-tenant call rates."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from paybill.server.core.errors import QuotaExceeded


class RateLimiter:
    """A token bucket per principal: ``per_minute`` calls, refilled continuously."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, per_minute: int | None = None) -> None:
        """Raises: QuotaExceeded when ``key`` has no call left right now."""
        rate = per_minute or self.per_minute
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(key, (float(rate), now))
            tokens = min(rate, tokens + (now - last) * rate / 60)
            if tokens < 1:
                wait = (1 - tokens) * 60 / rate
                self._buckets[key] = (tokens, now)
                raise QuotaExceeded(
                    f"Rate limit of {rate} calls per minute reached; retry in {wait:.1f} s.",
                    limit_per_minute=rate,
                    retry_after_seconds=round(wait, 1),
                )
            self._buckets[key] = (tokens - 1, now)
