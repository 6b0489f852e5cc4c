"""Moving an AWS tenant to silo through ``change_plan`` and its approval, on PostgreSQL and
moto_server: the dry run, the pending approval and its rejection create no member account;
the approved run vends it once (its ``vend_account`` step), then Terraform plans in it (and
stops at ``init``: the aws provider cannot be installed offline)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from paybill.server.app import build_pipeline, build_services
from paybill.server.executors.terraform.cli import Terraform
from paybill.server.guards.pipeline import Pipeline
from paybill.server.workflows.engine.worker import Worker
from tests.support.terraform import terraform_services

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
MOVE = {"tenant": "cloudy", "plan": "enterprise"}
EMAIL = "paybill+cloudy@example.com"


@pytest.fixture
def pipeline(store_url: str, tmp_path: Path, terraform: Terraform, aws: str) -> Iterator[Pipeline]:
    """cloudy: a free (pooled) tenant on aws, its database objects made by the local
    provisioner (Terraform cannot apply the aws module offline)."""
    overrides = {"aws_endpoint_url": aws, "aws_account_email_domain": "example.com"}
    services = terraform_services(
        store_url, tmp_path / "data", terraform.binary, terraform, **overrides
    )
    local = build_services(services.settings.model_copy(update={"provisioner": "local"}))
    created = build_pipeline(local).call(
        "create_tenant",
        "ops",
        {"slug": "cloudy", "name": "Cloudy", "plan": "free", "cloud": "aws", "region": "eu-west-1"},
    )
    assert not created.is_error, created.payload
    Worker(local).run_pending()
    local.engines.dispose()
    local.db.dispose()
    yield build_pipeline(services)
    services.engines.dispose()
    services.db.dispose()


def _call(pipeline: Pipeline, principal: str, tool: str, **arguments: Any) -> dict[str, Any]:
    return pipeline.call(tool, principal, arguments).payload


def _accounts(endpoint: str) -> list[str]:
    org = boto3.client("organizations", endpoint_url=endpoint, region_name="us-east-1")
    return sorted(a["Email"] for a in org.list_accounts()["Accounts"])


def _requested(pipeline: Pipeline) -> dict[str, Any]:
    pending = _call(pipeline, "ops", "change_plan", **MOVE)["error"]
    assert pending["code"] == "APPROVAL_REQUIRED", pending
    approval_id = pending["details"]["approval_id"]
    return _call(pipeline, "boss", "get_approval", approval_id=approval_id)["approval"]


def _decide(pipeline: Pipeline, approval: dict[str, Any], decision: str) -> dict[str, Any]:
    return _call(
        pipeline,
        "boss",
        "decide_approval",
        approval_id=approval["id"],
        decision=decision,
        reason=f"{decision} the move",
    )


def test_no_account_exists_before_the_move_is_approved_and_one_after(
    pipeline: Pipeline, aws: str
) -> None:
    before = _accounts(aws)

    preview = _call(pipeline, "ops", "change_plan", **MOVE, dry_run=True)
    rejected = _requested(pipeline)
    assert _accounts(aws) == before  # dry run and pending approval: ListAccounts unchanged
    assert _decide(pipeline, rejected, "reject")["approval"]["status"] == "rejected"
    assert _accounts(aws) == before  # the rejection leaves nothing behind

    approval = _requested(pipeline)
    effect = approval["effect"]
    bound = effect["details"]["terraform"]["vend_first"]
    assert bound["account"]["account_email"] == EMAIL
    assert effect["details"]["terraform"]["plan_file"] is None
    assert (
        "planned after approval, once the aws account paybill-cloudy is created"
        in (effect["summary"])
    )
    assert preview["approval"]["effect"]["sha256"] == approval["effect_hash"]  # nothing stamped
    assert _accounts(aws) == before

    decided = _decide(pipeline, approval, "approve")
    assert decided["approval"]["status"] == "executed", decided
    Worker(pipeline.services).run_pending()

    run_id = decided["result"]["workflow"]["id"]
    run = _call(pipeline, "ops", "get_workflow", workflow_id=run_id)
    steps = {s["name"]: s for s in run["steps"]}
    vended = steps["vend_account"]
    assert vended["status"] == "succeeded", run
    assert vended["output"]["cloud_account"]["account_email"] == EMAIL
    assert "created account" in vended["output"]["cloud_account"]["changes"]
    assert _accounts(aws) == sorted([*before, EMAIL])  # vended once, after the approval
    # Then Terraform ran in it: it stops at init offline, and the move rolls back.
    assert steps["provision_target"]["status"] == "failed"
    assert "terraform init failed" in run["error"]["message"]
