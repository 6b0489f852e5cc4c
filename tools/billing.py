"""set_billing_state: where a billing system's webhook lands (Stripe's subscription events).

A webhook handler in front of Paybill verifies the billing system's signature, maps the event
to a subscription status and calls this tool as a ``billing_agent`` principal, passing the
event's id as ``event_id``: a redelivered event then replays the first result and changes
nothing. Paybill never calls the billing system; it only enforces what it is told, plus the
time-based rules of ``policies/billing.yaml`` (``paybill.server.workflows.engine.billing_tick``).
"""

from __future__ import annotations

from pydantic import AwareDatetime, Field, model_validator

from paybill.server.core.vocabulary import SubscriptionStatus
from paybill.server.domain.subscriptions import newer_event_applied, set_status, subscription_of
from paybill.server.guards.call import Call
from paybill.server.guards.spec import MutatingInput, Scope, ToolOutput, ToolSpec
from paybill.tools.models import SLUG_FIELD, TenantOut
from paybill.tools.resolve import tenant_by_slug
from paybill.tools.tenants import tenant_out

EVENT_KEY_PREFIX = "event:"


class SetBillingStateInput(MutatingInput):
    tenant: str = SLUG_FIELD
    status: SubscriptionStatus = Field(
        description="trialing, active (paid: resumes a tenant suspended for non-payment), "
        "past_due (starts the grace period) or canceled (service ends with the period)."
    )
    period_start: AwareDatetime | None = Field(
        default=None, description="The billing system's current_period_start, if it changed."
    )
    period_end: AwareDatetime | None = Field(
        default=None, description="The billing system's current_period_end, if it changed."
    )
    trial_end: AwareDatetime | None = Field(
        default=None, description="Required with status trialing (extends the trial)."
    )
    reason: str = Field(
        default="billing system event",
        min_length=3,
        max_length=500,
        description="Why (the invoice, the event type); kept in the audit log.",
    )
    event_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=190,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="The billing system's event id (Stripe: evt_...). Used as the "
        "idempotency key when none is given: a redelivered event changes nothing.",
    )
    event_created: AwareDatetime | None = Field(
        default=None,
        description="When the billing system created the event (Stripe: created). An event "
        "older than the latest one applied to this subscription is acknowledged and ignored "
        "(applied: false): webhooks arrive out of order.",
    )

    @model_validator(mode="after")
    def _event_is_the_idempotency_key(self) -> SetBillingStateInput:
        if self.event_id is not None and self.idempotency_key is None:
            self.idempotency_key = EVENT_KEY_PREFIX + self.event_id
        return self


class SetBillingStateOutput(ToolOutput):
    tenant: TenantOut = Field(description="The tenant afterwards, with its subscription.")
    from_status: str
    to_status: str
    resumed: bool = Field(description="The tenant was suspended for non-payment and resumed.")
    applied: bool = Field(description="False: the event was older than one applied already.")
    ignored_because: str | None = Field(
        default=None, description="Why the event changed nothing (applied: false)."
    )
    dry_run: bool


def set_billing_state(call: Call, args: SetBillingStateInput) -> SetBillingStateOutput:
    tenant = call.target()
    newer = newer_event_applied(call.session, tenant, args.event_created)
    if newer is not None:
        status = subscription_of(tenant).status.value
        return SetBillingStateOutput(
            tenant=tenant_out(call, tenant),
            from_status=status,
            to_status=status,
            resumed=False,
            applied=False,
            ignored_because=f"an event created at {newer.isoformat()} was applied already; "
            "this older one changes nothing",
            dry_run=call.dry_run,
        )

    def apply() -> SetBillingStateOutput:
        change = set_status(
            call.session,
            call.services.lifecycle,
            tenant,
            args.status,
            now=call.now,
            actor=call.caller.name,
            reason=args.reason,
            period_start=args.period_start,
            period_end=args.period_end,
            trial_end=args.trial_end,
            event_created=args.event_created,
        )
        return SetBillingStateOutput(
            tenant=tenant_out(call, tenant),
            from_status=change.from_status.value,
            to_status=change.to_status.value,
            resumed=change.resumed,
            applied=True,
            dry_run=call.dry_run,
        )

    if not call.dry_run:
        return apply()
    # Apply inside a savepoint so every check runs, then undo it.
    with call.session.begin_nested() as preview:
        out = apply()
        preview.rollback()
    return out


TOOLS = [
    ToolSpec(
        name="set_billing_state",
        title="Set billing state",
        description="Billing systems only: record a subscription's status as the billing "
        "system reports it (trialing, active, past_due, canceled) with its period. "
        "past_due starts the grace period after which the tenant is suspended; active "
        "resumes a tenant suspended for non-payment. Pass the billing event's id as "
        "event_id so a redelivered event changes nothing.",
        input_model=SetBillingStateInput,
        output_model=SetBillingStateOutput,
        handler=set_billing_state,
        scope=Scope.TENANT,
        tenant_of=tenant_by_slug,
    ),
]
