"""What AWS vending creates for a tenant, as plain data: names, tags and IAM policy documents.

Kept apart from ``clouds.aws`` (which talks to AWS) so the documents can be read and
reviewed without the SDK around them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from paybill.server.executors.clouds.vending import SLUG_TAG, TENANT_TAG, TIER_TAG
from paybill.server.executors.provisioner import TenantFacts
from paybill.server.executors.terraform.cli import tier_name


@dataclass(frozen=True)
class AwsNames:
    """The names derived from a tenant's slug (slugs are unique DNS labels)."""

    account_name: str
    email: str
    role_name: str

    @classmethod
    def for_tenant(cls, tenant: TenantFacts, email_domain: str) -> AwsNames:
        # AWS limits: account names 50 characters, emails 64, role names 64; slugs reach 63.
        local_limit = 64 - len(email_domain) - 1
        return cls(
            account_name=_fit(f"paybill-{tenant.slug}", 50, tenant.id),
            email=f"{_fit(f'paybill+{tenant.slug}', local_limit, tenant.id)}@{email_domain}",
            role_name=_fit(f"paybill-tenant-{tenant.slug}", 64, tenant.id),
        )


def _fit(name: str, limit: int, tenant_id: str) -> str:
    """The name if it fits, else its start and a hash of the tenant id (stable and distinct)."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(tenant_id.encode()).hexdigest()[:8]
    return f"{name[: max(limit - 9, 0)].rstrip('-')}-{digest}"


def tenant_tags(tenant: TenantFacts) -> dict[str, str]:
    tier = tier_name(tenant.tier)
    return {TENANT_TAG: tenant.id, TIER_TAG: tier, SLUG_TAG: tenant.slug}


def trust_policy(partition: str, management_account: str, tenant_id: str) -> dict[str, Any]:
    """Only the management account may assume the role, and only naming the tenant's id."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{management_account}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": tenant_id}},
            }
        ],
    }


def scope_policy(tenant_id: str) -> dict[str, Any]:
    """Actions on the tenant's tagged resources (or creating resources tagged for it) only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TenantTaggedResources",
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
                "Condition": {"StringEquals": {f"aws:ResourceTag/{TENANT_TAG}": tenant_id}},
            },
            {
                "Sid": "CreateTaggedForTenant",
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
                "Condition": {"StringEquals": {f"aws:RequestTag/{TENANT_TAG}": tenant_id}},
            },
            {
                # Without this the role could re-scope itself or leave the organisation.
                "Sid": "NeverIdentityOrOrganization",
                "Effect": "Deny",
                "Action": ["iam:*", "organizations:*", "account:*"],
                "Resource": "*",
            },
        ],
    }
