"""Tenant records: create (with a subscription) and read."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from paybill.server.core.errors import Conflict, InvalidInput, NotFound
from paybill.server.core.vocabulary import (
    SLUG_PATTERN,
    CloudTarget,
    SubscriptionStatus,
    check_display_name,
)
from paybill.server.domain.lifecycle import Lifecycle
from paybill.server.store import LifecycleTransition, Plan, Subscription, Tenant
from paybill.server.store.base import utcnow


def get_plan(session: Session, plan_id: str) -> Plan:
    """Raises: NotFound."""
    plan = session.get(Plan, plan_id)
    if plan is None:
        known = ", ".join(session.scalars(select(Plan.id).order_by(Plan.tier)))
        raise NotFound(f"No plan {plan_id!r}; known plans: {known}.", plan=plan_id)
    return plan


def get_tenant(session: Session, slug: str) -> Tenant:
    """Raises: NotFound."""
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound(f"No tenant with slug {slug!r}.", tenant=slug)
    return tenant


def list_tenants(session: Session) -> list[Tenant]:
    return list(session.scalars(select(Tenant).order_by(Tenant.slug)))


def create_tenant(
    session: Session,
    lifecycle: Lifecycle,
    *,
    slug: str,
    name: str,
    plan_id: str,
    actor: str,
    cloud: CloudTarget = CloudTarget.LOCAL,
    region: str = "local",
    now: datetime | None = None,
    trial_days: int = 0,
) -> Tenant:
    """Record a new tenant in the lifecycle's initial state, with a subscription: trialing
    for ``trial_days`` (the first period ends with the trial) when positive, else active.

    Raises:
        InvalidInput: the slug is not a DNS label, or the name is not fit to display.
        NotFound: unknown plan.
        Conflict: the slug is taken.
    """
    # fullmatch: ``$`` alone would let a trailing newline through.
    if not re.fullmatch(SLUG_PATTERN, slug):
        raise InvalidInput(
            f"Slug {slug!r} is not a DNS label: use 1-63 lowercase ASCII letters, digits and "
            "inner hyphens.",
            slug=slug,
        )
    try:
        check_display_name(name)
    except ValueError as exc:
        raise InvalidInput(f"Tenant name {name!r} is refused: {exc}.", tenant=slug) from None
    plan = get_plan(session, plan_id)
    if session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
        raise Conflict(f"Tenant slug {slug!r} is already taken.", tenant=slug)
    now = now or utcnow()
    tenant = Tenant(
        slug=slug,
        name=name,
        plan=plan,
        isolation=plan.isolation,
        cloud=cloud,
        region=region,
        state=lifecycle.initial_state,
    )
    session.add(tenant)
    session.flush()
    trial_end = now + timedelta(days=trial_days) if trial_days > 0 else None
    session.add(
        Subscription(
            tenant_id=tenant.id,
            plan_id=plan.id,
            status=SubscriptionStatus.TRIALING if trial_end else SubscriptionStatus.ACTIVE,
            current_period_start=now,
            current_period_end=trial_end or now + timedelta(days=plan.billing_period_days),
            trial_end=trial_end,
        )
    )
    session.add(
        LifecycleTransition(
            tenant_id=tenant.id,
            action="create",
            from_state="",
            to_state=tenant.state,
            actor=actor,
            reason="tenant requested",
        )
    )
    session.flush()
    return tenant
