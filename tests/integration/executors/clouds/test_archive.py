"""Archiving a cloud tenant (offboarding): an AWS silo tenant's RDS instance is snapshotted
and stopped in its member account (moto_server); targets that cannot archive refuse."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.core.vocabulary import CloudTarget, Isolation
from paybill.server.executors.clouds.aws import AwsAccountVendor
from paybill.server.executors.dataplane.credentials import TenantCredentials
from paybill.server.executors.dataplane.engines import Engines
from paybill.server.executors.terraform.cli import Terraform
from paybill.server.executors.terraform.plan_policy import load_plan_policy
from paybill.server.executors.terraform.provisioner import TerraformProvisioner
from tests.support.clouds import silo_tenant

TENANT = silo_tenant(CloudTarget.AWS)


@pytest.fixture
def provisioner(aws: str, tmp_path: Path) -> Iterator[TerraformProvisioner]:
    engines = Engines(f"sqlite:///{tmp_path / 'store.db'}", TenantCredentials(tmp_path))
    vendor = AwsAccountVendor(email_domain="example.com", endpoint_url=aws, poll_seconds=0)
    terraform = Terraform("terraform")  # never run: archiving does not use Terraform
    yield TerraformProvisioner(tmp_path, engines, terraform, load_plan_policy(None), [vendor])
    engines.dispose()


def _member_rds(endpoint: str, account_id: str) -> Any:
    sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1")
    role = f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole"
    credentials = sts.assume_role(RoleArn=role, RoleSessionName="test")["Credentials"]
    return boto3.client(
        "rds",
        endpoint_url=endpoint,
        region_name=TENANT.region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def test_an_aws_silo_tenants_database_is_snapshotted_and_stopped_in_its_account(
    provisioner: TerraformProvisioner, aws: str
) -> None:
    vendor = AwsAccountVendor(email_domain="example.com", endpoint_url=aws, poll_seconds=0)
    account_id = vendor.vend(TENANT)["account_id"]
    rds = _member_rds(aws, account_id)
    # What the aws module creates for a silo tenant (Terraform cannot run offline).
    rds.create_db_instance(
        DBInstanceIdentifier="paybill-acme",
        Engine="postgres",
        DBInstanceClass="db.t4g.medium",
        AllocatedStorage=20,
        MasterUsername="paybill",
        MasterUserPassword="moto-only-password",
    )

    first = provisioner.archive(TENANT)["archive"]
    again = provisioner.archive(TENANT)["archive"]

    (instance,) = rds.describe_db_instances(DBInstanceIdentifier="paybill-acme")["DBInstances"]
    manual = rds.describe_db_snapshots(DBInstanceIdentifier="paybill-acme", SnapshotType="manual")
    snapshots = manual["DBSnapshots"]
    assert instance["DBInstanceStatus"] == "stopped"
    assert [s["DBSnapshotIdentifier"] for s in snapshots] == ["paybill-acme-archive"]
    assert (first["account_id"], first["changes"], again["changes"]) == (
        account_id,
        ["snapshot and stop"],
        [],
    )
    # Nothing of the tenant's in the management account.
    management = boto3.client("rds", endpoint_url=aws, region_name=TENANT.region)
    assert management.describe_db_instances()["DBInstances"] == []


def test_archiving_without_an_account_or_instance_refuses(
    provisioner: TerraformProvisioner, aws: str
) -> None:
    with pytest.raises(ProvisioningFailed, match="No AWS member account"):
        provisioner.archive(TENANT)

    AwsAccountVendor(email_domain="example.com", endpoint_url=aws).vend(TENANT)
    with pytest.raises(ProvisioningFailed, match="DBInstanceNotFound"):
        provisioner.archive(TENANT)


@pytest.mark.parametrize(
    "tenant",
    [
        dataclasses.replace(TENANT, isolation=Isolation.POOLED),
        dataclasses.replace(TENANT, cloud=CloudTarget.GCP),
        dataclasses.replace(TENANT, cloud=CloudTarget.OCI),
    ],
    ids=["aws-pooled", "gcp-silo", "oci-silo"],
)
def test_targets_that_cannot_archive_refuse_and_change_nothing(
    provisioner: TerraformProvisioner, tenant: Any, aws: str
) -> None:
    with pytest.raises(ProvisioningFailed, match="is not supported yet; nothing was changed"):
        provisioner.archive(tenant)

    org = boto3.client("organizations", endpoint_url=aws, region_name="us-east-1")
    assert len(org.list_accounts()["Accounts"]) == 1  # the management account only
