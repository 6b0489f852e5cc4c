"""Billing guard: upgrades, and retries of billed runs, need a subscription in good standing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from paybill.server.core.errors import BillingBlocked
from paybill.server.core.vocabulary import SubscriptionStatus
from paybill.server.guards.billing import check_billing
from paybill.server.guards.retry import RetryTarget
from tests.support.guard_calls import ENTERPRISE, FREE, PRO, Rows, make_call, shipped, tenant

ACTIVE, TRIALING = SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING
PAST_DUE, CANCELED = SubscriptionStatus.PAST_DUE, SubscriptionStatus.CANCELED


@pytest.mark.parametrize(
    ("situation", "current", "target", "status", "expected"),
    [
        ("upgrade, active", FREE, "pro", ACTIVE, None),
        ("upgrade, trialing", FREE, "enterprise", TRIALING, None),
        ("upgrade, past_due", FREE, "pro", PAST_DUE, "past_due"),
        ("upgrade, canceled", PRO, "enterprise", CANCELED, "canceled"),
        ("downgrade, past_due", ENTERPRISE, "free", PAST_DUE, None),
        ("same plan, canceled", PRO, "pro", CANCELED, None),
        ("unknown plan (the handler's NOT_FOUND), past_due", FREE, "platinum", PAST_DUE, None),
    ],
)
def test_upgrades(situation, current, target, status, expected) -> None:
    call = make_call(
        shipped("change_plan"),
        target=tenant(on=current, subscription=status),
        arguments={"tenant": "acme", "plan": target},
        session=Rows(FREE, PRO, ENTERPRISE),
    )
    if expected is None:
        check_billing(call)
        return
    with pytest.raises(BillingBlocked) as refused:
        check_billing(call)
    assert refused.value.details == {"tenant": "acme", "subscription_status": expected}
    message = f"Cannot upgrade tenant 'acme': its subscription is {expected}. Settle the invoice"
    assert refused.value.message.startswith(message)


@pytest.mark.parametrize(
    ("kind", "status", "expected"),
    [
        ("provision", PAST_DUE, "BILLING_BLOCKED"),
        ("plan_change", CANCELED, "BILLING_BLOCKED"),
        ("isolation_migration", PAST_DUE, "BILLING_BLOCKED"),
        ("provision", ACTIVE, None),
        ("scheduled_downgrade", PAST_DUE, None),
        ("offboard", CANCELED, None),
        ("delete_tenant", PAST_DUE, None),
    ],
)
def test_retries(kind: str, status: SubscriptionStatus, expected: str | None) -> None:
    run = SimpleNamespace(id="r-1", kind=kind)
    call = make_call(
        shipped("retry_workflow"),
        target=tenant("failed", subscription=status),
        arguments={"workflow_id": "00000000-0000-0000-0000-000000000001"},
        retry=RetryTarget(run, action=None),
    )
    if expected is None:
        check_billing(call)
        return
    with pytest.raises(BillingBlocked) as refused:
        check_billing(call)
    assert refused.value.message.startswith(f"Cannot retry the {kind} run of tenant 'acme'")


def test_a_tool_without_a_gate_is_never_blocked() -> None:
    arguments = {"tenant": "acme", "reason": "review"}
    call = make_call(
        shipped("suspend_tenant"), target=tenant(subscription=CANCELED), arguments=arguments
    )
    check_billing(call)
