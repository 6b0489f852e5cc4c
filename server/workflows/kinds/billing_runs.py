"""The scheduled downgrade: change_plan records it with ``not_before`` = the period end.

At that moment a worker runs it: the target plan must still be the one scheduled and must
still fit (usage may have grown since the request), then the plan and subscription switch
with the tenant ``updating``, the infrastructure follows the new tier and the tenant is
``active`` again. A run whose schedule was superseded (an upgrade, another downgrade, a
cancellation, offboarding) ends at its first step with the remaining steps skipped.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from paybill.server.core.errors import InvalidTransition
from paybill.server.core.vocabulary import StepStatus
from paybill.server.domain.billing import require_fits
from paybill.server.domain.tenants import get_plan
from paybill.server.executors.dataplane.metering import pii_rows, row_counts
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.store import WorkflowRun
from paybill.server.workflows.engine.definitions import Definition, Step, StepContext
from paybill.server.workflows.kinds import migration
from paybill.server.workflows.kinds.tenant_runs import (
    _fail_tenant,
    _transition,
    provision_infrastructure,
)

KIND = "scheduled_downgrade"
CHECK = "check_fits"
# A tenant leaving the platform: a pending downgrade no longer matters.
LEAVING = ("offboarding", "archived", "deleted")


def _skip_rest(context: StepContext, why: str) -> dict[str, Any]:
    for step in context.run().steps:
        if step.name != CHECK:
            step.status = StepStatus.SKIPPED
    return {"superseded": why}


def check_fits(context: StepContext) -> dict[str, Any]:
    """Raises: QuotaExceeded (usage outgrew the target plan), InvalidTransition (the tenant
    is not active, e.g. suspended); either fails the run and leaves the plan as it is."""
    tenant, target = context.tenant(), context.input["to_plan"]
    sub = tenant.subscription
    if tenant.plan_id == target:
        return {"already_on": target}  # a retry after the switch: the infrastructure remains
    scheduled = sub.scheduled_plan_id if sub is not None else None
    if scheduled != target or tenant.plan_id != context.input["from_plan"]:
        return _skip_rest(context, f"the scheduled plan is now {scheduled or 'none'}")
    if tenant.state in LEAVING:
        return _skip_rest(context, f"the tenant is {tenant.state}")
    if tenant.state != "active":
        raise InvalidTransition(
            tenant=tenant.slug,
            state=tenant.state,
            action=f"apply the scheduled downgrade to {target}",
            allowed=context.services.lifecycle.allowed_actions(tenant.state),
        )
    services = context.services
    route = TenantRoute(tenant.id, tenant.isolation)
    timeout = services.settings.statement_timeout_ms
    # Nothing written yet: the step's reads end before the counts (``tenant_work``).
    rows = sum(row_counts(services.engines, route, timeout, context.tenant_work).values())
    pii = pii_rows(services.engines, route, timeout, context.tenant_work)
    require_fits(context.session, tenant, get_plan(context.session, target), rows, pii_rows=pii)
    return {"fits": target, "rows": rows}


def switch_plan(context: StepContext) -> dict[str, Any]:
    """The lifecycle move and the plan switch commit together: never one without the other.
    A downgrade to another isolation model hands over to an isolation migration instead."""
    if context.input.get("migrate"):
        return _hand_over_to_migration(context)
    moved = _transition("update", f"scheduled downgrade to {context.input['to_plan']}")(context)
    tenant, target = context.tenant(), get_plan(context.session, context.input["to_plan"])
    sub = tenant.subscription
    tenant.plan = target
    if sub is not None:
        sub.plan_id, sub.scheduled_plan_id = target.id, None
    context.session.flush()
    return {**moved, "plan": target.id}


def _hand_over_to_migration(context: StepContext) -> dict[str, Any]:
    """Switch the plan and start the data move (approved with the downgrade); the migration
    run provisions, copies, verifies, switches and activates. Converges when resumed."""
    this = context.run()
    started = context.session.scalar(
        select(WorkflowRun).where(
            WorkflowRun.tenant_id == context.tenant_id,
            WorkflowRun.kind == migration.KIND,
            WorkflowRun.created_at >= this.created_at,
        )
    )
    if started is None:
        now = context.services.clock()
        started = migration.start(
            context.session,
            context.services.lifecycle,
            context.tenant(),
            get_plan(context.session, context.input["to_plan"]),
            actor=context.actor,
            reason=f"scheduled downgrade to {context.input['to_plan']}",
            now=now,
            # Scheduled for now: it waits for this run's tenant lock instead of conflicting.
            not_before=now,
        )
    for step in this.steps:
        if step.name in ("apply_infrastructure", "activate"):
            step.status = StepStatus.SKIPPED
    return {"plan": context.input["to_plan"], "isolation_migration": started.id}


def _failed(context: StepContext, message: str) -> None:
    """A refused downgrade clears the schedule (get_tenant must not promise it any more);
    a failure after the switch leaves the tenant ``failed`` for retry_workflow."""
    sub = context.tenant().subscription
    if sub is not None and sub.scheduled_plan_id == context.input["to_plan"]:
        sub.scheduled_plan_id = None
    _fail_tenant(context, message)


SCHEDULED_DOWNGRADE = Definition(
    kind=KIND,
    steps=(
        Step(CHECK, check_fits),
        Step("switch_plan", switch_plan),
        Step("apply_infrastructure", provision_infrastructure),
        Step("activate", _transition("updated", "scheduled downgrade applied")),
    ),
    on_failure=_failed,
)
