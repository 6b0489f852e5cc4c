"""End to end, offline: what a silo tenant's vending produces is what its Terraform run
would act as. AWS: moto_server's organisation, STS and IAM; GCP: the Resource Manager
stand-in. Terraform itself stops at ``init`` (the cloud providers cannot be installed
offline), after the workspace's variables are written; the module's own identity logic then
turns them into the role Terraform would assume (tests.support.module_logic)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import hcl2
import pytest

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.core.vocabulary import CloudTarget, Isolation
from paybill.server.executors.clouds.aws import AwsAccountVendor
from paybill.server.executors.clouds.gcp import GcpProjectVendor
from paybill.server.executors.clouds.vending import CloudAccountVendor
from paybill.server.executors.dataplane.credentials import TenantCredentials
from paybill.server.executors.dataplane.engines import Engines
from paybill.server.executors.provisioner import TenantFacts
from paybill.server.executors.terraform.cli import Terraform, modules_root
from paybill.server.executors.terraform.plan_policy import load_plan_policy
from paybill.server.executors.terraform.provisioner import TerraformProvisioner
from tests.support.clouds import silo_tenant
from tests.support.gcp_standin import ResourceManagerStandIn
from tests.support.module_logic import ModuleLogic

PLATFORM = {"gcp_shared_project": "pb-platform-shared"}


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


def _provision_until_init(provisioner: TerraformProvisioner, tenant: TenantFacts) -> dict[str, Any]:
    """Provision ``tenant`` (vending runs for real; Terraform stops at ``init``, its provider
    missing) and return the variables written for the run."""
    with pytest.raises(ProvisioningFailed, match="terraform init failed"):
        provisioner.provision(tenant)
    tfvars = provisioner.root / tenant.id / tenant.cloud.value / "paybill.auto.tfvars.json"
    values: dict[str, Any] = json.loads(tfvars.read_text())
    return values


def test_an_aws_silo_tenants_terraform_acts_inside_its_member_account(
    aws: str, tmp_path: Path, engines: Engines, terraform: Terraform
) -> None:
    vendor = AwsAccountVendor(email_domain="example.com", endpoint_url=aws, poll_seconds=0)
    tenant = silo_tenant(CloudTarget.AWS)
    sts = boto3.client("sts", endpoint_url=aws, region_name="us-east-1")
    management = sts.get_caller_identity()["Account"]

    values = _provision_until_init(_provisioner(tmp_path, engines, terraform, vendor), tenant)

    org = boto3.client("organizations", endpoint_url=aws, region_name="us-east-1")
    (member,) = [a["Id"] for a in org.list_accounts()["Accounts"] if a["Name"] == "paybill-acme"]
    assert values["account"]["id"] == member != management
    # The role the aws provider block assumes, as the module computes it from the variables.
    logic = ModuleLogic(terraform, "aws", tmp_path / "logic")
    assert logic.problem(values) is None
    role_arn = logic.value(values, "local.assume_role_arn")
    assert role_arn == f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole"
    # Assume it with the management credentials, as the provider would, and ask STS who we are.
    session = sts.assume_role(RoleArn=role_arn, RoleSessionName="paybill-acme")["Credentials"]
    as_terraform = boto3.client(
        "sts",
        endpoint_url=aws,
        region_name="us-east-1",
        aws_access_key_id=session["AccessKeyId"],
        aws_secret_access_key=session["SecretAccessKey"],
        aws_session_token=session["SessionToken"],
    )
    identity = as_terraform.get_caller_identity()
    assert identity["Account"] == member
    assert ":assumed-role/OrganizationAccountAccessRole/paybill-acme" in identity["Arn"]


def test_an_aws_pooled_tenant_gets_no_account_and_the_platform_ids(
    aws: str, tmp_path: Path, engines: Engines, terraform: Terraform
) -> None:
    vendor = AwsAccountVendor(email_domain="example.com", endpoint_url=aws, poll_seconds=0)
    pooled = dataclasses.replace(silo_tenant(CloudTarget.AWS), isolation=Isolation.POOLED)

    values = _provision_until_init(_provisioner(tmp_path, engines, terraform, vendor), pooled)

    assert (values["account"], values["platform"]) == ({}, PLATFORM)


def test_gcp_sees_exactly_one_project_per_silo_tenant(
    gcp: ResourceManagerStandIn, tmp_path: Path, engines: Engines, terraform: Terraform
) -> None:
    vendor = GcpProjectVendor(parent="folders/42", endpoint=gcp.endpoint, poll_seconds=0.05)
    provisioner = _provisioner(tmp_path, engines, terraform, vendor)
    acme = silo_tenant(CloudTarget.GCP)
    globex = silo_tenant(CloudTarget.GCP, "globex", "9f8e7d6c-1111-4222-8333-444455556666")

    runs = [_provision_until_init(provisioner, t) for t in (acme, globex, acme)]

    owners = {p["projectId"]: p["labels"]["paybill_tenant_id"] for p in gcp.state.projects.values()}
    assert sorted(owners.values()) == sorted([acme.id, globex.id])
    assert [run["account"]["project_id"] for run in runs] == [
        next(p for p, owner in owners.items() if owner == t.id) for t in (acme, globex, acme)
    ]
    # ...and the module puts the tenant's resources in that project and creates none itself.
    logic = ModuleLogic(terraform, "gcp", tmp_path / "logic")
    assert logic.value(runs[0], "local.project") == runs[0]["account"]["project_id"]
    resources = [
        kind
        for path in (modules_root() / "gcp").glob("*.tf")
        for block in hcl2.loads(path.read_text()).get("resource", [])
        for kind in block
    ]
    assert resources and not [kind for kind in resources if "project" in kind.strip('"')]
