"""Billing rules: admission by subscription status, proration, and limits against usage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from paybill.server.core.errors import BillingBlocked, QuotaExceeded
from paybill.server.core.vocabulary import SubscriptionStatus
from paybill.server.store import Plan, Principal, Subscription, Tenant

BLOCKING = (SubscriptionStatus.PAST_DUE, SubscriptionStatus.CANCELED)


def require_good_standing(tenant: Tenant, what: str) -> None:
    """Raises: BillingBlocked when the subscription is past_due or canceled."""
    sub = tenant.subscription
    if sub is not None and sub.status in BLOCKING:
        raise BillingBlocked(
            f"Cannot {what} tenant {tenant.slug!r}: its subscription is {sub.status.value}. "
            "Settle the invoice first; the billing system will reactivate it.",
            tenant=tenant.slug,
            subscription_status=sub.status.value,
        )


@dataclass(frozen=True)
class Proration:
    """Charge for the rest of the current period at the new price, minus the unused credit."""

    seconds_remaining: int
    credit_cents: int
    charge_cents: int

    @property
    def amount_due_cents(self) -> int:
        return self.charge_cents - self.credit_cents


def prorate(sub: Subscription, old: Plan, new: Plan, now: datetime) -> Proration:
    period = (sub.current_period_end - sub.current_period_start).total_seconds()
    remaining = max(0.0, min(period, (sub.current_period_end - now).total_seconds()))
    share = remaining / period if period > 0 else 0.0
    return Proration(
        seconds_remaining=int(remaining),
        credit_cents=round(old.price_cents * share),
        charge_cents=round(new.price_cents * share),
    )


def seats_used(session: Session, tenant: Tenant) -> int:
    """Seats are the active principals bound to the tenant."""
    count = session.scalar(
        select(func.count())
        .select_from(Principal)
        .where(Principal.tenant_id == tenant.id, Principal.disabled.is_(False))
    )
    return count or 0


def features_in_use(plan: Plan, *, pii_rows: int) -> dict[str, str]:
    """Features the tenant relies on that ``plan`` lacks, with what uses them.

    Only features that leave state behind count: ``data.pii`` while PII columns hold values
    (a plan without it must not keep personal data nobody on it may read). Call-time
    entitlements (``data.sql``, ``audit.export``...) simply stop working after a downgrade.
    """
    used = {"data.pii": f"{pii_rows} rows hold PII values"} if pii_rows else {}
    return {name: what for name, what in used.items() if name not in plan.features}


def require_fits(
    session: Session, tenant: Tenant, plan: Plan, rows: int, *, pii_rows: int = 0
) -> None:
    """Raises: QuotaExceeded listing every limit of ``plan`` the tenant's usage exceeds, and
    every feature in use that ``plan`` lacks.

    ``rows`` is the tenant's current row count and ``pii_rows`` its rows holding PII values,
    both measured by the data plane.
    """
    used = {"seats": seats_used(session, tenant), "rows": rows}
    limits = {"seats": plan.max_seats, "rows": plan.max_rows}
    over: dict[str, Any] = {
        name: {"used": used[name], "limit": limit}
        for name, limit in limits.items()
        if used[name] > limit
    }
    described = [f"{n} {v['used']} > {v['limit']}" for n, v in over.items()]
    if missing := features_in_use(plan, pii_rows=pii_rows):
        over["features"] = missing
        described += [f"feature {name} in use ({what})" for name, what in missing.items()]
    if over:
        raise QuotaExceeded(
            f"Tenant {tenant.slug!r} does not fit plan {plan.id}: {', '.join(described)}. "
            "Reduce usage first, or choose a larger plan.",
            tenant=tenant.slug,
            plan=plan.id,
            exceeds=over,
        )
