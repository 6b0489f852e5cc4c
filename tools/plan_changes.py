"""change_plan: upgrades apply now with proration; downgrades wait for the period end."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from paybill.server.core.errors import InvalidInput
from paybill.server.domain.billing import prorate, require_fits
from paybill.server.domain.plan_changes import moves_data
from paybill.server.domain.tenants import get_plan
from paybill.server.executors.dataplane.metering import pii_rows, row_counts
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.guards import billing
from paybill.server.guards.approval import isolation_move
from paybill.server.guards.call import Call
from paybill.server.guards.effects_infra import ISOLATION_MOVE_EFFECT, approved_plan
from paybill.server.guards.spec import GatedOutput, MutatingInput, Scope, ToolOutput, ToolSpec
from paybill.server.workflows.engine.runs import enqueue, schedule_replacing
from paybill.server.workflows.kinds import migration
from paybill.server.workflows.kinds.billing_runs import SCHEDULED_DOWNGRADE
from paybill.server.workflows.kinds.tenant_runs import PLAN_CHANGE
from paybill.tools.models import SLUG_FIELD, RunOut, TenantOut
from paybill.tools.resolve import tenant_by_slug
from paybill.tools.tenants import tenant_out


class ChangePlanInput(MutatingInput):
    tenant: str = SLUG_FIELD
    plan: str = Field(min_length=1, max_length=32, description="Target plan id.")
    migrate_isolation: bool | None = Field(
        default=None,
        description="When an upgrade's plan uses another isolation model (pooled, bridge, "
        "silo): true moves the tenant's data there in an approval-gated isolation_migration "
        "run; false switches the plan only and leaves the data where it is. Default: move "
        "where the store can host the target model (PostgreSQL); the embedded SQLite store "
        "keeps every tenant pooled.",
    )


class ProrationOut(ToolOutput):
    seconds_remaining: int
    credit_cents: int
    charge_cents: int
    amount_due_cents: int
    currency: str


class IsolationMigrationOut(ToolOutput):
    source: str = Field(description="Isolation model the data is in now.")
    target: str = Field(description="Isolation model the data moves to.")
    rows: dict[str, int] = Field(description="The tenant's rows per table at the source now.")
    max_read_only_seconds: int = Field(
        description="Bound of the read-only window: writes are refused (the tenant is "
        "updating) from the approval until the run ends; beyond the bound it rolls back."
    )
    steps: list[str]


class ChangePlanOutput(GatedOutput):
    tenant: TenantOut
    from_plan: str
    to_plan: str
    direction: Literal["upgrade", "downgrade"]
    status: Literal["applied", "scheduled", "preview"]
    effective_at: datetime
    proration: ProrationOut | None
    workflow: RunOut | None = Field(
        default=None,
        description="An applied upgrade's run bringing the infrastructure to the new tier "
        "(follow it with get_workflow), or a downgrade's run scheduled for the period end; "
        "None for previews.",
    )
    isolation_migration_required: bool = Field(
        description="The target plan uses another isolation model than the one the tenant's "
        "data is in; see isolation_migration for whether this call moves it."
    )
    isolation_migration: IsolationMigrationOut | None = Field(
        default=None,
        description="The data move this upgrade runs (workflow kind isolation_migration) or, "
        "for a dry run, would run; None when the data stays where it is.",
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
    route = TenantRoute(tenant.id, tenant.isolation)
    timeout = call.services.settings.statement_timeout_ms
    counts = row_counts(call.services.engines, route, timeout, call.tenant_work)
    rows = sum(counts.values())
    # Features in use only matter for downgrades: an upgrade never takes one away.
    pii = 0 if upgrade else pii_rows(call.services.engines, route, timeout, call.tenant_work)
    require_fits(session, tenant, new, rows, pii_rows=pii)
    now = call.now
    moving = None
    postgres = call.services.engines.postgres
    if moves_data(tenant, new, requested=args.migrate_isolation, postgres=postgres):
        moving = IsolationMigrationOut(
            source=tenant.isolation.value,
            target=new.isolation.value,
            rows=counts,
            max_read_only_seconds=migration.MAX_READ_ONLY_SECONDS,
            steps=[step.name for step in migration.ISOLATION_MIGRATION.steps],
        )
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
    run = None
    if not call.dry_run:
        if upgrade:
            lifecycle, actor = call.services.lifecycle, call.caller.name
            lifecycle.apply(session, tenant, "update", actor=actor, reason=f"upgrade to {new.id}")
            # Billing and entitlements switch now; the infrastructure follows in the run.
            tenant.plan, sub.plan_id, sub.scheduled_plan_id = new, new.id, None
            session.flush()
            kind, run_input = PLAN_CHANGE, {"from_plan": old.id, "to_plan": new.id}
            if moving is not None:
                # The data follows in a read-only window; a failure restores the old plan.
                # With Terraform: exactly the saved plan the approval binds is applied.
                kind, run_input = (
                    migration.ISOLATION_MIGRATION,
                    migration.run_input(tenant, old, new, now, terraform_plan=approved_plan(call)),
                )
            run = enqueue(session, tenant, kind, created_by=actor, input=run_input)
            status = "applied"
        else:
            sub.scheduled_plan_id = new.id
            # A worker applies it at the period end, re-checking that it still fits. One
            # schedule per tenant: this request replaces a waiting one (the latest wins).
            run = schedule_replacing(
                session,
                tenant,
                SCHEDULED_DOWNGRADE,
                created_by=call.caller.name,
                # At the period end the data moves too when the isolation model changes.
                input={"from_plan": old.id, "to_plan": new.id, "migrate": moving is not None},
                not_before=sub.current_period_end,
            )
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
        workflow=RunOut.of(run) if run is not None else None,
        isolation_migration_required=new.isolation != tenant.isolation,
        isolation_migration=moving,
    )


TOOLS = [
    ToolSpec(
        name="change_plan",
        title="Change plan",
        description="Move a tenant to another plan. Upgrades apply now and return the proration; "
        "downgrades are scheduled for the end of the billing period (one schedule per tenant: a "
        "new downgrade request replaces the waiting one, the latest wins). Refused when the "
        "tenant's usage exceeds the target plan's limits or its subscription is not in "
        "good standing (upgrades). A change to another isolation model (pooled, bridge, "
        "silo) waits for an approval, then moves the tenant's data in an isolation_migration "
        "run (at once for an upgrade, at the period end for a downgrade): writes are refused "
        "until it ends, reads are served throughout, and a failure rolls back to the old plan "
        "and storage.",
        input_model=ChangePlanInput,
        output_model=ChangePlanOutput,
        handler=change_plan,
        scope=Scope.TENANT,
        tenant_of=tenant_by_slug,
        lifecycle_action="update",
        approval_when=isolation_move,
        effect=ISOLATION_MOVE_EFFECT,
        billing_gate=billing.upgrade,
    ),
]
