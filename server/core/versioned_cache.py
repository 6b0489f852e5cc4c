"""A cache whose entries hold only under the version they were loaded at.

The version comes from the store (``domain.control_versions``), read by each call before it
looks anything up: an entry put under version ``v`` was loaded after ``v`` was read, so it is
at least as fresh as ``v``, and a call that read another version finds nothing.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class VersionedCache(Generic[K, V]):
    """Thread-safe; a put under a new version drops every entry of the old one."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._version: int | None = None
        self._entries: dict[K, V] = {}
        self._max = max_entries

    def get(self, version: int, key: K) -> V | None:
        with self._lock:
            if version != self._version:
                return None
            return self._entries.get(key)

    def put(self, version: int, key: K, value: V) -> None:
        with self._lock:
            if version != self._version or len(self._entries) >= self._max:
                self._version, self._entries = version, {}
            self._entries[key] = value

    def clear(self) -> None:
        with self._lock:
            self._version, self._entries = None, {}
