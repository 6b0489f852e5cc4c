"""A worker killed (SIGKILL) while it rolls back a failed isolation migration (issue 13): the
failure (code, message, failed step) was committed before the rollback started, so the run's
record keeps it; the worker that resumes the run finishes the rollback, and the record still
names the original failure."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from paybill.server.core.vocabulary import Isolation
from paybill.server.executors.dataplane.checksums import table_checksums
from paybill.server.executors.dataplane.naming import TenantRoute
from tests.support.served import Served
from tests.support.tenant_data import seed

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 2


def _wait_for(path: Path, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the worker never reached its rollback (exit {process.returncode})")
        time.sleep(0.05)


def test_a_kill_during_rollback_keeps_the_failure_on_record(served: Served, tmp_path: Path) -> None:
    engines = served.services.engines
    tenant_id = served.ok("ops", "get_tenant", tenant="acme")["id"]
    source = TenantRoute(tenant_id, Isolation.POOLED)
    seed(engines, source, "acme")
    original = table_checksums(engines, source)
    pending = served.error("ops", "change_plan", tenant="acme", plan="pro")
    decided = served.ok(
        "boss",
        "decide_approval",
        approval_id=pending["details"]["approval_id"],
        decision="approve",
        reason="move",
    )
    run_id = decided["result"]["workflow"]["id"]

    marker = tmp_path / "rolling-back"
    env = {**served.env(), "PAYBILL_WORKER_LEASE_SECONDS": str(LEASE_SECONDS)}
    doomed = subprocess.Popen(
        [sys.executable, "-m", "tests.support.hung_rollback", str(marker)],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(marker, doomed, 60)
        os.killpg(doomed.pid, signal.SIGKILL)
    finally:
        doomed.wait(timeout=30)

    killed = served.ok("ops", "get_workflow", workflow_id=run_id)
    assert (killed["status"], killed["progress"]) == ("running", "compensating")
    assert killed["error"]["code"] == "PROVISIONING_FAILED"
    assert killed["error"]["step"] == "copy_data"
    assert "ran out of disk" in killed["error"]["message"]
    copy = next(s for s in killed["steps"] if s["name"] == "copy_data")
    assert copy["status"] == "failed" and "ran out of disk" in copy["error"]
    tenant = served.ok("ops", "get_tenant", tenant="acme")
    assert (tenant["plan"], tenant["state"]) == ("pro", "updating")  # the rollback did not commit

    time.sleep(LEASE_SECONDS + 0.5)  # the dead worker's lease runs out
    assert served.drain() == 1

    done = served.ok("ops", "get_workflow", workflow_id=run_id)
    assert done["status"] == "failed"
    assert done["error"] == killed["error"]  # still the original failure
    copy = next(s for s in done["steps"] if s["name"] == "copy_data")
    assert copy["output"]["rollback"]["rolled_back"] is True
    tenant = served.ok("ops", "get_tenant", tenant="acme")
    assert (tenant["plan"], tenant["isolation"], tenant["state"]) == ("free", "pooled", "active")
    assert table_checksums(engines, source) == original
