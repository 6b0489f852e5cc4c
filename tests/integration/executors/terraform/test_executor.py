"""Real terraform runs of the local module: apply, outputs, idempotence, policy, errors."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.core.vocabulary import CloudTarget, Isolation
from paybill.server.executors.provisioner import TenantFacts
from paybill.server.executors.terraform.cli import TenantWorkspace, Terraform, run_module
from paybill.server.executors.terraform.plan_policy import load_plan_policy

POLICY = load_plan_policy()
TIERS = {Isolation.POOLED: 0, Isolation.BRIDGE: 1, Isolation.SILO: 2}


def _facts(isolation: Isolation) -> TenantFacts:
    return TenantFacts(
        id=str(uuid.uuid4()),
        slug=f"t-{isolation.value}",
        plan="p",
        tier=TIERS[isolation],
        isolation=isolation,
        cloud=CloudTarget.LOCAL,
        region="local",
    )


def _state_resources(workspace: TenantWorkspace) -> list[str]:
    state = workspace.path / "terraform.tfstate"
    if not state.exists():
        return []
    return [r["type"] for r in json.loads(state.read_text()).get("resources", [])]


@pytest.mark.parametrize("isolation", list(Isolation))
def test_apply_rerun_and_destroy(
    terraform: Terraform, tmp_path: Path, isolation: Isolation
) -> None:
    facts = _facts(isolation)
    workspace = TenantWorkspace(tmp_path, facts)
    steps: list[str] = []
    outputs = run_module(terraform, workspace, POLICY, progress=steps.append)
    assert steps == ["terraform init", "terraform plan", "policy check", "terraform apply"]
    assert outputs["connection"]["isolation"] == isolation.value
    assert outputs["connection"]["role"] == f"pb_t_{facts.id.replace('-', '')}"
    assert _state_resources(workspace) == ["null_resource"]
    again = run_module(terraform, workspace, POLICY)  # converges: nothing to change
    assert again == outputs
    assert _state_resources(workspace) == ["null_resource"]
    assert run_module(terraform, workspace, POLICY, destroy=True) == {}
    assert _state_resources(workspace) == []


def test_policy_rejects_a_bad_plan_before_apply(terraform: Terraform, tmp_path: Path) -> None:
    facts = _facts(Isolation.POOLED)
    workspace = TenantWorkspace(tmp_path, facts)
    workspace.prepare()
    # A module edit that adds untagged resources beyond the free tier's allowance.
    (workspace.path / "extra.tf").write_text('resource "null_resource" "extra" {\n  count = 2\n}\n')
    original = TenantWorkspace.prepare
    try:
        TenantWorkspace.prepare = lambda self: self.path  # keep the edited module
        with pytest.raises(ProvisioningFailed) as refused:
            run_module(terraform, workspace, POLICY)
    finally:
        TenantWorkspace.prepare = original
    violations = refused.value.details["violations"]
    assert any("missing tenant tags" in v for v in violations)
    assert any("creates 3 resources; tier free allows 2" in v for v in violations)
    assert _state_resources(workspace) == []  # nothing was applied


def test_terraform_errors_are_summarised(terraform: Terraform, tmp_path: Path) -> None:
    facts = _facts(Isolation.POOLED)
    bad = TenantFacts(**{**facts.__dict__, "slug": "Not A Slug!"})
    with pytest.raises(ProvisioningFailed) as failed:
        run_module(terraform, TenantWorkspace(tmp_path, bad), POLICY)
    message = failed.value.message
    assert message.startswith("terraform plan failed: Invalid value for variable")
    assert len(message) < 400 and "\n" not in message


def test_missing_binary_is_a_clear_error() -> None:
    with pytest.raises(ProvisioningFailed, match="PAYBILL_TERRAFORM_BIN"):
        Terraform.locate("no-such-terraform-binary", None)


def test_an_unknown_tier_runs_nothing(terraform: Terraform, tmp_path: Path) -> None:
    """Fail closed: a plan tier with no Terraform tier never borrows another's limits."""
    facts = TenantFacts(**{**_facts(Isolation.SILO).__dict__, "tier": 7})
    workspace = TenantWorkspace(tmp_path, facts)
    with pytest.raises(ProvisioningFailed, match="Plan tier 7 has no Terraform tier"):
        run_module(terraform, workspace, POLICY)
    assert _state_resources(workspace) == []
