"""Each cloud module's plan-time logic, run by Terraform: where a tenant's resources land
(the vended account or project, the platform's ids) and what it refuses before any provider
is called. The providers themselves cannot be installed offline (docs/clouds.md)."""

from __future__ import annotations

from typing import Any

import pytest

from paybill.server.executors.terraform.cli import Terraform
from tests.support.module_logic import ModuleLogic

MEMBER = "210987654321"
ACCESS_ROLE = f"arn:aws:iam::{MEMBER}:role/OrganizationAccountAccessRole"
OCIDS = {
    "oci_parent_compartment_id": "ocid1.compartment.oc1..aaaaexample",
    "oci_db_subnet_id": "ocid1.subnet.oc1.eu-frankfurt-1.aaaaexample",
    "oci_vault_id": "ocid1.vault.oc1.eu-frankfurt-1.aaaaexample",
    "oci_vault_key_id": "ocid1.key.oc1.eu-frankfurt-1.aaaaexample",
}
UUID = "00000000-0000-4000-8000-00000000000{}"


def tenant(isolation: str = "silo", **overrides: Any) -> dict[str, Any]:
    return {
        "tenant_id": "0d2b6c1e-1111-4222-8333-444455556666",
        "tenant_slug": "acme",
        "tier": "enterprise",
        "isolation": isolation,
        "region": "eu-west-1",
        **overrides,
    }


@pytest.fixture(scope="module")
def logic(terraform: Terraform, tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModuleLogic]:
    root = tmp_path_factory.mktemp("module-logic")
    return {
        target: ModuleLogic(terraform, target, root / target)
        for target in ("aws", "gcp", "azure", "oci")
    }


def test_aws_silo_assumes_the_access_role_of_its_member_account(
    logic: dict[str, ModuleLogic],
) -> None:
    aws = logic["aws"]
    values = tenant(account={"id": MEMBER, "role_arn": ACCESS_ROLE})

    assert aws.problem(values) is None
    assert aws.value(values, "[local.account_id, local.assume_role_arn]") == [MEMBER, ACCESS_ROLE]


@pytest.mark.parametrize(
    ("account", "refusal"),
    [
        ({}, "a silo tenant needs its vended member account id"),
        (
            {"id": "12345", "role_arn": ACCESS_ROLE},
            "a silo tenant needs its vended member account id",
        ),
        (
            # The management account's role: the tenant's RDS would land outside its account.
            {
                "id": MEMBER,
                "role_arn": "arn:aws:iam::111111111111:role/OrganizationAccountAccessRole",
            },
            f"account.role_arn must be a role in the member account {MEMBER}",
        ),
    ],
)
def test_aws_silo_without_its_own_account_is_refused_at_plan_time(
    logic: dict[str, ModuleLogic], account: dict[str, str], refusal: str
) -> None:
    problem = logic["aws"].problem(tenant(account=account))

    assert problem is not None and refusal in problem


def test_aws_pooled_and_bridge_tenants_use_the_platform_account(
    logic: dict[str, ModuleLogic],
) -> None:
    values = tenant("pooled", account={"id": MEMBER, "role_arn": ACCESS_ROLE})

    assert logic["aws"].problem(values) is None
    assert logic["aws"].value(values, "local.assume_role_arn") == ""


def test_gcp_resources_go_into_the_vended_or_the_shared_project(
    logic: dict[str, ModuleLogic],
) -> None:
    gcp = logic["gcp"]
    silo = tenant(account={"project_id": "pb-acme-0a1b2c"})
    bridge = tenant("bridge", platform={"gcp_shared_project": "pb-platform-shared"})

    assert [gcp.problem(silo), gcp.problem(bridge)] == [None, None]
    assert gcp.value(silo, "local.project") == "pb-acme-0a1b2c"
    assert gcp.value(bridge, "local.project") == "pb-platform-shared"


@pytest.mark.parametrize(
    ("values", "refusal"),
    [
        (tenant(), "a silo tenant needs its vended project"),
        (tenant("bridge"), "a bridge tenant needs the shared project"),
        (tenant(account={"project_id": "Not A Project"}), "is not a GCP project id"),
    ],
)
def test_gcp_refuses_a_missing_or_malformed_project(
    logic: dict[str, ModuleLogic], values: dict[str, Any], refusal: str
) -> None:
    problem = logic["gcp"].problem(values)

    assert problem is not None and refusal in problem


def test_azure_silo_prefers_its_own_subscription_and_needs_the_entra_tenant(
    logic: dict[str, ModuleLogic],
) -> None:
    azure = logic["azure"]
    platform = {"azure_subscription_id": UUID.format(2), "azure_tenant_id": UUID.format(3)}
    own = tenant(account={"subscription_id": UUID.format(1)}, platform=platform)
    shared = tenant(platform=platform)
    no_entra = tenant(platform={"azure_subscription_id": UUID.format(2)})

    assert azure.value(own, "local.subscription_id") == UUID.format(1)
    assert azure.value(shared, "local.subscription_id") == UUID.format(2)
    assert [azure.problem(own), azure.problem(shared)] == [None, None]
    assert "needs the Entra tenant id" in (azure.problem(no_entra) or "")


def test_oci_needs_real_ocids_never_placeholders(logic: dict[str, ModuleLogic]) -> None:
    oci = logic["oci"]
    placeholders = {**OCIDS, "oci_db_subnet_id": "paybill-eu-west-1-db-subnet"}

    assert oci.problem(tenant(platform=OCIDS)) is None
    assert "platform.oci_db_subnet_id" in (oci.problem(tenant(platform=placeholders)) or "")
    # A bridge tenant needs no subnet (no DB system of its own) but the vault.
    bridge = tenant("bridge", platform={**OCIDS, "oci_db_subnet_id": ""})
    assert oci.problem(bridge) is None
    assert "platform.oci_vault_id" in (oci.problem(tenant("bridge")) or "")
    assert oci.problem(tenant("pooled")) is None
