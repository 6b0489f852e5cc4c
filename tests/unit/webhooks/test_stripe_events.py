"""What each Stripe event asks of set_billing_state, across Stripe API versions."""

from __future__ import annotations

from typing import Any

import pytest

from paybill.server.core.errors import InvalidInput
from paybill.server.webhooks.stripe_events import Apply, Ignore, StripeEvent, billing_call

CREATED = 1_767_000_000  # 2025-12-29T09:20:00Z


def _event(kind: str, obj: dict[str, Any]) -> StripeEvent:
    return StripeEvent.model_validate(
        {"id": "evt_1", "type": kind, "created": CREATED, "data": {"object": obj}}
    )


def _sub(status: str, **extra: Any) -> dict[str, Any]:
    return {"id": "sub_1", "status": status, "metadata": {"paybill_tenant": "acme"}, **extra}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("active", "active"),
        ("past_due", "past_due"),
        ("unpaid", "past_due"),
        ("canceled", "canceled"),
        ("incomplete_expired", "canceled"),
    ],
)
def test_subscription_statuses_map_to_paybills(status: str, expected: str) -> None:
    call = billing_call(_event("customer.subscription.updated", _sub(status)))
    assert isinstance(call, Apply)
    assert call.arguments["status"] == expected
    assert call.arguments["event_id"] == "evt_1"
    assert call.arguments["event_created"] == "2025-12-29T09:20:00+00:00"


@pytest.mark.parametrize("status", ["incomplete", "paused", "something_new"])
def test_statuses_paybill_has_no_equivalent_for_are_ignored(status: str) -> None:
    call = billing_call(_event("customer.subscription.updated", _sub(status)))
    assert isinstance(call, Ignore) and status in call.reason


def test_a_deleted_subscription_is_canceled_whatever_its_status_says() -> None:
    call = billing_call(_event("customer.subscription.deleted", _sub("active")))
    assert isinstance(call, Apply) and call.arguments["status"] == "canceled"


def test_periods_come_from_the_subscription_or_since_2025_its_items() -> None:
    old = _sub("active", current_period_start=CREATED, current_period_end=CREATED + 86_400)
    new = _sub(
        "active",
        items={"data": [{"current_period_start": CREATED, "current_period_end": CREATED + 86_400}]},
    )
    for obj in (old, new):
        call = billing_call(_event("customer.subscription.updated", obj))
        assert isinstance(call, Apply)
        assert call.arguments["period_end"] == "2025-12-30T09:20:00+00:00"


def test_a_trial_carries_its_end() -> None:
    call = billing_call(
        _event("customer.subscription.created", _sub("trialing", trial_end=CREATED + 86_400))
    )
    assert isinstance(call, Apply)
    assert call.arguments["trial_end"] == "2025-12-30T09:20:00+00:00"


@pytest.mark.parametrize(
    "invoice",
    [
        {
            "id": "in_1",
            "parent": {"subscription_details": {"metadata": {"paybill_tenant": "acme"}}},
        },
        {"id": "in_1", "subscription_details": {"metadata": {"paybill_tenant": "acme"}}},
    ],
    ids=["since-2025-03-31", "before"],
)
def test_invoices_name_the_tenant_in_either_api_version(invoice: dict[str, Any]) -> None:
    call = billing_call(_event("invoice.payment_failed", invoice))
    assert isinstance(call, Apply)
    assert (call.tenant, call.arguments["status"]) == ("acme", "past_due")


def test_an_event_without_the_tenant_is_refused() -> None:
    with pytest.raises(InvalidInput, match="paybill_tenant"):
        billing_call(_event("invoice.paid", {"id": "in_1"}))


def test_a_malformed_object_is_refused() -> None:
    with pytest.raises(InvalidInput, match="does not carry"):
        billing_call(_event("customer.subscription.updated", {"id": "sub_1"}))
