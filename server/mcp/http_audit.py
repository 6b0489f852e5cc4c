"""Audit events for refused HTTP authentication, bounded so a flood cannot grow the log.

Each client address may put ``per_client`` refusals a minute on record and all clients
together ``total``; refusals beyond either are counted, not recorded, and the first refusal
recorded after that minute is preceded by one summary event (rule ``http:DROPPED``) saying
how many were dropped. At most ``total + 1`` events a minute, whatever the flood. The key a
client sent is never recorded: only a digest prefix, enough to tell keys apart.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from paybill.server.core.errors import PaybillError
from paybill.server.core.vocabulary import Decision
from paybill.server.domain.audit import AuditEntry
from paybill.server.domain.audit_log import AuditLog
from paybill.server.guards.call import ANONYMOUS
from paybill.server.store.database import Database

TOOL = "<http>"
RULE = "http:UNAUTHENTICATED"
DROPPED_RULE = "http:DROPPED"
WINDOW_SECONDS = 60.0
log = logging.getLogger("paybill.http")


def key_digest(key: str) -> str | None:
    """A short digest of a presented key (never the key or its prefix)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16] if key else None


class RefusalBudget:
    """Which refusals go on record in the current minute; counts the rest."""

    def __init__(
        self,
        per_client: int = 10,
        total: int = 100,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_client, self.total, self._clock = per_client, total, clock
        self._lock = threading.Lock()
        self._start = clock()
        self._recorded: Counter[str] = Counter()
        self._dropped = 0

    def admit(self, client: str) -> tuple[bool, int]:
        """(record this refusal?, refusals dropped in the minute before, to summarise now)."""
        with self._lock:
            dropped = 0
            if self._clock() - self._start >= WINDOW_SECONDS:
                dropped, self._dropped = self._dropped, 0
                self._start = self._clock()
                self._recorded.clear()
            full = self._recorded.total() >= self.total
            if full or self._recorded[client] >= self.per_client:
                self._dropped += 1
                return False, dropped
            self._recorded[client] += 1
            return True, dropped


class RefusalRecorder:
    """Writes the admitted refusals to the audit log, each in a transaction of its own."""

    def __init__(self, db: Database, audit: AuditLog, budget: RefusalBudget | None = None) -> None:
        self.db, self.audit = db, audit
        self.budget = budget or RefusalBudget()

    def record_entry(self, client: str, entry: AuditEntry) -> None:
        """Record ``entry`` for a refused request from ``client`` within the budget; never
        raises."""
        admitted, dropped = self.budget.admit(client)
        if not (admitted or dropped):
            return  # over the budget: counted only, no transaction (a flood takes no lock)
        try:
            with self.db.session() as session:
                if dropped:
                    self.audit.append(session, _dropped(dropped))
                if admitted:
                    self.audit.append(session, entry)
        except Exception:
            log.exception("could not record a refused HTTP request")


def refusal_entry(client: str, path: str, credential: str, error: PaybillError) -> AuditEntry:
    """The audit record of a refused HTTP request: never the credential, only a digest."""
    reason = str(error.details.get("reason", "invalid"))
    return AuditEntry(
        principal=ANONYMOUS.name,
        tool=TOOL,
        arguments={
            "client": client,
            "path": path[:200],
            "key_sha256": key_digest(credential),
            "reason": reason,
        },
        decision=Decision.DENIED,
        rule=f"http:{error.code}",
        outcome=error.code,
        error_code=error.code,
        detail=f"HTTP {403 if error.code == 'DENIED' else 401}: {error.message[:300]}",
    )


def _dropped(count: int) -> AuditEntry:
    return AuditEntry(
        principal=ANONYMOUS.name,
        tool=TOOL,
        arguments={"dropped": count, "window_seconds": WINDOW_SECONDS},
        decision=Decision.DENIED,
        rule=DROPPED_RULE,
        outcome="UNAUTHENTICATED",
        error_code="UNAUTHENTICATED",
        detail=f"{count} more refused HTTP requests in the minute before were not recorded.",
    )
