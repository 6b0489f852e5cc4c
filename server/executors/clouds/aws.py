"""AWS account vending for silo tenants: the only module that imports boto3 and botocore.

For one tenant it converges, finding each thing before creating it so a re-run changes nothing:

1. an AWS Organizations member account ``paybill-<slug>`` (email ``paybill+<slug>@<domain>``)
   tagged with the tenant's id, tier and slug;
2. in that account, reached through the organisation's access role, an IAM role
   ``paybill-tenant-<slug>`` that only the management account may assume, and only with the
   tenant id as external id, tagged the same way;
3. an inline policy on that role allowing actions only on resources carrying the tenant's
   ``paybill_tenant_id`` tag, and never on IAM or the organisation.

``find`` only reads (the account by its email, and its tags): approval-time planning uses it,
so no account exists before a human approved the move that needs it. Archiving a silo tenant
(offboarding) snapshots and stops its RDS instance in the member account (``archive``).

Credentials come from boto3's standard provider chain (environment, shared config, SSO,
instance role). The member account's temporary credentials stay inside a boto3 session: they
are never returned, logged or put in an error. Every boto3/botocore error becomes
``ProvisioningFailed`` naming the step and the AWS error code.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.core.vocabulary import CloudTarget
from paybill.server.executors.clouds.aws_documents import (
    AwsNames,
    scope_policy,
    tenant_tags,
    trust_policy,
)
from paybill.server.executors.clouds.vending import TENANT_TAG
from paybill.server.executors.provisioner import TenantFacts

if TYPE_CHECKING:  # the service stubs are dev-only (boto3-stubs): never imported at run time
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_organizations import OrganizationsClient
    from mypy_boto3_organizations.type_defs import AccountTypeDef, TagTypeDef
    from mypy_boto3_sts import STSClient
    from mypy_boto3_sts.type_defs import CredentialsTypeDef

# Organizations, IAM and STS are global services whose endpoints live in us-east-1.
GLOBAL_REGION = "us-east-1"
# The role AWS creates in every account made by CreateAccount (we name it explicitly).
ACCESS_ROLE = "OrganizationAccountAccessRole"
SCOPE_POLICY = "paybill-tenant-scope"
ASSUME_ATTEMPTS = 6
HINTS = {
    "NoCredentialsError": " (no AWS credentials: configure the environment, shared config or "
    "an instance role)",
    "EndpointConnectionError": " (the AWS endpoint could not be reached; retry later)",
    "ConnectTimeoutError": " (the AWS endpoint did not answer; retry later)",
}


def _tag_list(tags: dict[str, str]) -> list[TagTypeDef]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _document(value: str | Mapping[str, Any]) -> dict[str, Any]:
    # IAM returns policy documents URL-encoded; boto3 usually decodes them, not always.
    if isinstance(value, str):
        document: dict[str, Any] = json.loads(unquote(value))
        return document
    return dict(value)


@contextmanager
def _aws_step(step: str, slug: str) -> Iterator[None]:
    """Translate boto3/botocore errors raised in the block into ProvisioningFailed."""
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        raise ProvisioningFailed(
            f"AWS account vending for {slug!r} failed while {step}: {code}.",
            tenant=slug,
            step=step,
            aws_error=code,
        ) from None
    except BotoCoreError as exc:
        name = type(exc).__name__
        raise ProvisioningFailed(
            f"AWS account vending for {slug!r} failed while {step}: {name}{HINTS.get(name, '')}.",
            tenant=slug,
            step=step,
            aws_error=name,
        ) from None


class AwsAccountVendor:
    """Vends a member account and a tag-scoped role per silo tenant on ``aws``."""

    cloud = CloudTarget.AWS

    def __init__(
        self,
        *,
        email_domain: str | None,
        endpoint_url: str | None = None,
        access_role: str = ACCESS_ROLE,
        poll_seconds: float = 5.0,
        timeout_seconds: float = 900.0,
        max_attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.email_domain = email_domain
        self.endpoint_url = endpoint_url
        self.access_role = access_role
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self.config = Config(
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=10,
            read_timeout=60,
        )
        self.sleep = sleep

    def _options(self) -> dict[str, Any]:
        """Keyword arguments of every client (the stubs type each service's client)."""
        return {
            "region_name": GLOBAL_REGION,
            "endpoint_url": self.endpoint_url,
            "config": self.config,
        }

    def vend(self, tenant: TenantFacts) -> dict[str, Any]:
        """Create or find the tenant's member account and role; return their facts.

        Raises:
            ProvisioningFailed: no email domain is configured, an AWS call failed, account
                creation failed or timed out, or the account belongs to another tenant.
        """
        names = self._names(tenant)
        tags = tenant_tags(tenant)
        changes: list[str] = []
        session = boto3.session.Session()  # the standard credential chain
        with _aws_step("reading the caller identity", tenant.slug):
            caller = session.client("sts", **self._options()).get_caller_identity()
        partition, management = caller["Arn"].split(":")[1], caller["Account"]
        org = session.client("organizations", **self._options())
        account_id = self._account(org, tenant, names, tags, changes)
        access_role_arn = f"arn:{partition}:iam::{account_id}:role/{self.access_role}"
        member = self._member_session(session, access_role_arn, tenant.slug)
        trust = trust_policy(partition, management, tenant.id)
        iam = member.client("iam", **self._options())
        role_arn = self._role(iam, tenant, names, tags, trust, changes)
        return {
            "cloud": CloudTarget.AWS.value,
            "account_id": account_id,
            "account_name": names.account_name,
            "account_email": names.email,
            "role_name": names.role_name,
            "role_arn": role_arn,
            # The role Terraform assumes to create the tenant's resources in the account.
            "access_role_arn": access_role_arn,
            "tags": tags,
            "changes": changes,
        }

    def _names(self, tenant: TenantFacts) -> AwsNames:
        if not self.email_domain:
            raise ProvisioningFailed(
                "AWS account vending needs an email domain for member accounts; set "
                "PAYBILL_AWS_ACCOUNT_EMAIL_DOMAIN.",
                tenant=tenant.slug,
            )
        return AwsNames.for_tenant(tenant, self.email_domain)

    def planned(self, tenant: TenantFacts) -> dict[str, Any]:
        """What ``vend`` would create: the member account (name, email, placed at the
        organisation's root), its access role and the tag-scoped tenant role.

        Raises:
            ProvisioningFailed: no email domain is configured.
        """
        names = self._names(tenant)
        return {
            "cloud": CloudTarget.AWS.value,
            "account_name": names.account_name,
            "account_email": names.email,
            "parent": "the organisation's root",
            "access_role": self.access_role,
            "role_name": names.role_name,
            "tags": tenant_tags(tenant),
        }

    def find(self, tenant: TenantFacts) -> dict[str, Any] | None:
        """The tenant's member account if it exists (by its email), else None; read-only:
        Organizations ``ListAccounts`` and ``ListTagsForResource``, STS ``GetCallerIdentity``.
        An account still being created counts as missing (``vend`` waits for it).

        Raises:
            ProvisioningFailed: no email domain, an AWS call failed, or the account belongs
                to another tenant or is not active.
        """
        names = self._names(tenant)
        session = boto3.session.Session()
        with _aws_step("reading the caller identity", tenant.slug):
            caller = session.client("sts", **self._options()).get_caller_identity()
        org = session.client("organizations", **self._options())
        with _aws_step("looking up the member account", tenant.slug):
            account = _find_account(org, names.email)
            if account is None:
                return None
            owner = _tags(org.list_tags_for_resource(ResourceId=account["Id"])["Tags"])
        _check_owner(owner, tenant, f"AWS account {account['Id']}")
        _check_active(account, tenant)
        partition = caller["Arn"].split(":")[1]
        return {
            "cloud": CloudTarget.AWS.value,
            "account_id": account["Id"],
            "account_name": account["Name"],
            "account_email": names.email,
            "access_role_arn": f"arn:{partition}:iam::{account['Id']}:role/{self.access_role}",
            "tags": owner,
        }

    def archive(self, tenant: TenantFacts) -> dict[str, Any]:
        """Snapshot and stop the silo tenant's RDS instance (``paybill-<slug>``, the aws
        module's name) in its member account; a re-run changes nothing.

        AWS starts a stopped instance again after seven days: the snapshot is what archiving
        keeps for sure (docs/clouds.md).

        Raises:
            ProvisioningFailed: no email domain, no member account or instance for the
                tenant, the account belongs to another tenant, or an AWS call failed.
        """
        found = self.find(tenant)
        if found is None:
            raise ProvisioningFailed(
                f"No AWS member account for {tenant.slug!r}: nothing to archive, nothing was "
                "changed.",
                tenant=tenant.slug,
            )
        session = boto3.session.Session()
        member = self._member_session(session, found["access_role_arn"], tenant.slug)
        # No rds stubs in the dev extra: the client is untyped here.
        rds: Any = member.client(
            "rds", region_name=tenant.region, endpoint_url=self.endpoint_url, config=self.config
        )
        instance, snapshot = f"paybill-{tenant.slug}", f"paybill-{tenant.slug}-archive"
        changes: list[str] = []
        with _aws_step("snapshotting and stopping the database instance", tenant.slug):
            status = rds.describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"][0][
                "DBInstanceStatus"
            ]
            if status not in ("stopped", "stopping"):
                rds.stop_db_instance(DBInstanceIdentifier=instance, DBSnapshotIdentifier=snapshot)
                changes.append("snapshot and stop")
            elif not _has_snapshot(rds, instance, snapshot):
                rds.create_db_snapshot(DBInstanceIdentifier=instance, DBSnapshotIdentifier=snapshot)
                changes.append("snapshot")
        return {
            "cloud": CloudTarget.AWS.value,
            "account_id": found["account_id"],
            "db_instance": instance,
            "snapshot": snapshot,
            "stopped": True,
            "changes": changes,
        }

    def _account(
        self,
        org: OrganizationsClient,
        tenant: TenantFacts,
        names: AwsNames,
        tags: dict[str, str],
        changes: list[str],
    ) -> str:
        with _aws_step("looking up the member account", tenant.slug):
            account = _find_account(org, names.email)
            pending = None if account else _pending_request(org, names.account_name)
        if account is not None:
            _check_active(account, tenant)
            account_id: str = account["Id"]
        else:
            if pending is None:
                with _aws_step("creating the member account", tenant.slug):
                    pending = org.create_account(
                        Email=names.email,
                        AccountName=names.account_name,
                        RoleName=self.access_role,
                        IamUserAccessToBilling="DENY",
                        Tags=_tag_list(tags),
                    )["CreateAccountStatus"]["Id"]
                changes.append("created account")
            account_id = self._wait(org, pending, tenant.slug)
        with _aws_step("tagging the member account", tenant.slug):
            current = _tags(org.list_tags_for_resource(ResourceId=account_id)["Tags"])
            _check_owner(current, tenant, f"AWS account {account_id}")
            if any(current.get(key) != value for key, value in tags.items()):
                org.tag_resource(ResourceId=account_id, Tags=_tag_list(tags))
                changes.append("tagged account")
        return account_id

    def _wait(self, org: OrganizationsClient, request_id: str, slug: str) -> str:
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            with _aws_step("waiting for the member account", slug):
                status = org.describe_create_account_status(CreateAccountRequestId=request_id)
            state = status["CreateAccountStatus"]
            if state["State"] == "SUCCEEDED":
                return str(state["AccountId"])
            if state["State"] == "FAILED":
                reason = state.get("FailureReason", "no reason given")
                raise ProvisioningFailed(
                    f"AWS refused to create the member account for {slug!r}: {reason}.",
                    tenant=slug,
                    aws_error=reason,
                )
            if time.monotonic() >= deadline:
                # The request goes on at AWS; a retry finds it (_pending_request) and waits.
                raise ProvisioningFailed(
                    f"The AWS member account for {slug!r} is still being created after "
                    f"{self.timeout_seconds:.0f} s; retry provisioning later.",
                    tenant=slug,
                )
            self.sleep(self.poll_seconds)

    def _member_session(
        self, session: boto3.session.Session, role: str, slug: str
    ) -> boto3.session.Session:
        sts = session.client("sts", **self._options())
        with _aws_step("assuming the member account's access role", slug):
            credentials = self._assume(sts, role)
        return boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    def _assume(self, sts: STSClient, role: str) -> CredentialsTypeDef:
        def assume() -> CredentialsTypeDef:
            return sts.assume_role(RoleArn=role, RoleSessionName="paybill-vending")["Credentials"]

        # A new account's access role can take a little while to become assumable.
        for _attempt in range(ASSUME_ATTEMPTS - 1):
            try:
                return assume()
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "AccessDenied":
                    raise
            self.sleep(self.poll_seconds)
        return assume()

    def _role(
        self,
        iam: IAMClient,
        tenant: TenantFacts,
        names: AwsNames,
        tags: dict[str, str],
        trust: dict[str, Any],
        changes: list[str],
    ) -> str:
        with _aws_step("finding or creating the tenant role", tenant.slug):
            try:
                role = iam.get_role(RoleName=names.role_name)["Role"]
            except iam.exceptions.NoSuchEntityException:
                role = iam.create_role(
                    RoleName=names.role_name,
                    AssumeRolePolicyDocument=json.dumps(trust),
                    Description=f"Paybill tenant {tenant.slug}: tag-scoped access",
                    MaxSessionDuration=3600,
                    Tags=_tag_list(tags),
                )["Role"]
                changes.append("created role")
        with _aws_step("configuring the tenant role", tenant.slug):
            current = _tags(iam.list_role_tags(RoleName=names.role_name)["Tags"])
            _check_owner(current, tenant, f"IAM role {names.role_name}")
            if any(current.get(key) != value for key, value in tags.items()):
                iam.tag_role(RoleName=names.role_name, Tags=_tag_list(tags))
                changes.append("tagged role")
            if _document(role["AssumeRolePolicyDocument"]) != trust:
                iam.update_assume_role_policy(
                    RoleName=names.role_name, PolicyDocument=json.dumps(trust)
                )
                changes.append("updated trust policy")
            self._scope(iam, names.role_name, scope_policy(tenant.id), changes)
        return str(role["Arn"])

    @staticmethod
    def _scope(iam: IAMClient, role_name: str, wanted: dict[str, Any], changes: list[str]) -> None:
        try:
            current = iam.get_role_policy(RoleName=role_name, PolicyName=SCOPE_POLICY)
            if _document(current["PolicyDocument"]) == wanted:
                return
        except iam.exceptions.NoSuchEntityException:
            pass
        iam.put_role_policy(
            RoleName=role_name, PolicyName=SCOPE_POLICY, PolicyDocument=json.dumps(wanted)
        )
        changes.append("put scope policy")


