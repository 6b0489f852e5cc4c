"""Transient store faults on the Temporal engine: Temporal's retry policy runs the step again
(the same rule as the embedded worker: ``step_attempts`` in a row, then the run fails with the
same error). The fault is real: PostgreSQL terminates the backend an isolation migration's
``copy_data`` loads through. The Temporal worker runs in this process, so the fault can be
placed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from paybill.server.app import run_temporal_worker
from paybill.server.core.vocabulary import Isolation
from paybill.server.executors.dataplane.loader import Loader
from paybill.server.executors.dataplane.naming import TenantRoute
from tests.support.served import Served
from tests.support.temporal import temporal_settings, wait_finished
from tests.support.tenant_data import seed

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


@pytest.fixture
def on_temporal_here(served: Served, temporal_server: str) -> Iterator[Served]:
    """``served`` on Temporal with a worker thread in this process; short backoffs."""
    services = served.services
    services.settings = services.settings.model_copy(
        update=temporal_settings(
            temporal_server,
            step_attempts=3,
            step_retry_backoff_seconds=0.01,
            step_retry_backoff_max_seconds=0.01,
        )
    )
    stop = threading.Event()
    thread = threading.Thread(target=run_temporal_worker, args=(services, stop), daemon=True)
    thread.start()
    try:
        yield served
    finally:
        stop.set()
        thread.join(timeout=60)


@pytest.fixture
def terminations(served: Served, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Terminate the backend under the copy's second table load, ``times`` times."""
    admin = create_engine(served.services.settings.database_url, isolation_level="AUTOCOMMIT")
    real_load, counter = Loader.load, {"times": 0, "done": 0, "calls": 0}

    def load(self: Loader, name: str, rows: Any) -> int:
        counter["calls"] += 1
        if counter["calls"] % 2 == 0 and counter["done"] < counter["times"]:
            pid = self.conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with admin.connect() as conn:
                conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            counter["done"] += 1
        return real_load(self, name, rows)

    monkeypatch.setattr(Loader, "load", load)
    yield counter
    admin.dispose()


def _move(served: Served) -> str:
    tenant_id = served.ok("ops", "get_tenant", tenant="acme")["id"]
    seed(served.services.engines, TenantRoute(tenant_id, Isolation.POOLED), "acme")
    pending = served.error("ops", "change_plan", tenant="acme", plan="pro")
    decided = served.ok(
        "boss",
        "decide_approval",
        approval_id=pending["details"]["approval_id"],
        decision="approve",
        reason="move",
    )
    return str(decided["result"]["workflow"]["id"])


@pytest.mark.parametrize(
    ("faults", "status", "attempts", "isolation"),
    [(2, "succeeded", 3, "bridge"), (3, "failed", 3, "pooled")],
)
def test_transient_faults_are_retried_by_temporal_up_to_the_attempts(
    on_temporal_here: Served,
    terminations: dict[str, int],
    faults: int,
    status: str,
    attempts: int,
    isolation: str,
) -> None:
    served = on_temporal_here
    terminations["times"] = faults
    run_id = _move(served)
    wait_finished(served.services, run_id)
    assert terminations["done"] == faults
    run = served.ok("ops", "get_workflow", workflow_id=run_id)
    copy = next(s for s in run["steps"] if s["name"] == "copy_data")
    assert (run["status"], copy["attempts"]) == (status, attempts), run
    if status == "failed":
        assert run["error"]["code"] == "INTERNAL"
        assert "retry_workflow" in run["error"]["message"]
    tenant = served.ok("ops", "get_tenant", tenant="acme")
    assert (tenant["isolation"], tenant["state"]) == (isolation, "active")
