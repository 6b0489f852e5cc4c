"""The billing tick: apply ``policies/billing.yaml`` at ``services.clock()``.

    trials     trialing past trial_end  -> the policy's trial_end_status (past_due: the grace
                                           period counts from trial_end)
    periods    active past period end   -> the period rolls forward (as many as have passed)
    grace      past_due longer than past_due_grace_days, tenant active -> suspended
    canceled   canceled past period end, tenant active -> suspended (canceled_at_period_end)

Each tenant is handled in a transaction of its own, with its subscription row locked and the
conditions read again under the lock, so several workers may tick at once and one tenant's
failure (a concurrent lifecycle change) never stops the rest. Every change is audited as
``billing.policy``; suspensions are lifecycle transitions by ``billing-policy`` with a reason
naming the rule. The worker calls it every ``check_every_seconds`` (``BillingTicker``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from paybill.server.core.errors import PaybillError
from paybill.server.core.vocabulary import Decision, SubscriptionStatus
from paybill.server.domain import audit
from paybill.server.domain.billing_policy import BILLING_ACTOR
from paybill.server.store import Subscription, Tenant

if TYPE_CHECKING:
    from paybill.server.workflows.engine.services import Services

log = logging.getLogger("paybill.billing")
S = SubscriptionStatus


@dataclass(frozen=True)
class BillingChange:
    tenant: str  # slug
    rule: str  # the policy key that caused it
    change: str  # what happened, e.g. "suspended", "trialing -> past_due"


@dataclass
class BillingReport:
    at: datetime
    changes: list[BillingChange] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # slugs left for the next tick

    def of(self, rule: str) -> list[str]:
        """Slugs changed by ``rule``."""
        return [c.tenant for c in self.changes if c.rule == rule]


Rule = Callable[["Services", Session, Tenant, Subscription, datetime], BillingChange | None]


def _record(
    services: Services, session: Session, tenant: Tenant, rule: str, outcome: str, detail: str
) -> None:
    """``outcome`` is a short word (the audit column is narrow); ``detail`` says the rest."""
    services.audit.append(
        session,
        audit.AuditEntry(
            principal=BILLING_ACTOR,
            tool="billing.policy",
            arguments={"rule": rule},
            decision=Decision.ALLOWED,
            rule=f"policy:billing.yaml:{rule}",
            outcome=outcome,
            tenant_id=tenant.id,
            detail=detail,
        ),
    )


def _suspend(
    services: Services, session: Session, tenant: Tenant, rule: str, reason: str
) -> BillingChange | None:
    if tenant.state != "active":
        return None  # suspended already, or busy (updating): the next tick looks again
    services.lifecycle.apply(session, tenant, "suspend", actor=BILLING_ACTOR, reason=reason)
    _record(services, session, tenant, rule, "suspended", reason)
    return BillingChange(tenant.slug, rule, "suspended")


def expire_trial(
    services: Services, session: Session, tenant: Tenant, sub: Subscription, now: datetime
) -> BillingChange | None:
    if sub.status is not S.TRIALING or sub.trial_end is None or sub.trial_end > now:
        return None
    target = services.billing.trial_end_status
    if target is S.PAST_DUE:
        sub.past_due_since = sub.trial_end
    else:
        start = sub.trial_end
        sub.current_period_start = start
        sub.current_period_end = start + timedelta(days=tenant.plan.billing_period_days)
    sub.status = target
    change = f"trialing -> {target.value}"
    _record(
        services, session, tenant, "trial_end_status", "trial_ended", f"{change} at {sub.trial_end}"
    )
    return BillingChange(tenant.slug, "trial_end_status", change)


def roll_period(
    services: Services, session: Session, tenant: Tenant, sub: Subscription, now: datetime
) -> BillingChange | None:
    """An active subscription renews: the billing system reports a failed renewal as
    past_due, so until it does, the next period is assumed paid (Stripe's renewal)."""
    if sub.status is not S.ACTIVE or sub.current_period_end > now:
        return None
    length = timedelta(days=tenant.plan.billing_period_days)
    start = sub.current_period_end
    while start + length <= now:
        start += length
    sub.current_period_start, sub.current_period_end = start, start + length
    change = f"period -> {sub.current_period_end.isoformat()}"
    _record(services, session, tenant, "billing_period", "period_rolled", change)
    return BillingChange(tenant.slug, "billing_period", change)


def suspend_after_grace(
    services: Services, session: Session, tenant: Tenant, sub: Subscription, now: datetime
) -> BillingChange | None:
    grace = timedelta(days=services.billing.past_due_grace_days)
    if sub.status is not S.PAST_DUE or sub.past_due_since is None:
        return None
    if sub.past_due_since + grace > now:
        return None
    days = services.billing.past_due_grace_days
    reason = (
        f"billing policy past_due_grace_days={days}: subscription past_due since "
        f"{sub.past_due_since.isoformat()}"
    )
    return _suspend(services, session, tenant, "past_due_grace_days", reason)


def suspend_canceled(
    services: Services, session: Session, tenant: Tenant, sub: Subscription, now: datetime
) -> BillingChange | None:
    if services.billing.canceled_at_period_end != "suspend":
        return None
    if sub.status is not S.CANCELED or sub.current_period_end > now:
        return None
    reason = (
        "billing policy canceled_at_period_end=suspend: subscription canceled, period ended "
        f"{sub.current_period_end.isoformat()}"
    )
    return _suspend(services, session, tenant, "canceled_at_period_end", reason)


# Trials first: a trial that just became past_due is then checked against its grace period.
RULES: tuple[Rule, ...] = (expire_trial, roll_period, suspend_after_grace, suspend_canceled)
NOT_BILLED = ("requested", "offboarding", "archived", "deleted")


def _candidates(services: Services, now: datetime) -> list[tuple[str, str]]:
    """(tenant id, slug) of tenants some rule may apply to; each is re-read under lock."""
    with Session(services.db.engine) as session:
        rows = session.execute(
            select(Tenant.id, Tenant.slug)
            .join(Subscription, Subscription.tenant_id == Tenant.id)
            .where(
                Tenant.state.not_in(NOT_BILLED),
                (
                    (Subscription.status == S.TRIALING)
                    | (Subscription.status == S.PAST_DUE)
                    | (Subscription.current_period_end <= now)
                ),
            )
            .order_by(Tenant.slug)
        ).all()
    return [(row.id, row.slug) for row in rows]


def apply_billing_policies(services: Services) -> BillingReport:
    """Apply every rule of the billing policy at ``services.clock()``; return what changed.

    Never raises for one tenant: a tenant whose change fails is logged, listed in
    ``errors`` and tried again on the next tick.
    """
    now = services.clock()
    report = BillingReport(at=now)
    for tenant_id, slug in _candidates(services, now):
        changes: list[BillingChange] = []
        try:
            with Session(services.db.engine, expire_on_commit=False) as session, session.begin():
                sub = session.scalar(
                    select(Subscription)
                    .where(Subscription.tenant_id == tenant_id)
                    .with_for_update()
                )
                tenant = session.get(Tenant, tenant_id)
                if sub is None or tenant is None or tenant.state in NOT_BILLED:
                    continue
                for rule in RULES:
                    change = rule(services, session, tenant, sub, now)
                    if change is not None:
                        changes.append(change)
                session.flush()
            report.changes += changes  # committed
        except PaybillError:
            log.warning("billing policy for tenant %s refused; next tick retries", slug)
            report.errors.append(slug)
        except Exception:
            log.exception("billing policy for tenant %s failed; next tick retries", slug)
            report.errors.append(slug)
    return report


class BillingTicker:
    """Runs ``apply_billing_policies`` at most every ``check_every_seconds`` (wall time)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._next = 0.0

    def maybe_run(self) -> BillingReport | None:
        if time.monotonic() < self._next:
            return None
        self._next = time.monotonic() + self.services.billing.check_every_seconds
        try:
            return apply_billing_policies(self.services)
        except Exception:
            log.exception("the billing tick failed; it runs again in the next interval")
            return None
