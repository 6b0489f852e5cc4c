"""Concurrent calls (as the HTTP server makes them, one thread each) keep one audit chain."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from paybill.server import audit
from paybill.server.store import Tenant
from tests.server.conftest import Served


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
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with served.services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Tenant)) == 2 + 6 * 3
        report = audit.verify(session)
    assert report.ok
    assert report.checked >= 36
