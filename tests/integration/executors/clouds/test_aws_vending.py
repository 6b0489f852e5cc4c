"""AWS account vending against a real moto_server: accounts, roles, tags, re-runs, errors."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.core.vocabulary import CloudTarget
from paybill.server.executors.clouds.aws import AwsAccountVendor
from tests.support.clouds import SECRETS, free_port, reset_moto, silo_tenant

TENANT = silo_tenant(CloudTarget.AWS)
WANTED_TAGS = {"paybill_tenant_id": TENANT.id, "paybill_tier": "enterprise", "paybill_slug": "acme"}


def _vendor(endpoint: str, **overrides: Any) -> AwsAccountVendor:
    return AwsAccountVendor(email_domain="example.com", endpoint_url=endpoint, **overrides)


def _client(endpoint: str, service: str, **credentials: str) -> Any:
    session = boto3.session.Session(**credentials)
    return session.client(service, endpoint_url=endpoint, region_name="us-east-1")


def _member_iam(endpoint: str, account_id: str) -> Any:
    sts = _client(endpoint, "sts")
    role = f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole"
    creds = sts.assume_role(RoleArn=role, RoleSessionName="test")["Credentials"]
    return _client(
        endpoint,
        "iam",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def _accounts(endpoint: str) -> list[dict[str, Any]]:
    return _client(endpoint, "organizations").list_accounts()["Accounts"]


def _tags(items: list[dict[str, str]]) -> dict[str, str]:
    return {item["Key"]: item["Value"] for item in items}


def test_vending_creates_the_account_and_role_with_tags(aws: str) -> None:
    facts = _vendor(aws).vend(TENANT)

    assert facts["changes"] == ["created account", "created role", "put scope policy"]
    account = next(a for a in _accounts(aws) if a["Id"] == facts["account_id"])
    assert account["Email"] == "paybill+acme@example.com"
    assert account["Name"] == "paybill-acme"
    org = _client(aws, "organizations")
    assert _tags(org.list_tags_for_resource(ResourceId=account["Id"])["Tags"]) == WANTED_TAGS

    iam = _member_iam(aws, facts["account_id"])
    role = iam.get_role(RoleName="paybill-tenant-acme")["Role"]
    assert role["Arn"] == facts["role_arn"]
    assert f":{facts['account_id']}:" in role["Arn"]  # in the member account, not ours
    assert _tags(iam.list_role_tags(RoleName="paybill-tenant-acme")["Tags"]) == WANTED_TAGS
    trust = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": TENANT.id}}
    scope = iam.get_role_policy(RoleName="paybill-tenant-acme", PolicyName="paybill-tenant-scope")
    allow, _create, deny = scope["PolicyDocument"]["Statement"]
    assert allow["Condition"] == {"StringEquals": {"aws:ResourceTag/paybill_tenant_id": TENANT.id}}
    assert deny["Effect"] == "Deny" and "iam:*" in deny["Action"]
    assert facts["tags"] == WANTED_TAGS


def test_a_second_run_creates_and_changes_nothing(aws: str) -> None:
    vendor = _vendor(aws)
    first = vendor.vend(TENANT)
    accounts = len(_accounts(aws))
    second = vendor.vend(TENANT)

    assert second["changes"] == []
    assert {**second, "changes": first["changes"]} == first
    assert len(_accounts(aws)) == accounts
    roles = _member_iam(aws, first["account_id"]).list_roles()["Roles"]
    assert [r["RoleName"] for r in roles if r["RoleName"].startswith("paybill-")] == [
        "paybill-tenant-acme"
    ]


def test_a_rerun_repairs_drifted_tags_and_policy(aws: str) -> None:
    vendor = _vendor(aws)
    facts = vendor.vend(TENANT)
    org = _client(aws, "organizations")
    org.untag_resource(ResourceId=facts["account_id"], TagKeys=["paybill_tier"])
    iam = _member_iam(aws, facts["account_id"])
    iam.delete_role_policy(RoleName="paybill-tenant-acme", PolicyName="paybill-tenant-scope")

    assert vendor.vend(TENANT)["changes"] == ["tagged account", "put scope policy"]
    assert _tags(org.list_tags_for_resource(ResourceId=facts["account_id"])["Tags"]) == WANTED_TAGS


def test_an_account_tagged_for_another_tenant_is_refused(aws: str) -> None:
    _vendor(aws).vend(TENANT)
    reused_slug = silo_tenant(CloudTarget.AWS, tenant_id="99999999-1111-4222-8333-444455556666")

    with pytest.raises(ProvisioningFailed, match="belongs to another tenant"):
        _vendor(aws).vend(reused_slug)


def test_names_of_a_long_slug_fit_aws_limits(aws: str) -> None:
    tenant = silo_tenant(CloudTarget.AWS, slug="s" * 63)

    facts = _vendor(aws).vend(tenant)  # botocore refuses over-long names before sending

    assert len(facts["account_name"]) <= 50 and len(facts["account_email"]) <= 64
    assert len(facts["role_name"]) <= 64
    assert _vendor(aws).vend(tenant)["changes"] == []


def test_credentials_never_appear_in_the_facts(aws: str) -> None:
    text = json.dumps(_vendor(aws).vend(TENANT))

    for secret in SECRETS:
        assert secret not in text
    # Temporary keys (ASIA...) of the member session and long-term ones (AKIA...).
    assert "ASIA" not in text and "AKIA" not in text
    assert "SessionToken" not in text and "SecretAccessKey" not in text


def _assert_short_and_clean(error: ProvisioningFailed) -> None:
    assert error.code == "PROVISIONING_FAILED"
    assert "\n" not in error.message and len(error.message) < 240
    assert "Traceback" not in error.message
    payload = json.dumps(error.to_payload())
    for secret in SECRETS:
        assert secret not in payload


def test_an_aws_error_code_becomes_provisioning_failed(moto_endpoint: str) -> None:
    reset_moto(moto_endpoint)  # no organisation: AWS refuses to create member accounts

    with pytest.raises(ProvisioningFailed) as caught:
        _vendor(moto_endpoint).vend(TENANT)

    _assert_short_and_clean(caught.value)
    assert "creating the member account" in caught.value.message
    assert caught.value.details["aws_error"] == "AWSOrganizationsNotInUseException"


def test_an_unreachable_endpoint_becomes_provisioning_failed(moto_endpoint: str) -> None:
    vendor = _vendor(f"http://127.0.0.1:{free_port()}", max_attempts=1)

    with pytest.raises(ProvisioningFailed) as caught:
        vendor.vend(TENANT)

    _assert_short_and_clean(caught.value)
    assert caught.value.details["aws_error"] == "EndpointConnectionError"
    assert "could not be reached" in caught.value.message


def test_missing_credentials_become_provisioning_failed(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)

    with pytest.raises(ProvisioningFailed) as caught:
        _vendor(moto_endpoint).vend(TENANT)

    _assert_short_and_clean(caught.value)
    assert caught.value.details["aws_error"] == "NoCredentialsError"


def test_vending_needs_an_email_domain(aws: str) -> None:
    vendor = AwsAccountVendor(email_domain=None, endpoint_url=aws)

    with pytest.raises(ProvisioningFailed, match="PAYBILL_AWS_ACCOUNT_EMAIL_DOMAIN"):
        vendor.vend(TENANT)
    assert len(_accounts(aws)) == 1  # only the management account
