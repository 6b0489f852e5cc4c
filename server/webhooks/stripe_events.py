"""Stripe events as Paybill reads them, and what each asks of ``set_billing_state``.

Only the fields Paybill uses are modelled; Stripe's objects carry many more, ignored. The
tenant is named by the subscription's metadata ``paybill_tenant`` (its slug), which Stripe
copies onto the subscription's invoices (``parent.subscription_details.metadata`` since API
version 2025-03-31, ``subscription_details.metadata`` before).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from paybill.server.core.errors import InvalidInput

TENANT_METADATA = "paybill_tenant"
SUBSCRIPTION_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)
INVOICE_STATUS = {"invoice.payment_failed": "past_due", "invoice.paid": "active"}
# Stripe's subscription statuses -> Paybill's. "incomplete" (the first payment is still being
# attempted) and "paused" (a trial ended without a payment method) are not states Paybill
# has: such events are acknowledged and ignored, and the next event that is one applies.
SUBSCRIPTION_STATUS = {
    "trialing": "trialing",
    "active": "active",
    "past_due": "past_due",
    "unpaid": "past_due",
    "canceled": "canceled",
    "incomplete_expired": "canceled",
}


class _Stripe(BaseModel):
    model_config = ConfigDict(extra="ignore")


Parsed = TypeVar("Parsed", bound=_Stripe)


class EventData(_Stripe):
    object: dict[str, Any]


class StripeEvent(_Stripe):
    id: str = Field(min_length=4, max_length=190, pattern=r"^evt_[A-Za-z0-9_]+$")
    type: str = Field(min_length=1, max_length=100)
    created: int = Field(ge=0)
    data: EventData


class SubscriptionItem(_Stripe):
    current_period_start: int | None = None
    current_period_end: int | None = None


class SubscriptionItems(_Stripe):
    data: list[SubscriptionItem] = Field(default_factory=list)


class StripeSubscription(_Stripe):
    id: str = Field(max_length=190)
    status: str = Field(max_length=40)
    metadata: dict[str, str] = Field(default_factory=dict)
    # On the subscription before API version 2025-03-31, on its items since.
    current_period_start: int | None = None
    current_period_end: int | None = None
    items: SubscriptionItems = Field(default_factory=SubscriptionItems)
    trial_end: int | None = None


class SubscriptionDetails(_Stripe):
    metadata: dict[str, str] = Field(default_factory=dict)


class InvoiceParent(_Stripe):
    subscription_details: SubscriptionDetails | None = None


class StripeInvoice(_Stripe):
    id: str = Field(max_length=190)
    parent: InvoiceParent | None = None
    subscription_details: SubscriptionDetails | None = None  # before 2025-03-31


@dataclass(frozen=True)
class Apply:
    """Call ``set_billing_state`` with these arguments."""

    tenant: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Ignore:
    """Acknowledge the event and change nothing, for this reason."""

    reason: str


def billing_call(event: StripeEvent) -> Apply | Ignore:
    """What ``event`` asks of Paybill.

    Raises:
        InvalidInput: a handled event whose object is malformed or names no tenant.
    """
    if event.type in SUBSCRIPTION_EVENTS:
        return _subscription_call(event, _parse(StripeSubscription, event))
    if event.type in INVOICE_STATUS:
        invoice = _parse(StripeInvoice, event)
        details = (invoice.parent.subscription_details if invoice.parent else None) or (
            invoice.subscription_details
        )
        tenant = _tenant(details.metadata if details else {}, f"invoice {invoice.id}")
        status = INVOICE_STATUS[event.type]
        return Apply(tenant, _arguments(event, tenant, status, f"invoice {invoice.id}"))
    return Ignore(f"Paybill does not act on {event.type} events")


def _subscription_call(event: StripeEvent, sub: StripeSubscription) -> Apply | Ignore:
    tenant = _tenant(sub.metadata, f"subscription {sub.id}")
    status = "canceled" if event.type.endswith(".deleted") else SUBSCRIPTION_STATUS.get(sub.status)
    if status is None:
        return Ignore(f"subscription status {sub.status!r} has no Paybill equivalent")
    arguments = _arguments(event, tenant, status, f"subscription {sub.id}")
    item = sub.items.data[0] if sub.items.data else SubscriptionItem()
    start = sub.current_period_start or item.current_period_start
    end = sub.current_period_end or item.current_period_end
    if status == "trialing":
        arguments["trial_end"] = _time(sub.trial_end)
    elif start is not None and end is not None:
        arguments["period_start"], arguments["period_end"] = _time(start), _time(end)
    return Apply(tenant, arguments)


def _arguments(event: StripeEvent, tenant: str, status: str, about: str) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "status": status,
        "event_id": event.id,
        "event_created": _time(event.created),
        "reason": f"Stripe {event.type} ({about})",
    }


def _parse(model: type[Parsed], event: StripeEvent) -> Parsed:
    try:
        return model.model_validate(event.data.object)
    except ValueError as exc:
        raise InvalidInput(
            f"The {event.type} event {event.id} does not carry the object Paybill expects "
            f"({str(exc).splitlines()[0]}).",
            event=event.id,
        ) from None


def _tenant(metadata: dict[str, str], about: str) -> str:
    tenant = metadata.get(TENANT_METADATA, "").strip()
    if not tenant:
        raise InvalidInput(
            f"The Stripe {about} has no metadata {TENANT_METADATA!r}: set it to the tenant's "
            "slug on the subscription (Stripe copies it onto its invoices).",
            metadata_key=TENANT_METADATA,
        )
    return tenant


def _time(epoch: int | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()
