"""TerraformProvisioner vends a silo tenant's cloud account before Terraform runs."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from paybill.server.app import cloud_vendors
from paybill.server.core.errors import ProvisioningFailed
from paybill.server.core.settings import Settings
from paybill.server.core.vocabulary import CloudTarget, Isolation
from paybill.server.executors.clouds.aws import AwsAccountVendor
from paybill.server.executors.clouds.gcp import GcpProjectVendor
from paybill.server.executors.dataplane.credentials import TenantCredentials
from paybill.server.executors.dataplane.engines import Engines
from paybill.server.executors.terraform.cli import Terraform
from paybill.server.executors.terraform.plan_policy import load_plan_policy
from paybill.server.executors.terraform.provisioner import TerraformProvisioner
from tests.support.clouds import reset_moto, silo_tenant

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

    aws, gcp = (vendor.resolve() for vendor in cloud_vendors(Settings()))

    assert isinstance(aws, AwsAccountVendor) and isinstance(gcp, GcpProjectVendor)
    assert (aws.email_domain, aws.endpoint_url) == ("corp.example", "http://127.0.0.1:5000")
    assert (gcp.parent, gcp.endpoint) == ("folders/42", "http://127.0.0.1:6000")


@pytest.mark.parametrize(
    ("cloud", "module", "sdk"), [("aws", "aws", "boto3"), ("gcp", "gcp", "google")]
)
def test_a_missing_cloud_sdk_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, cloud: str, module: str, sdk: str
) -> None:
    monkeypatch.delitem(sys.modules, f"paybill.server.executors.clouds.{module}", raising=False)
    monkeypatch.setitem(sys.modules, sdk, None)  # `import boto3` now fails as if not installed
    vendor = next(v for v in cloud_vendors(Settings()) if v.cloud == cloud)

    with pytest.raises(ProvisioningFailed, match=rf"pip install 'paybill\[{cloud}\]'"):
        vendor.vend(TENANT)
