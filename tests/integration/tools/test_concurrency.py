"""Concurrent calls (as the HTTP server makes them, one thread each) keep one audit chain."""

from __future__ import annotations

import threading

from sqlalchemy import select

from paybill.server.store import Tenant
from paybill.server.workflows.engine.worker import embedded_worker
from tests.support.served import Served


def test_parallel_calls_all_succeed_and_chain_stays_linear(served: Served) -> None:
    errors: list[dict] = []

    def work(worker: int) -> None:
        for i in range(6):
            if i % 2 == 0:
                outcome = served.call(
                    "ops", "create_tenant", slug=f"w{worker}-{i}", name="W", plan="free"
                )
            else:
                outcome = served.call("boss", "list_tenants", limit=5)
            if outcome.is_error:
                errors.append(outcome.payload)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    # The server's embedded worker provisions the new tenants while the calls go on.
    with embedded_worker(served.services, poll_seconds=0.05):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert errors == []
    served.drain()
    with served.services.db.session() as session:
        states = session.scalars(select(Tenant.state)).all()
        assert states == ["active"] * (2 + 6 * 3)
        report = served.services.audit.verify(session)
    assert report.ok
    assert report.checked >= 36
