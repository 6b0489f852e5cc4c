"""Subscription states (Stripe's vocabulary) and the moves between them.

    trialing ──▶ active ◀──▶ past_due
        │          │            │
        └──────────┴──▶ canceled ◀┘
    canceled ──▶ active   only explicitly: a new subscription in the billing system,
                          starting a new period

Setting a status to itself is allowed (a webhook repeating the current state, or moving the
period or trial end). ``trialing`` is only ever entered at creation: a paid subscription never
goes back to a trial, as in Stripe.

The billing system is the source of truth; these moves are what its webhook handler reports
through ``set_billing_state`` and what the billing tick (``workflows.engine.billing_tick``)
applies by policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from paybill.server.core.errors import InvalidInput, InvalidTransition
from paybill.server.core.vocabulary import SubscriptionStatus
from paybill.server.domain.billing_policy import BILLING_ACTOR
from paybill.server.domain.lifecycle import Lifecycle
from paybill.server.domain.suspensions import suspension
from paybill.server.store import Subscription, Tenant

S = SubscriptionStatus
ALLOWED_MOVES: dict[SubscriptionStatus, frozenset[SubscriptionStatus]] = {
    S.TRIALING: frozenset({S.TRIALING, S.ACTIVE, S.PAST_DUE, S.CANCELED}),
    S.ACTIVE: frozenset({S.ACTIVE, S.PAST_DUE, S.CANCELED}),
    S.PAST_DUE: frozenset({S.PAST_DUE, S.ACTIVE, S.CANCELED}),
    S.CANCELED: frozenset({S.CANCELED, S.ACTIVE}),
}


@dataclass(frozen=True)
class StatusChange:
    from_status: SubscriptionStatus
    to_status: SubscriptionStatus
    resumed: bool  # the tenant was suspended for non-payment and is running again


def subscription_of(tenant: Tenant) -> Subscription:
    if tenant.subscription is None:
        raise RuntimeError(f"tenant {tenant.slug} has no subscription")
    return tenant.subscription


def newer_event_applied(
    session: Session, tenant: Tenant, created: datetime | None
) -> datetime | None:
    """When the latest billing event applied to ``tenant``'s subscription was created, if it
    is later than ``created`` (None: apply). The row is locked until the transaction ends, so
    two events racing are ordered by their creation, not by which commits last."""
    sub = subscription_of(tenant)
    if created is None:
        return None
    session.refresh(sub, with_for_update=True)
    latest = sub.last_event_at
    return latest if latest is not None and latest > created else None


def suspended_for_non_payment(session: Session, tenant: Tenant) -> bool:
    """True when the tenant's latest lifecycle move was the billing policy suspending it; a
    tenant an operator suspended (security review, maintenance) is not resumed by a payment."""
    record = suspension(session, tenant)
    return record is not None and record.actor == BILLING_ACTOR


def _require_period(start: datetime, end: datetime) -> None:
    if end <= start:
        raise InvalidInput(
            f"The billing period must end after it starts ({start.isoformat()} to "
            f"{end.isoformat()}).",
            period_start=start.isoformat(),
            period_end=end.isoformat(),
        )


def set_status(
    session: Session,
    lifecycle: Lifecycle,
    tenant: Tenant,
    status: SubscriptionStatus,
    *,
    now: datetime,
    actor: str,
    reason: str,
    period_start: datetime | None = None,
    period_end: datetime | None = None,
    trial_end: datetime | None = None,
    event_created: datetime | None = None,
) -> StatusChange:
    """Move the tenant's subscription to ``status`` and flush; paying (``active``) resumes a
    tenant the billing policy suspended, recorded as a lifecycle transition by ``actor``.

    Raises:
        InvalidTransition: the move is not in ``ALLOWED_MOVES``.
        InvalidInput: a period that ends before it starts, or a trial without a future end.
        Conflict: another request changed the tenant while it was being resumed.
    """
    sub = subscription_of(tenant)
    source = sub.status
    if status not in ALLOWED_MOVES[source]:
        raise InvalidTransition(
            tenant=tenant.slug,
            state=f"{source.value} (subscription)",
            action=f"set the subscription {status.value}",
            allowed=sorted(s.value for s in ALLOWED_MOVES[source]),
        )
    if status is S.TRIALING:
        if trial_end is None or trial_end <= now:
            raise InvalidInput(
                "A trialing subscription needs a trial_end in the future.",
                trial_end=trial_end.isoformat() if trial_end else None,
            )
        sub.trial_end = sub.current_period_end = trial_end
    elif source is S.CANCELED and status is S.ACTIVE:
        # A new subscription: a fresh period, starting now unless the billing system says.
        start = period_start or now
        end = period_end or start + timedelta(days=tenant.plan.billing_period_days)
        _require_period(start, end)
        sub.current_period_start, sub.current_period_end = start, end
    elif period_end is not None or period_start is not None:
        start = period_start or sub.current_period_start
        end = period_end or sub.current_period_end
        _require_period(start, end)
        sub.current_period_start, sub.current_period_end = start, end
    if status is S.PAST_DUE:
        # The grace period counts from the first missed payment, not from each reminder.
        sub.past_due_since = sub.past_due_since if source is S.PAST_DUE else now
    else:
        sub.past_due_since = None
    if status is S.CANCELED:
        # Nothing is left to downgrade: a scheduled run finds the schedule gone and skips.
        sub.scheduled_plan_id = None
    sub.status = status
    if event_created is not None:
        latest = sub.last_event_at
        sub.last_event_at = event_created if latest is None else max(latest, event_created)
    session.flush()
    resumed = False
    if status is S.ACTIVE and suspended_for_non_payment(session, tenant):
        lifecycle.apply(session, tenant, "resume", actor=actor, reason=f"paid: {reason}")
        resumed = True
    return StatusChange(from_status=source, to_status=status, resumed=resumed)
