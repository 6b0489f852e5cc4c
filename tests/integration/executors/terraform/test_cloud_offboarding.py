"""Deleting a cloud tenant: one offboarding apply lifts its data stores' deletion protection,
then the destroy runs; both through the plan policy. Terraform is a recording stand-in here
(the cloud providers cannot be installed offline)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.core.vocabulary import CloudTarget
from paybill.server.executors.dataplane.credentials import TenantCredentials
from paybill.server.executors.dataplane.engines import Engines
from paybill.server.executors.terraform.cli import Terraform
from paybill.server.executors.terraform.plan_policy import load_plan_policy
from paybill.server.executors.terraform.provisioner import TerraformProvisioner
from tests.support.clouds import silo_tenant

TENANT = silo_tenant(CloudTarget.AZURE)  # no vendor for Azure: nothing else is called
TAGS = {"paybill_tenant_id": TENANT.id, "paybill_tier": "enterprise"}


@dataclasses.dataclass(frozen=True)
class RecordingTerraform(Terraform):
    """Answers like Terraform; records each plan with the variables it was made with."""

    plans: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    changes: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def run(self, workdir: Path, *args: str) -> str:
        if args[0] == "plan":
            variables = json.loads((workdir / "paybill.auto.tfvars.json").read_text())
            self.plans.append({"destroy": "-destroy" in args, **variables})
        if args[0] == "show":
            return json.dumps({"resource_changes": self.changes})
        if args[0] == "output":
            return "{}"
        return ""


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[Engines]:
    engines = Engines(f"sqlite:///{tmp_path / 'store.db'}", TenantCredentials(tmp_path))
    yield engines
    engines.dispose()


def test_a_cloud_tenants_deletion_lifts_protection_then_destroys(
    tmp_path: Path, engines: Engines
) -> None:
    terraform = RecordingTerraform("terraform")
    provisioner = TerraformProvisioner(tmp_path, engines, terraform, load_plan_policy(None))
    steps: list[str] = []

    assert provisioner.destroy(TENANT, progress=steps.append)["terraform"] == "destroyed"

    assert [(p["destroy"], p["deletion_protection"]) for p in terraform.plans] == [
        (False, False),
        (True, False),
    ]
    assert "lift deletion protection" in steps


def test_lifting_protection_is_checked_by_the_plan_policy(tmp_path: Path, engines: Engines) -> None:
    # A plan that also creates something the tier does not allow is refused, protection or not.
    terraform = RecordingTerraform("terraform")
    terraform.changes.append(
        {
            "type": "aws_instance",
            "address": "aws_instance.x",
            "change": {"actions": ["create"], "before": None, "after": {"tags": TAGS}},
        }
    )
    provisioner = TerraformProvisioner(tmp_path, engines, terraform, load_plan_policy(None))

    with pytest.raises(ProvisioningFailed, match="aws_instance is not allowed"):
        provisioner.destroy(TENANT)

    assert [p["destroy"] for p in terraform.plans] == [False]  # no destroy after a refusal
