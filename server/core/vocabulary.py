"""Domain vocabularies shared by the store, the engines and the tools."""

from __future__ import annotations

from enum import StrEnum

# DNS label: lowercase ASCII letters, digits and inner hyphens. ASCII-only on purpose, so
# look-alike unicode (Cyrillic a, fullwidth digits) can never name a second tenant.
SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
PRINCIPAL_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,99}$"


class Isolation(StrEnum):
    """How a tenant's data is separated from other tenants'."""

    POOLED = "pooled"  # shared tables, tenant_id + row-level security
    BRIDGE = "bridge"  # a schema per tenant
    SILO = "silo"  # a database (or dedicated infrastructure) per tenant


class CloudTarget(StrEnum):
    LOCAL = "local"
    AWS = "aws"
    GCP = "gcp"
    AZURE = "azure"
    OCI = "oci"
    IBM = "ibm"


class SubscriptionStatus(StrEnum):
    """Stripe's vocabulary for a subscription's billing state."""

    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"


class Role(StrEnum):
    """Principal roles; tenant-scoped roles need a tenant binding."""

    PLATFORM_ADMIN = "platform_admin"
    APPROVER = "approver"
    OPERATOR = "operator"
    TENANT_ADMIN = "tenant_admin"
    TENANT_AGENT = "tenant_agent"
    BILLING_AGENT = "billing_agent"

    @property
    def tenant_scoped(self) -> bool:
        return self in (Role.TENANT_ADMIN, Role.TENANT_AGENT)


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    COMPENSATED = "compensated"


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    VOID = "void"
    EXECUTED = "executed"


class Decision(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"
