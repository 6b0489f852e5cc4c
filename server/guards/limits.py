"""Bounded execution: argument size and a per-principal call rate."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from paybill.server.errors import InvalidInput, QuotaExceeded


def check_argument_size(raw: dict[str, Any], limit_bytes: int) -> None:
    """Raises: InvalidInput when the JSON-encoded arguments exceed ``limit_bytes``."""
    size = len(json.dumps(raw, default=str).encode())
    if size > limit_bytes:
        raise InvalidInput(
            f"Arguments are {size} bytes; the limit is {limit_bytes}. Send less data per call.",
            size=size,
            limit=limit_bytes,
        )


class RateLimiter:
    """A token bucket per principal: ``per_minute`` calls, refilled continuously."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, principal: str) -> None:
        """Raises: QuotaExceeded when ``principal`` has no call left right now."""
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(principal, (float(self.per_minute), now))
            tokens = min(self.per_minute, tokens + (now - last) * self.per_minute / 60)
            if tokens < 1:
                wait = (1 - tokens) * 60 / self.per_minute
                self._buckets[principal] = (tokens, now)
                raise QuotaExceeded(
                    f"Rate limit of {self.per_minute} calls per minute reached; "
                    f"retry in {wait:.1f} s.",
                    limit_per_minute=self.per_minute,
                    retry_after_seconds=round(wait, 1),
                )
            self._buckets[principal] = (tokens - 1, now)
