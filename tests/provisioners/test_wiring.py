"""TerraformProvisioner vends a silo tenant's cloud account before Terraform runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from paybill.server.dataplane.credentials import TenantCredentials
from paybill.server.dataplane.engines import Engines
from paybill.server.domain import CloudTarget, Isolation
from paybill.server.errors import ProvisioningFailed
from paybill.server.provisioners.aws_vending import AwsAccountVendor
from paybill.server.provisioners.gcp_projects import GcpProjectVendor
from paybill.server.provisioners.plan_policy import load_plan_policy
from paybill.server.provisioners.terraform import Terraform
from paybill.server.provisioners.terraform_provisioner import TerraformProvisioner
from paybill.server.provisioners.vending import vendors_from
from paybill.server.settings import Settings
from tests.provisioners.conftest import reset_moto, silo_tenant

TENANT = silo_tenant(CloudTarget.AWS)


@pytest.fixture
def provisioner(aws: str, tmp_path: Path, terraform: Terraform) -> Iterator[TerraformProvisioner]:
    engines = Engines(f"sqlite:///{tmp_path / 'store.db'}", TenantCredentials(tmp_path))
    vendor = AwsAccountVendor(email_domain="example.com", endpoint_url=aws)
    yield TerraformProvisioner(tmp_path, engines, terraform, load_plan_policy(None), [vendor])
    engines.dispose()


def _member_accounts(endpoint: str) -> list[str]:
    org = boto3.client("organizations", endpoint_url=endpoint, region_name="us-east-1")
    return [
        a["Email"] for a in org.list_accounts()["Accounts"] if a["Email"].startswith("paybill+")
    ]


def test_a_silo_tenant_on_aws_is_vended_before_terraform_runs(
    provisioner: TerraformProvisioner, aws: str
) -> None:
    steps: list[str] = []

    # The aws provider cannot be installed offline, so Terraform fails after the vending.
    with pytest.raises(ProvisioningFailed, match="terraform init failed"):
        provisioner.provision(TENANT, progress=steps.append)

    assert _member_accounts(aws) == ["paybill+acme@example.com"]
    assert steps[:2] == ["aws account", "terraform init"]


def test_other_isolation_models_get_no_account(provisioner: TerraformProvisioner, aws: str) -> None:
    pooled = dataclasses.replace(TENANT, isolation=Isolation.POOLED)

    with pytest.raises(ProvisioningFailed, match="terraform init failed"):
        provisioner.provision(pooled)

    assert _member_accounts(aws) == []


def test_a_failed_vending_stops_before_terraform(
    provisioner: TerraformProvisioner, tmp_path: Path, moto_endpoint: str
) -> None:
    reset_moto(moto_endpoint)  # no organisation any more

    with pytest.raises(ProvisioningFailed, match="AWSOrganizationsNotInUseException"):
        provisioner.provision(TENANT)

    assert not (tmp_path / "terraform").exists()


def test_vendors_are_built_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYBILL_AWS_ACCOUNT_EMAIL_DOMAIN", "corp.example")
    monkeypatch.setenv("PAYBILL_AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    monkeypatch.setenv("PAYBILL_GCP_PARENT", "folders/42")
    monkeypatch.setenv("PAYBILL_GCP_ENDPOINT", "http://127.0.0.1:6000")

    aws, gcp = vendors_from(Settings())

    assert isinstance(aws, AwsAccountVendor) and isinstance(gcp, GcpProjectVendor)
    assert (aws.email_domain, aws.endpoint_url) == ("corp.example", "http://127.0.0.1:5000")
    assert (gcp.parent, gcp.endpoint) == ("folders/42", "http://127.0.0.1:6000")
