"""A dropped database connection is a transient fault (issue 13): the step runs again with
backoff instead of failing the run; only when the faults outlast the step's attempts does the
run fail, and then retry_workflow runs it again.

The fault is real: PostgreSQL terminates (``pg_terminate_backend``, SQLSTATE 57P01) the
backend an isolation migration's ``copy_data`` is loading the tenant's rows through, in a
worker process of its own and (to count retries cheaply) in this one.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from paybill.server.core.vocabulary import Isolation
from paybill.server.executors.dataplane.checksums import table_checksums
from paybill.server.executors.dataplane.loader import Loader
from paybill.server.executors.dataplane.naming import TenantRoute
from tests.support.served import Served
from tests.support.tenant_data import seed

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def quick(served: Served) -> Served:
    """Short backoffs, so the re-runs cost milliseconds."""
    settings = served.services.settings
    settings.step_retry_backoff_seconds = settings.step_retry_backoff_max_seconds = 0.01
    return served


def _approved_move(served: Served) -> str:
    pending = served.error("ops", "change_plan", tenant="acme", plan="pro")
    decided = served.ok(
        "boss",
        "decide_approval",
        approval_id=pending["details"]["approval_id"],
        decision="approve",
        reason="move",
    )
    return str(decided["result"]["workflow"]["id"])


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


def _copy_step(served: Served, run_id: str) -> dict[str, Any]:
    run = served.ok("ops", "get_workflow", workflow_id=run_id)
    return next(s for s in run["steps"] if s["name"] == "copy_data")


def test_a_terminated_backend_mid_copy_is_retried_and_the_run_converges(
    quick: Served, terminations: dict[str, int]
) -> None:
    served = quick
    engines = served.services.engines
    tenant_id = served.ok("ops", "get_tenant", tenant="acme")["id"]
    source = TenantRoute(tenant_id, Isolation.POOLED)
    seed(engines, source, "acme")
    original = table_checksums(engines, source)
    terminations["times"] = 2
    run_id = _approved_move(served)

    served.drain()

    assert terminations["done"] == 2
    run = served.ok("ops", "get_workflow", workflow_id=run_id)
    assert run["status"] == "succeeded", run
    assert _copy_step(served, run_id)["attempts"] == 3
    tenant = served.ok("ops", "get_tenant", tenant="acme")
    assert (tenant["plan"], tenant["isolation"], tenant["state"]) == ("pro", "bridge", "active")
    assert table_checksums(engines, TenantRoute(tenant_id, Isolation.BRIDGE)) == original


def test_faults_beyond_the_attempts_fail_the_run_and_retry_workflow_runs_it_again(
    quick: Served, terminations: dict[str, int]
) -> None:
    served = quick
    served.services.settings.step_attempts = 3
    engines = served.services.engines
    tenant_id = served.ok("ops", "get_tenant", tenant="acme")["id"]
    source = TenantRoute(tenant_id, Isolation.POOLED)
    seed(engines, source, "acme")
    original = table_checksums(engines, source)
    terminations["times"] = 3
    run_id = _approved_move(served)

    served.drain()

    run = served.ok("ops", "get_workflow", workflow_id=run_id)
    copy = _copy_step(served, run_id)
    assert (run["status"], copy["status"], copy["attempts"]) == ("failed", "failed", 3)
    assert run["error"]["code"] == "INTERNAL"
    assert "retry_workflow" in run["error"]["message"]
    assert copy["output"]["rollback"]["rolled_back"] is True
    tenant = served.ok("ops", "get_tenant", tenant="acme")
    assert (tenant["plan"], tenant["isolation"], tenant["state"]) == ("free", "pooled", "active")

    retried = served.ok("ops", "retry_workflow", workflow_id=run_id)["workflow"]
    assert retried["kind"] == "isolation_migration"
    served.drain()
    again = served.ok("ops", "get_workflow", workflow_id=retried["id"])
    assert again["status"] == "succeeded", again
    tenant = served.ok("ops", "get_tenant", tenant="acme")
    assert (tenant["plan"], tenant["isolation"], tenant["state"]) == ("pro", "bridge", "active")
    assert table_checksums(engines, TenantRoute(tenant_id, Isolation.BRIDGE)) == original


def test_a_worker_process_whose_backend_is_terminated_mid_copy_converges(
    quick: Served, tmp_path: Path
) -> None:
    """A real worker process; the test terminates the backend its copy is loading through."""
    served = quick
    engines = served.services.engines
    tenant_id = served.ok("ops", "get_tenant", tenant="acme")["id"]
    source = TenantRoute(tenant_id, Isolation.POOLED)
    seed(engines, source, "acme")
    original = table_checksums(engines, source)
    run_id = _approved_move(served)

    marker, go = tmp_path / "paused", tmp_path / "go"
    env = {**served.env(), "PAYBILL_STEP_RETRY_BACKOFF_SECONDS": "0.05"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.support.paused_copy", str(marker), str(go)],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() or not marker.read_text():
            assert worker.poll() is None and time.monotonic() < deadline, "never paused"
            time.sleep(0.05)
        admin = create_engine(served.services.settings.database_url)
        with admin.begin() as conn:
            pid = int(marker.read_text())
            assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
        admin.dispose()
        go.touch()
        _, stderr = worker.communicate(timeout=120)
    finally:
        worker.kill()
    assert worker.returncode == 0, stderr
    assert "transient database fault" in stderr

    run = served.ok("ops", "get_workflow", workflow_id=run_id)
    assert run["status"] == "succeeded", run
    assert _copy_step(served, run_id)["attempts"] == 2
    tenant = served.ok("ops", "get_tenant", tenant="acme")
    assert (tenant["plan"], tenant["isolation"], tenant["state"]) == ("pro", "bridge", "active")
    assert table_checksums(engines, TenantRoute(tenant_id, Isolation.BRIDGE)) == original
