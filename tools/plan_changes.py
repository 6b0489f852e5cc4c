"""change_plan: upgrades apply now with proration; downgrades wait for the period end."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from paybill.server.billing import prorate, require_fits, require_good_standing
from paybill.server.dataplane.metering import row_counts
from paybill.server.dataplane.naming import TenantRoute
from paybill.server.errors import InvalidInput
from paybill.server.guards.call import Call
from paybill.server.guards.spec import MutatingInput, Scope, ToolOutput, ToolSpec
from paybill.server.tenants import get_plan
from paybill.tools.models import SLUG_FIELD, TenantOut
from paybill.tools.resolve import tenant_by_slug
from paybill.tools.tenants import tenant_out


class ChangePlanInput(MutatingInput):
    tenant: str = SLUG_FIELD
    plan: str = Field(min_length=1, max_length=32, description="Target plan id.")


class ProrationOut(ToolOutput):
    seconds_remaining: int
    credit_cents: int
    charge_cents: int
    amount_due_cents: int
    currency: str


class ChangePlanOutput(ToolOutput):
    tenant: TenantOut
    from_plan: str
    to_plan: str
    direction: Literal["upgrade", "downgrade"]
    status: Literal["applied", "scheduled", "preview"]
    effective_at: datetime
    proration: ProrationOut | None
    isolation_migration_required: bool = Field(
        description="The target plan uses another isolation model; moving the data is a "
        "separate, approval-gated workflow."
    )


def change_plan(call: Call, args: ChangePlanInput) -> ChangePlanOutput:
    tenant, session = call.target(), call.session
    sub, old = tenant.subscription, tenant.plan
    if sub is None:
        raise RuntimeError(f"tenant {tenant.slug} has no subscription")
    new = get_plan(session, args.plan)
    if new.id == old.id:
        raise InvalidInput(f"Tenant {tenant.slug!r} is already on plan {new.id}.", plan=new.id)
    upgrade = new.tier > old.tier
    if upgrade:
        require_good_standing(tenant, "upgrade")
    route = TenantRoute(tenant.id, tenant.isolation)
    timeout = call.services.settings.statement_timeout_ms
    rows = sum(row_counts(call.services.engines, route, timeout).values())
    require_fits(session, tenant, new, rows)
    now = call.now
    proration = None
    if upgrade:
        p = prorate(sub, old, new, now)
        proration = ProrationOut(
            seconds_remaining=p.seconds_remaining,
            credit_cents=p.credit_cents,
            charge_cents=p.charge_cents,
            amount_due_cents=p.amount_due_cents,
            currency=new.currency,
        )
    status: Literal["applied", "scheduled", "preview"] = "preview"
    if not call.dry_run:
        if upgrade:
            lifecycle, actor = call.services.lifecycle, call.caller.name
            lifecycle.apply(session, tenant, "update", actor=actor, reason=f"upgrade to {new.id}")
            tenant.plan, sub.plan_id, sub.scheduled_plan_id = new, new.id, None
            lifecycle.apply(session, tenant, "updated", actor=actor, reason=f"on plan {new.id}")
            status = "applied"
        else:
            sub.scheduled_plan_id = new.id
            status = "scheduled"
        session.flush()
    return ChangePlanOutput(
        tenant=tenant_out(call, tenant),
        from_plan=old.id,
        to_plan=new.id,
        direction="upgrade" if upgrade else "downgrade",
        status=status,
        effective_at=now if upgrade else sub.current_period_end,
        proration=proration,
        isolation_migration_required=new.isolation != tenant.isolation,
    )


TOOLS = [
    ToolSpec(
        name="change_plan",
        title="Change plan",
        description="Move a tenant to another plan. Upgrades apply now and return the proration; "
        "downgrades are scheduled for the end of the billing period. Refused when the "
        "tenant's usage exceeds the target plan's limits or its subscription is not in "
        "good standing (upgrades).",
        input_model=ChangePlanInput,
        output_model=ChangePlanOutput,
        handler=change_plan,
        scope=Scope.TENANT,
        tenant_of=tenant_by_slug,
        lifecycle_action="update",
    ),
]
