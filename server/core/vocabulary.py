"""Domain vocabularies shared by the store, the engines and the tools."""

from __future__ import annotations

import unicodedata
from enum import StrEnum

# DNS label: lowercase ASCII letters, digits and inner hyphens. ASCII-only on purpose, so
# look-alike unicode (Cyrillic a, fullwidth digits) can never name a second tenant.
SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
PRINCIPAL_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,99}$"

# Unicode categories never allowed in a name people read (tenant display names): controls (C0,
# DEL, C1 such as U+009B), format characters (bidi overrides such as U+202E, zero-width
# characters), private use, surrogates, and line and paragraph separators. Each can make a
# name display as something other than what it is.
UNREADABLE_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Zl", "Zp"})


def unreadable_characters(text: str) -> list[str]:
    """The code points (``U+202E``) in ``text`` that a displayed name may not contain."""
    return sorted(
        {f"U+{ord(ch):04X}" for ch in text if unicodedata.category(ch) in UNREADABLE_CATEGORIES}
    )


def check_display_name(text: str) -> str:
    """``text`` unchanged when it is fit to display as a name.

    Raises:
        ValueError: it contains characters of ``UNREADABLE_CATEGORIES``, or is blank.
    """
    found = unreadable_characters(text)
    if found:
        raise ValueError(
            f"names may not contain control, format (bidi, zero-width), private-use or "
            f"separator characters; found {', '.join(found)}"
        )
    if not text.strip():
        raise ValueError("a name must contain visible characters")
    return text


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