def _has_snapshot(rds: Any, instance: str, snapshot: str) -> bool:
    found = rds.describe_db_snapshots(DBInstanceIdentifier=instance, SnapshotType="manual")
    found = found["DBSnapshots"]
    return any(item["DBSnapshotIdentifier"] == snapshot for item in found)


def _find_account(org: OrganizationsClient, email: str) -> AccountTypeDef | None:
    # Emails are unique across AWS, so the email identifies the tenant's account.
    for page in org.get_paginator("list_accounts").paginate():
        for account in page["Accounts"]:
            if account["Email"].lower() == email.lower():
                return account
    return None


def _pending_request(org: OrganizationsClient, account_name: str) -> str | None:
    # A run that crashed or timed out while AWS was creating the account left a request.
    pages = org.get_paginator("list_create_account_status").paginate(States=["IN_PROGRESS"])
    for page in pages:
        for status in page["CreateAccountStatuses"]:
            if status["AccountName"] == account_name:
                return str(status["Id"])
    return None


def _tags(items: Iterable[TagTypeDef]) -> dict[str, str]:
    return {item["Key"]: item["Value"] for item in items}


def _check_active(account: AccountTypeDef, tenant: TenantFacts) -> None:
    if account["Status"] != "ACTIVE":
        raise ProvisioningFailed(
            f"The AWS account {account['Id']} for {tenant.slug!r} is "
            f"{account['Status'].lower()}; restore it or close the tenant.",
            tenant=tenant.slug,
        )


def _check_owner(current: dict[str, str], tenant: TenantFacts, what: str) -> None:
    owner = current.get(TENANT_TAG)
    if owner is not None and owner != tenant.id:
        # A slug reused after deletion must not inherit the old tenant's account.
        raise ProvisioningFailed(
            f"The {what} named for {tenant.slug!r} belongs to another tenant ({owner}); "
            "resolve it by hand before provisioning.",
            tenant=tenant.slug,
        )
