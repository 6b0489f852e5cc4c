"""Holding tenant statements mid-flight, so a test can act while they "run" for as long as
it likes: a statement on ``engine`` naming ``marker`` with ``tenant_id`` among its parameters
waits (inside its tenant transaction, on its tenant connection) until the test releases it.
Counts, never clocks."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, event, select

from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.store import Tenant
from tests.support.served import Served

# Only a bound for a broken run: a held statement never waits longer than this.
BOUND_SECONDS = 30


class Held:
    def __init__(self, engine: Engine, marker: str, tenant_id: str, *, fail: bool = False) -> None:
        self.engine = engine
        self.marker = marker
        self.tenant_id = tenant_id
        self.fail = fail  # released statements raise instead of running
        self.released = threading.Event()
        self._started = 0
        self._changed = threading.Condition()
        event.listen(engine, "before_cursor_execute", self._hold)

    def _hold(self, _conn: Any, _cursor: Any, statement: str, params: Any, *_args: Any) -> None:
        if self.marker not in statement or self.tenant_id not in repr(params):
            return
        with self._changed:
            self._started += 1
            self._changed.notify_all()
        self.released.wait(BOUND_SECONDS)
        if self.fail:
            raise RuntimeError("a held statement failed")

    def wait_started(self, count: int) -> bool:
        """Whether ``count`` statements are being held (waits up to the bound for them)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._started >= count, BOUND_SECONDS)

    @property
    def started(self) -> int:
        with self._changed:
            return self._started

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.release()
        event.remove(self.engine, "before_cursor_execute", self._hold)


class Calls:
    """Calls running in threads, one each, as the HTTP server runs them; their outcomes."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.outcomes: list[Any] = []
        self._lock = threading.Lock()

    def start(self, fn: Any, *args: Any, **kwargs: Any) -> threading.Thread:
        def run() -> None:
            outcome = fn(*args, **kwargs)
            with self._lock:
                self.outcomes.append(outcome)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.threads.append(thread)
        return thread

    def running(self) -> int:
        """How many of the calls have not returned yet."""
        with self._lock:
            return len(self.threads) - len(self.outcomes)

    def join(self) -> list[Any]:
        for thread in self.threads:
            thread.join(BOUND_SECONDS)
        return self.outcomes


def route_of(served: Served, slug: str) -> TenantRoute:
    with served.services.db.session() as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == slug)).one()
        return TenantRoute(tenant.id, tenant.isolation)
