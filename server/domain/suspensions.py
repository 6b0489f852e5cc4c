"""Who may lift a suspension: a tenant an operator suspended stays suspended for billing.

A suspension is recorded as a lifecycle transition with its actor. The billing side (the
billing policy, or a billing_agent principal) may resume only what the billing side
suspended; a suspension by anyone else (an operator, a platform admin: security review,
maintenance, abuse) is lifted only by an operator or a platform admin. The same rule keeps
``set_billing_state`` from resuming such a tenant on payment
(``subscriptions.suspended_for_non_payment``).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from paybill.server.core.errors import Denied
from paybill.server.core.vocabulary import Role
from paybill.server.domain.billing_policy import BILLING_ACTOR
from paybill.server.store import LifecycleTransition, Principal, Tenant

BILLING_ROLES = frozenset({Role.BILLING_AGENT})
# Roles that may lift any suspension, whoever made it.
OPERATOR_ROLES = frozenset({Role.PLATFORM_ADMIN, Role.OPERATOR})


def suspension(session: Session, tenant: Tenant) -> LifecycleTransition | None:
    """The transition that suspended ``tenant``, when it is suspended."""
    if tenant.state != "suspended":
        return None
    latest = session.scalar(
        select(LifecycleTransition)
        .where(LifecycleTransition.tenant_id == tenant.id)
        .order_by(LifecycleTransition.id.desc())
        .limit(1)
    )
    return latest if latest is not None and latest.action == "suspend" else None


def suspended_by_billing(session: Session, record: LifecycleTransition) -> bool:
    """Whether the billing side made this suspension. An actor no longer known (a deleted
    principal) counts as an operator: the rule fails closed."""
    if record.actor == BILLING_ACTOR:
        return True
    role = session.scalar(select(Principal.role).where(Principal.name == record.actor))
    return role in BILLING_ROLES


def check_resume(session: Session, tenant: Tenant, role: Role) -> None:
    """Raises: Denied when ``role`` may not lift the tenant's current suspension."""
    if role in OPERATOR_ROLES:
        return
    record = suspension(session, tenant)
    if record is None or suspended_by_billing(session, record):
        return
    raise Denied(
        f"Tenant {tenant.slug!r} was suspended by {record.actor}, not for billing "
        f"reasons; role {role.value} may only resume tenants suspended for billing reasons. "
        "Ask an operator or a platform admin to resume it.",
        tenant=tenant.slug,
        suspended_by=record.actor,
        role=role.value,
    )
