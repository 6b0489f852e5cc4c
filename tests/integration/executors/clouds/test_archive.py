"""Archiving a cloud tenant (offboarding): an AWS silo tenant's RDS instance is snapshotted
and stopped in its member account (moto_server); a GCP silo tenant's Cloud SQL instance is
backed up and stopped in its project (the stand-in); targets that cannot archive refuse."""

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
from paybill.server.executors.clouds.gcp import GcpProjectVendor
from paybill.server.executors.dataplane.credentials import TenantCredentials
from paybill.server.executors.dataplane.engines import Engines
from paybill.server.executors.terraform.cli import Terraform
from paybill.server.executors.terraform.plan_policy import load_plan_policy
from paybill.server.executors.terraform.provisioner import TerraformProvisioner
from tests.support.clouds import silo_tenant
from tests.support.gcp_standin import ResourceManagerStandIn

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

    assert provisioner.archive_does(TENANT).startswith("snapshots its RDS instance paybill-acme")
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


HEX = TENANT.id.replace("-", "")
WORKSPACE = f"terraform/{TENANT.id}"


@pytest.mark.parametrize(
    ("tenant", "where", "by_hand"),
    [
        (
            dataclasses.replace(TENANT, isolation=Isolation.POOLED),
            "the shared RDS instance paybill-shared-eu-west-1",
            f'REVOKE INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "tenant_pool" FROM pb_t_{HEX}',
        ),
        (
            dataclasses.replace(TENANT, isolation=Isolation.BRIDGE, cloud=CloudTarget.GCP),
            "the shared Cloud SQL instance paybill-shared-eu-west-1 in project",
            f"ALTER DATABASE t_{HEX} SET default_transaction_read_only = on",
        ),
        (
            dataclasses.replace(TENANT, cloud=CloudTarget.OCI),
            "its DB system paybill-acme (compartment paybill-acme)",
            "take a backup of its DB system paybill-acme (compartment paybill-acme), then stop it",
        ),
    ],
    ids=["aws-pooled", "gcp-bridge", "oci-silo"],
)
def test_targets_that_cannot_archive_refuse_say_what_to_do_and_change_nothing(
    provisioner: TerraformProvisioner, tenant: Any, where: str, by_hand: str, aws: str
) -> None:
    with pytest.raises(ProvisioningFailed) as refused:
        provisioner.archive(tenant)

    message = refused.value.message
    assert f"its data is in {where}" in message and "Nothing was changed" in message
    assert by_hand in message
    assert f"`terraform destroy` in <data dir>/{WORKSPACE}/{tenant.cloud.value}" in message
    assert provisioner.archive_does(tenant).startswith("nothing: archiving is not supported")
    org = boto3.client("organizations", endpoint_url=aws, region_name="us-east-1")
    assert len(org.list_accounts()["Accounts"]) == 1  # the management account only


def _gcp_provisioner(
    gcp: ResourceManagerStandIn, tmp_path: Path
) -> tuple[GcpProjectVendor, TerraformProvisioner]:
    vendor = GcpProjectVendor(
        parent="folders/42", endpoint=gcp.endpoint, sql_endpoint=gcp.endpoint, poll_seconds=0.01
    )
    engines = Engines(f"sqlite:///{tmp_path / 'store.db'}", TenantCredentials(tmp_path))
    terraform = Terraform("terraform")  # never run: archiving does not use Terraform
    return vendor, TerraformProvisioner(
        tmp_path, engines, terraform, load_plan_policy(None), [vendor]
    )


def test_a_gcp_silo_tenants_cloud_sql_is_backed_up_then_stopped_in_its_project(
    gcp: ResourceManagerStandIn, tmp_path: Path
) -> None:
    tenant = silo_tenant(CloudTarget.GCP)
    vendor, provisioner = _gcp_provisioner(gcp, tmp_path)
    project = vendor.vend(tenant)["project_id"]
    instance = gcp.state.add_sql_instance(project, "paybill-acme")  # what the gcp module makes

    first = provisioner.archive(tenant)["archive"]
    again = provisioner.archive(tenant)["archive"]

    assert instance["settings"]["activationPolicy"] == "NEVER"
    runs = gcp.state.backup_runs[f"{project}/paybill-acme"]
    assert [(r["description"], r["status"]) for r in runs] == [("paybill-archive", "SUCCESSFUL")]
    assert (first["project_id"], first["changes"], again["changes"]) == (
        project,
        ["backup", "stop"],
        [],
    )
    # Backed up while it ran, then stopped: Cloud SQL backs up running instances only.
    writes = [(r.method, r.path) for r in gcp.state.requests if r.method in ("POST", "PATCH")]
    base = f"/v1/projects/{project}/instances/paybill-acme"
    assert writes[-2:] == [("POST", f"{base}/backupRuns"), ("PATCH", base)]


def test_a_stopped_gcp_instance_without_its_backup_refuses_and_says_how_to_go_on(
    gcp: ResourceManagerStandIn, tmp_path: Path
) -> None:
    tenant = silo_tenant(CloudTarget.GCP)
    vendor, provisioner = _gcp_provisioner(gcp, tmp_path)
    with pytest.raises(ProvisioningFailed, match="No GCP project"):
        provisioner.archive(tenant)
    project = vendor.vend(tenant)["project_id"]
    with pytest.raises(ProvisioningFailed, match="HTTP 404"):
        provisioner.archive(tenant)  # no instance
    instance = gcp.state.add_sql_instance(project, "paybill-acme")
    instance["settings"]["activationPolicy"] = "NEVER"

    with pytest.raises(ProvisioningFailed, match="--activation-policy=ALWAYS"):
        provisioner.archive(tenant)

    assert gcp.state.backup_runs[f"{project}/paybill-acme"] == []
