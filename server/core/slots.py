"""Concurrency slots per key: at most ``limit`` holders at once, refused (not queued) when full."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from paybill.server.core.errors import QuotaExceeded


class Slots:
    """In-process counters, one per key (a tenant id). A full key refuses at once: a waiting
    call would hold its client and a worker thread for as long as the others run."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """Hold one of ``key``'s slots for the block; released on every exit path.

        Raises:
            QuotaExceeded: ``limit`` holders of ``key`` are already running.
        """
        with self._lock:
            held = self._held.get(key, 0)
            if held >= self.limit:
                raise QuotaExceeded(
                    f"{held} data statements of this tenant are already running (the limit is "
                    f"{self.limit} at a time); retry in a moment, once one of them ends.",
                    limit=self.limit,
                    retry_after_seconds=1,
                )
            self._held[key] = held + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._held[key] - 1
                if left:
                    self._held[key] = left
                else:
                    del self._held[key]

    def held(self, key: str) -> int:
        with self._lock:
            return self._held.get(key, 0)
