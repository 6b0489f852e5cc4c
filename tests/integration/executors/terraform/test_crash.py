"""Crash safety: a worker SIGKILLed mid-apply; after restart the run converges with the same
infrastructure (no duplicate resources) and an intact audit chain."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from paybill.server.app import build_pipeline
from paybill.server.executors.terraform.cli import Terraform
from paybill.server.store import WorkflowRun
from paybill.server.workflows.engine.worker import Worker
from tests.support.terraform import terraform_services

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
PAYBILL = str(Path(sys.executable).parent / "paybill")

# Runs the real terraform; the first apply then "hangs" (its state already written), which is
# the worst moment to die: the infrastructure exists but the step's success is not recorded.
WRAPPER = """#!/usr/bin/env bash
"{real}" "$@"
status=$?
if [ "$1" = "apply" ] && [ ! -e "{marker}" ]; then
  touch "{marker}"
  sleep 120
fi
exit $status
"""


def _wait_for(path: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"{path.name} never appeared")
        time.sleep(0.1)


def test_worker_killed_mid_apply_converges_after_restart(
    store_url: str, tmp_path: Path, terraform: Terraform
) -> None:
    marker = tmp_path / "applied-then-hung"
    wrapper = tmp_path / "terraform"
    wrapper.write_text(WRAPPER.format(real=terraform.binary, marker=marker))
    wrapper.chmod(0o755)
    services = terraform_services(store_url, tmp_path / "data", str(wrapper), terraform)
    settings = services.settings
    pipeline = build_pipeline(services)
    created = pipeline.call(
        "create_tenant", "admin", {"slug": "crashy", "name": "C", "plan": "pro"}
    )
    assert not created.is_error, created.payload
    run_id, tenant_id = created.payload["workflow"]["id"], created.payload["tenant"]["id"]
    env = {
        **os.environ,
        "PAYBILL_DATABASE_URL": settings.database_url,
        "PAYBILL_DATA_DIR": str(settings.data_dir),
        "PAYBILL_PROVISIONER": "terraform",
        "PAYBILL_TERRAFORM_BIN": str(wrapper),
        "PAYBILL_TERRAFORM_CLI_CONFIG": str(terraform.cli_config),
        "PAYBILL_WORKER_LEASE_SECONDS": "2",
        "PAYBILL_WORKER_POLL_SECONDS": "0.1",
    }
    doomed = subprocess.Popen(
        [PAYBILL, "worker"], env=env, start_new_session=True, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for(marker, 120)
        os.killpg(doomed.pid, signal.SIGKILL)  # the worker and its terraform, mid-step
    finally:
        doomed.wait(timeout=30)
    state_file = settings.data_dir / "terraform" / tenant_id / "local" / "terraform.tfstate"
    before = json.loads(state_file.read_text())["resources"]
    assert len(before) == 1
    killed_plans = list(state_file.parent.glob("*.tfplan"))
    assert len(killed_plans) == 1  # the killed run's saved plan, never cleaned up by it
    crashed = pipeline.call("get_workflow", "admin", {"workflow_id": run_id}).payload
    assert crashed["status"] == "running"
    assert crashed["steps"][0]["status"] == "running"
    assert crashed["lock"] is not None  # held by the dead worker until it expires

    time.sleep(2.5)  # the dead worker's lease runs out
    restarted = subprocess.run(
        [PAYBILL, "worker", "--once"], env=env, capture_output=True, text=True, timeout=300
    )
    assert restarted.returncode == 0, restarted.stderr
    run = pipeline.call("get_workflow", "admin", {"workflow_id": run_id}).payload
    assert run["status"] == "succeeded", run
    assert [(s["status"], s["attempts"]) for s in run["steps"]] == [
        ("succeeded", 2),
        ("succeeded", 1),
    ]
    after = json.loads(state_file.read_text())["resources"]
    assert [r["type"] for r in after] == ["null_resource"]
    assert not list(state_file.parent.glob("*.tfplan"))  # swept: its run is over
    ids = lambda resources: [i["attributes"]["id"] for r in resources for i in r["instances"]]  # noqa: E731
    assert ids(after) == ids(before)  # converged on the same resource, nothing duplicated
    tenant = pipeline.call("get_tenant", "admin", {"tenant": "crashy"}).payload
    assert tenant["state"] == "active"
    with services.db.session() as session:
        assert session.get(WorkflowRun, run_id).locked_by is None
        assert services.audit.verify(session).ok
        outcomes = session.scalars(
            select(WorkflowRun.status).where(WorkflowRun.tenant_id == tenant_id)
        ).all()
        assert [o.value for o in outcomes] == ["succeeded"]
    services.engines.dispose()
    services.db.dispose()


FAILING_ONCE = """#!/usr/bin/env bash
if [ "$1" = "apply" ] && [ ! -e "{marker}" ]; then
  touch "{marker}"
  echo "Error: Error creating the tenant's database: quota exceeded in region local" >&2
  for i in $(seq 1 200); do echo "  debug line $i with internal detail /var/lib/secret" >&2; done
  exit 1
fi
exec "{real}" "$@"
"""


def test_injected_terraform_failure_is_summarised_and_retry_succeeds(
    store_url: str, tmp_path: Path, terraform: Terraform
) -> None:
    wrapper = tmp_path / "terraform"
    wrapper.write_text(FAILING_ONCE.format(real=terraform.binary, marker=tmp_path / "failed"))
    wrapper.chmod(0o755)
    services = terraform_services(store_url, tmp_path / "data", str(wrapper), terraform)
    pipeline = build_pipeline(services)
    created = pipeline.call(
        "create_tenant", "admin", {"slug": "flaky", "name": "F", "plan": "free"}
    )
    run_id = created.payload["workflow"]["id"]
    Worker(services).run_pending()
    failed = pipeline.call("get_workflow", "admin", {"workflow_id": run_id}).payload
    assert failed["status"] == "failed"
    message = failed["error"]["message"]
    assert message.startswith("terraform apply failed: Error creating the tenant's database")
    assert "debug line" not in message and "/var/lib/secret" not in message
    assert len(message) < 300
    retried = pipeline.call("retry_workflow", "admin", {"workflow_id": run_id})
    assert not retried.is_error, retried.payload
    Worker(services).run_pending()
    again = retried.payload["workflow"]["id"]
    assert pipeline.call("get_workflow", "admin", {"workflow_id": again}).payload["status"] == (
        "succeeded"
    )
    assert pipeline.call("get_tenant", "admin", {"tenant": "flaky"}).payload["state"] == "active"
    services.engines.dispose()
    services.db.dispose()
