"""Planning a move for an approval creates no cloud account (moto_server, the GCP stand-in):
the vendors only look the account up, and when it is missing the approval binds what will be
created instead of a plan; after the approval the account is vended once, then Terraform
runs (it stops at ``init`` here: the cloud providers cannot be installed offline)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.core.vocabulary import CloudTarget
from paybill.server.executors.clouds.aws import AwsAccountVendor
from paybill.server.executors.clouds.gcp import GcpProjectVendor
from paybill.server.executors.clouds.vending import CloudAccountVendor
from paybill.server.executors.dataplane.credentials import TenantCredentials
from paybill.server.executors.dataplane.engines import Engines
from paybill.server.executors.terraform.cli import Terraform
from paybill.server.executors.terraform.plan_policy import load_plan_policy
from paybill.server.executors.terraform.provisioner import TerraformProvisioner
from paybill.server.executors.terraform.vend_first import module_sha256
from tests.support.clouds import silo_tenant
from tests.support.gcp_standin import ResourceManagerStandIn

PLATFORM = {"gcp_shared_project": "pb-platform-shared"}
AWS_TENANT = silo_tenant(CloudTarget.AWS)
GCP_TENANT = silo_tenant(CloudTarget.GCP)


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[Engines]:
    engines = Engines(f"sqlite:///{tmp_path / 'store.db'}", TenantCredentials(tmp_path))
    yield engines
    engines.dispose()


def _provisioner(
    tmp_path: Path, engines: Engines, terraform: Terraform, vendor: CloudAccountVendor
) -> TerraformProvisioner:
    policy = load_plan_policy(None)
    return TerraformProvisioner(tmp_path, engines, terraform, policy, [vendor], platform=PLATFORM)


def _aws_vendor(endpoint: str, domain: str = "example.com") -> AwsAccountVendor:
    return AwsAccountVendor(email_domain=domain, endpoint_url=endpoint, poll_seconds=0)


def _accounts(endpoint: str) -> list[str]:
    org = boto3.client("organizations", endpoint_url=endpoint, region_name="us-east-1")
    return sorted(a["Email"] for a in org.list_accounts()["Accounts"])


def test_planning_an_aws_silo_move_creates_no_account_and_binds_the_one_to_create(
    aws: str, tmp_path: Path, engines: Engines, terraform: Terraform
) -> None:
    provisioner = _provisioner(tmp_path, engines, terraform, _aws_vendor(aws))
    before = _accounts(aws)

    for keep in (False, True):  # a dry run, then the pending approval's plan
        saved = provisioner.plan_saved(AWS_TENANT, keep=keep)
        assert saved.file is None
    assert _accounts(aws) == before  # ListAccounts unchanged: the management account only

    bound = saved.summary["vend_first"]
    assert (saved.summary["plan_file"], saved.summary["counts"]) == (None, None)
    assert bound["account"] == {
        "cloud": "aws",
        "account_name": "paybill-acme",
        "account_email": "paybill+acme@example.com",
        "parent": "the organisation's root",
        "access_role": "OrganizationAccountAccessRole",
        "role_name": "paybill-tenant-acme",
        "tags": {
            "paybill_tenant_id": AWS_TENANT.id,
            "paybill_tier": "enterprise",
            "paybill_slug": "acme",
        },
    }
    assert bound["module"] == {"path": "terraform_modules/aws", "sha256": module_sha256("aws")}
    assert "account" not in bound["variables"]
    assert (bound["variables"]["isolation"], bound["variables"]["platform"]) == ("silo", PLATFORM)
    assert not (provisioner.root / AWS_TENANT.id).exists()  # no workspace, no plan file


def test_after_approval_the_account_is_vended_once_then_terraform_plans_in_it(
    aws: str, tmp_path: Path, engines: Engines, terraform: Terraform
) -> None:
    provisioner = _provisioner(tmp_path, engines, terraform, _aws_vendor(aws))
    bound = provisioner.plan_saved(AWS_TENANT, keep=True).summary["vend_first"]
    steps: list[str] = []

    vended = provisioner.vend_approved(AWS_TENANT, bound, progress=steps.append)
    again = provisioner.vend_approved(AWS_TENANT, bound)  # a resumed step
    # The aws provider cannot be installed offline: Terraform fails after the vending.
    with pytest.raises(ProvisioningFailed, match="terraform init failed"):
        provisioner.provision_vended(AWS_TENANT, bound, progress=steps.append)

    account = vended["cloud_account"]
    assert "created account" in account["changes"] and again["cloud_account"]["changes"] == []
    assert _accounts(aws).count("paybill+acme@example.com") == 1
    assert steps == ["aws account", "aws account", "terraform init"]
    tfvars = provisioner.root / AWS_TENANT.id / "aws" / "paybill.auto.tfvars.json"
    assert f'"id": "{account["account_id"]}"' in tfvars.read_text()
    # Once the account exists, planning for an approval plans in it (and creates nothing).
    with pytest.raises(ProvisioningFailed, match="terraform init failed"):
        provisioner.plan_saved(AWS_TENANT, keep=True)
    assert _accounts(aws).count("paybill+acme@example.com") == 1


def test_a_binding_that_no_longer_holds_vends_nothing(
    aws: str, tmp_path: Path, engines: Engines, terraform: Terraform
) -> None:
    approved = _provisioner(tmp_path, engines, terraform, _aws_vendor(aws))
    bound = approved.plan_saved(AWS_TENANT, keep=True).summary["vend_first"]
    before = _accounts(aws)
    # The vendor's settings changed between the approval and the run.
    changed = _provisioner(tmp_path, engines, terraform, _aws_vendor(aws, "other.example"))
    tampered: dict[str, Any] = {**bound, "module": {**bound["module"], "sha256": "0" * 64}}

    with pytest.raises(ProvisioningFailed, match="account to vend is not the approved one"):
        changed.vend_approved(AWS_TENANT, bound)
    with pytest.raises(ProvisioningFailed, match="module changed since the approval"):
        approved.vend_approved(AWS_TENANT, tampered)
    replatformed = TerraformProvisioner(
        tmp_path,
        engines,
        terraform,
        load_plan_policy(None),
        [_aws_vendor(aws)],
        platform={**PLATFORM, "aws_shared_db_instance": "another"},
    )
    with pytest.raises(ProvisioningFailed, match=r"inputs .* changed since the approval"):
        replatformed.provision_vended(AWS_TENANT, bound)

    assert _accounts(aws) == before


def test_an_account_of_another_tenant_refuses_the_lookup(
    aws: str, tmp_path: Path, engines: Engines, terraform: Terraform
) -> None:
    vendor = _aws_vendor(aws)
    vendor.vend(silo_tenant(CloudTarget.AWS, tenant_id="9f8e7d6c-1111-4222-8333-444455556666"))
    provisioner = _provisioner(tmp_path, engines, terraform, vendor)

    with pytest.raises(ProvisioningFailed, match="belongs to another tenant"):
        provisioner.plan_saved(AWS_TENANT, keep=False)


def test_planning_a_gcp_silo_move_creates_no_project(
    gcp: ResourceManagerStandIn, tmp_path: Path, engines: Engines, terraform: Terraform
) -> None:
    vendor = GcpProjectVendor(parent="folders/42", endpoint=gcp.endpoint, poll_seconds=0.05)
    provisioner = _provisioner(tmp_path, engines, terraform, vendor)

    saved = provisioner.plan_saved(GCP_TENANT, keep=True)

    assert gcp.state.projects == {} and gcp.state.calls("POST") == []
    bound = saved.summary["vend_first"]
    assert bound["account"]["parent"] == "folders/42"
    assert bound["account"]["project_id"].startswith("pb-acme-")
    assert bound["module"]["path"] == "terraform_modules/gcp"

    provisioner.vend_approved(GCP_TENANT, bound)
    with pytest.raises(ProvisioningFailed, match="terraform init failed"):
        provisioner.provision_vended(GCP_TENANT, bound)
    assert list(gcp.state.projects) == [bound["account"]["project_id"]]
    assert len(gcp.state.calls("POST")) == 1  # created once


def test_deleting_a_silo_tenant_whose_account_is_gone_creates_none(
    aws: str, tmp_path: Path, engines: Engines, terraform: Terraform
) -> None:
    provisioner = _provisioner(tmp_path, engines, terraform, _aws_vendor(aws))
    before = _accounts(aws)

    with pytest.raises(ProvisioningFailed, match="cannot destroy in it; nothing was changed"):
        provisioner.destroy(AWS_TENANT)

    assert _accounts(aws) == before
