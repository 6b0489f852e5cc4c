"""An isolation move with PAYBILL_PROVISIONER=terraform on PostgreSQL: the saved plan is made
and policy-checked before the approval, the approver sees its summary, and exactly that file
is applied; when the infrastructure drifts between request and decision nothing is applied."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from paybill.server.app import build_pipeline
from paybill.server.core.vocabulary import Isolation
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.executors.terraform.cli import Terraform
from paybill.server.executors.terraform.saved_plans import file_sha256
from paybill.server.guards.pipeline import Pipeline
from paybill.server.store import AuditEvent, Tenant, WorkflowRun
from paybill.server.workflows.engine.worker import Worker, tenant_facts
from tests.support.tenant_data import seed
from tests.support.terraform import terraform_services

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
MOVE = {"tenant": "acme", "plan": "pro"}


@pytest.fixture
def pipeline(store_url: str, tmp_path: Path, terraform: Terraform) -> Iterator[Pipeline]:
    """acme (free, pooled) with rows, its module applied through Terraform."""
    services = terraform_services(store_url, tmp_path / "data", terraform.binary, terraform)
    with services.db.session() as session:
        acme = session.scalar(select(Tenant).where(Tenant.slug == "acme"))
        facts = tenant_facts(acme)
    services.provisioner.provision(facts)
    seed(services.engines, TenantRoute(facts.id, Isolation.POOLED), "acme")
    yield build_pipeline(services)
    services.engines.dispose()
    services.db.dispose()


def _call(pipeline: Pipeline, principal: str, tool: str, **arguments: Any) -> dict[str, Any]:
    return pipeline.call(tool, principal, arguments).payload


def _workdir(pipeline: Pipeline) -> Path:
    tenant = _call(pipeline, "ops", "get_tenant", tenant="acme")
    return pipeline.services.settings.data_dir / "terraform" / tenant["id"] / "local"


def _state_triggers(pipeline: Pipeline) -> dict[str, str]:
    state = json.loads((_workdir(pipeline) / "terraform.tfstate").read_text())
    return state["resources"][0]["instances"][0]["attributes"]["triggers"]


def _requested(pipeline: Pipeline) -> dict[str, Any]:
    pending = _call(pipeline, "ops", "change_plan", **MOVE)["error"]
    assert pending["code"] == "APPROVAL_REQUIRED", pending
    approval = _call(
        pipeline, "boss", "get_approval", approval_id=pending["details"]["approval_id"]
    )
    return approval["approval"]


def test_the_approved_saved_plan_is_the_one_applied(pipeline: Pipeline) -> None:
    preview = _call(pipeline, "ops", "change_plan", **MOVE, dry_run=True)
    approval = _requested(pipeline)
    effect = approval["effect"]
    planned = effect["details"]["terraform"]
    # The approver sees what Terraform will do: the tenant's resource replaced for bridge.
    assert planned["counts"] == {"add": 1, "change": 0, "destroy": 1}
    (resource,) = planned["resources"]
    assert (resource["address"], resource["actions"]) == (
        "null_resource.this",
        ["delete", "create"],
    )
    changed = {c["attribute"]: (c["before"], c["after"]) for c in resource["changed"]}
    assert changed["triggers.isolation"] == ("pooled", "bridge")
    assert changed["triggers.paybill_tier"] == ("free", "pro")
    assert changed["id"][1] == "(known after apply)"
    assert "Terraform: 1 to add, 0 to change, 1 to destroy" in effect["summary"]
    # Kept for the approval, private, under a name the run-end sweep leaves alone.
    kept = _workdir(pipeline) / planned["plan_file"]
    assert kept.name == f"approved-{planned['plan_sha256'][:16]}.tfplan"
    assert kept.stat().st_mode & 0o777 == 0o600
    assert file_sha256(kept) == planned["plan_sha256"]
    assert list(_workdir(pipeline).glob("*.tfplan")) == [kept]  # the dry run kept nothing
    # The dry run showed the same effect; only its (unkept) plan file differs.
    shown = preview["approval"]["effect"]
    assert preview["approval_required"] is True
    assert shown["details"]["terraform"]["plan_file"] is None
    approved_sha256 = planned["plan_sha256"]
    unkept = {**effect["details"], "terraform": {**planned, "plan_sha256": None, "plan_file": None}}
    shown["details"]["terraform"]["plan_sha256"] = None
    assert shown["details"] == unkept
    assert shown["summary"] == effect["summary"]

    decided = _call(
        pipeline,
        "boss",
        "decide_approval",
        approval_id=approval["id"],
        decision="approve",
        reason="move it",
    )
    assert decided["approval"]["status"] == "executed", decided
    Worker(pipeline.services).run_pending()
    run = _call(pipeline, "ops", "get_workflow", workflow_id=decided["result"]["workflow"]["id"])
    assert run["status"] == "succeeded", run
    provisioned = next(s for s in run["steps"] if s["name"] == "provision_target")["output"]
    assert provisioned["plan_sha256"] == approved_sha256
    assert provisioned["terraform"]["connection"]["isolation"] == "bridge"
    assert _state_triggers(pipeline)["isolation"] == "bridge"
    assert not list(_workdir(pipeline).glob("*.tfplan"))  # applied once, then removed


def test_infrastructure_drift_voids_the_approval_and_nothing_is_applied(
    pipeline: Pipeline,
) -> None:
    approval = _requested(pipeline)
    kept = _workdir(pipeline) / approval["effect"]["details"]["terraform"]["plan_file"]
    # Someone changes the infrastructure under Terraform: the recorded region moves.
    state_file = _workdir(pipeline) / "terraform.tfstate"
    state = json.loads(state_file.read_text())
    state["serial"] += 1
    state["resources"][0]["instances"][0]["attributes"]["triggers"]["region"] = "elsewhere"
    state_file.write_text(json.dumps(state))

    void = _call(
        pipeline,
        "boss",
        "decide_approval",
        approval_id=approval["id"],
        decision="approve",
        reason="move it",
    )["error"]
    assert void["code"] == "CONFLICT"
    assert "infrastructure drifted" in void["message"]
    assert "Nothing ran" in void["message"]
    shown = _call(pipeline, "boss", "get_approval", approval_id=approval["id"])["approval"]
    assert shown["status"] == "void"
    assert not kept.exists()  # a void approval's plan is never applied: removed at once
    # Nothing applied: same state, same plan, same storage, no run.
    assert _state_triggers(pipeline)["isolation"] == "pooled"
    tenant = _call(pipeline, "ops", "get_tenant", tenant="acme")
    assert (tenant["plan"], tenant["isolation"], tenant["state"]) == ("free", "pooled", "active")
    with pipeline.services.db.session() as session:
        kinds = session.scalars(
            select(WorkflowRun.kind).where(WorkflowRun.tenant_id == tenant["id"])
        )
        assert "isolation_migration" not in list(kinds)
        decisions = select(AuditEvent).where(AuditEvent.tool == "decide_approval")
        event = session.scalars(decisions.order_by(AuditEvent.id.desc())).first()
        assert (event.decision, event.error_code) == ("denied", "CONFLICT")


def test_a_plan_gone_stale_after_approval_fails_the_run_and_rolls_back(
    pipeline: Pipeline,
) -> None:
    approval = _requested(pipeline)
    decided = _call(
        pipeline,
        "boss",
        "decide_approval",
        approval_id=approval["id"],
        decision="approve",
        reason="move it",
    )
    assert decided["approval"]["status"] == "executed", decided
    # The state moves on after the decision, before the run applies the plan.
    state_file = _workdir(pipeline) / "terraform.tfstate"
    state = json.loads(state_file.read_text())
    state["serial"] += 1
    state_file.write_text(json.dumps(state))
    Worker(pipeline.services).run_pending()
    run = _call(pipeline, "ops", "get_workflow", workflow_id=decided["result"]["workflow"]["id"])
    assert run["status"] in ("failed", "compensated"), run
    assert "stale" in run["error"]["message"].lower()
    assert (
        next(s for s in run["steps"] if s["name"] == "provision_target")["output"]["rollback"][
            "rolled_back"
        ]
        is True
    )
    tenant = _call(pipeline, "ops", "get_tenant", tenant="acme")
    assert (tenant["plan"], tenant["isolation"], tenant["state"]) == ("free", "pooled", "active")
    assert _state_triggers(pipeline)["isolation"] == "pooled"
    assert not list(_workdir(pipeline).glob("*.tfplan"))


def test_a_plan_the_policy_refuses_is_never_shown_to_an_approver(pipeline: Pipeline) -> None:
    provisioner = pipeline.services.provisioner
    pro = provisioner.policy.tiers["pro"].model_copy(update={"allowed": frozenset({"aws_vpc"})})
    tiers = {**provisioner.policy.tiers, "pro": pro}
    provisioner.policy = provisioner.policy.model_copy(update={"tiers": tiers})
    refused = _call(pipeline, "ops", "change_plan", **MOVE)["error"]
    assert refused["code"] == "PROVISIONING_FAILED"
    assert "no approval was requested" in refused["message"]
    assert "null_resource.this: null_resource is not allowed for tier pro" in refused["message"]
    assert _call(pipeline, "boss", "list_approvals")["approvals"] == []
    assert not list(_workdir(pipeline).glob("*.tfplan"))


def test_a_kept_plan_lives_as_long_as_its_approval(pipeline: Pipeline) -> None:
    approval = _requested(pipeline)
    kept = _workdir(pipeline) / approval["effect"]["details"]["terraform"]["plan_file"]
    worker = Worker(pipeline.services)
    worker.sweep_stale_plans()
    assert kept.exists()  # pending: still to be applied
    _call(
        pipeline,
        "boss",
        "decide_approval",
        approval_id=approval["id"],
        decision="reject",
        reason="not now",
    )
    worker.sweep_stale_plans()
    assert not kept.exists()
