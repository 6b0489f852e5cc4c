"""kill -9 of a Temporal worker mid-step (a Terraform apply that has written its state but not
returned): another worker resumes the step once the activity heartbeat times out, the run
converges on the same infrastructure, each step's outcome is recorded once and the run is
audited once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from paybill.server.app import build_pipeline
from paybill.server.executors.terraform.cli import Terraform
from paybill.server.store import AuditEvent
from tests.support.served import Served
from tests.support.temporal import BOUND_SECONDS, on_temporal, wait_finished
from tests.support.terraform import terraform_services

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

# The real terraform; the first apply then "hangs" with its state written: the worst moment
# to die (the infrastructure exists, the step's success is not recorded).
WRAPPER = """#!/usr/bin/env bash
"{real}" "$@"
status=$?
if [ "$1" = "apply" ] && [ ! -e "{marker}" ]; then
  touch "{marker}"
  sleep 120
fi
exit $status
"""


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + BOUND_SECONDS
    while not path.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"{path.name} never appeared")
        time.sleep(0.1)


def test_a_killed_temporal_worker_is_replaced_and_the_run_converges(
    store_url: str, tmp_path: Path, terraform: Terraform, temporal_server: str
) -> None:
    marker = tmp_path / "applied-then-hung"
    wrapper = tmp_path / "terraform"
    wrapper.write_text(WRAPPER.format(real=terraform.binary, marker=marker))
    wrapper.chmod(0o755)
    services = terraform_services(store_url, tmp_path / "data", str(wrapper), terraform)
    served = Served(services, build_pipeline(services), {})
    worker_env = {
        "PAYBILL_TERRAFORM_BIN": str(wrapper),
        "PAYBILL_TERRAFORM_CLI_CONFIG": str(terraform.cli_config),
    }
    # The heartbeat times out 2 s after the worker dies; then another worker retries the step.
    with on_temporal(served, temporal_server, worker_env, worker_lease_seconds=2) as engine:
        created = served.ok("admin", "create_tenant", slug="crashy", name="C", plan="pro")
        run_id, tenant_id = created["workflow"]["id"], created["tenant"]["id"]
        _wait_for(marker)
        engine.kill(engine.workers[0])  # the worker and its terraform, mid-step
        state_file = services.settings.data_dir / "terraform" / tenant_id / "local"
        before = json.loads((state_file / "terraform.tfstate").read_text())["resources"]
        crashed = served.ok("admin", "get_workflow", workflow_id=run_id)
        assert (crashed["status"], crashed["steps"][0]["status"]) == ("running", "running")

        engine.start_worker()
        wait_finished(services, run_id)

    run = served.ok("admin", "get_workflow", workflow_id=run_id)
    assert run["status"] == "succeeded", run
    assert [(s["status"], s["attempts"]) for s in run["steps"]] == [
        ("succeeded", 2),  # run again by the second worker
        ("succeeded", 1),
    ]
    after = json.loads((state_file / "terraform.tfstate").read_text())["resources"]
    ids = lambda resources: [i["attributes"]["id"] for r in resources for i in r["instances"]]  # noqa: E731
    assert ids(after) == ids(before)  # converged on the same resource, nothing duplicated
    assert served.ok("admin", "get_tenant", tenant="crashy")["state"] == "active"
    with services.db.session() as session:
        audited = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.tool == "workflow.provision", AuditEvent.tenant_id == tenant_id)
        )
        assert audited == 1
        assert services.audit.verify(session).ok
    services.engines.dispose()
    services.db.dispose()
