"""The retry guard: only a tenant's latest run, only a failed one, and only in a tenant state
from which that kind of run may be retried."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from paybill.server.core.errors import Conflict, InvalidInput, InvalidTransition
from paybill.server.core.vocabulary import RunStatus
from paybill.server.guards.call import Call
from paybill.server.store import Tenant, WorkflowRun

# What retrying a failed run of each kind does to the tenant first (None: nothing).
RETRY_ACTIONS: dict[str, str | None] = {
    "provision": "retry_provision",
    "plan_change": "retry_update",
    "offboard": None,
    "delete_tenant": None,
    "scheduled_downgrade": "retry_update",
    # A migration left ``failed`` (not rolled back): the retry finishes the move.
    "isolation_migration": "retry_update",
}
# A run that failed before anything of it stayed (a migration rolled back, a downgrade
# refused before its switch) left the tenant ``active`` on its old plan: the retry starts the
# change over, after this lifecycle action (a migration: ``update``, the plan switched again,
# a new read-only window; a downgrade: none, it is scheduled again for now).
RESTART_ACTIONS: dict[str, str | None] = {
    "isolation_migration": "update",
    "scheduled_downgrade": None,
}
# Runs retried without a lifecycle action, and the state the tenant must still be in.
RETRY_STATES = {"offboard": "offboarding", "delete_tenant": "archived"}


@dataclass(frozen=True)
class RetryTarget:
    """The failed run to run again, and the lifecycle action to apply first (None: none)."""

    run: WorkflowRun
    action: str | None


def _latest_run_id(session: Session, tenant: Tenant) -> str | None:
    return session.scalar(
        select(WorkflowRun.id)
        .where(WorkflowRun.tenant_id == tenant.id)
        .order_by(WorkflowRun.created_at.desc(), WorkflowRun.id.desc())
        .limit(1)
    )


def restarts(run: WorkflowRun, tenant: Tenant) -> bool:
    """A retry of ``run`` starts its change over: the tenant is where the run found it,
    active on the plan (and storage) it had."""
    return (
        run.kind in RESTART_ACTIONS
        and tenant.state == "active"
        and tenant.plan_id == run.input.get("from_plan")
        and tenant.isolation.value == run.input.get("from_isolation", tenant.isolation.value)
    )


def check_retry(call: Call) -> None:
    """Admit the run named by ``arguments.workflow_id`` for a retry (``Call.retry``).

    Raises:
        InvalidInput: the run did not fail.
        Conflict: a later run of the tenant exists.
        InvalidTransition: the tenant's state does not allow retrying this kind of run.
    """
    if not call.spec.retries_run:
        return
    tenant, session = call.target(), call.session
    run = session.get(WorkflowRun, call.arguments.workflow_id)
    if run is None:  # the tenant resolver found it moments ago in this transaction
        raise RuntimeError("workflow run vanished")
    if run.status is not RunStatus.FAILED:
        raise InvalidInput(
            f"Only failed runs can be retried; run {run.id} is {run.status.value}.",
            workflow_id=run.id,
            status=run.status.value,
        )
    latest = _latest_run_id(session, tenant)
    if latest != run.id:
        raise Conflict(
            f"Run {run.id} is not the tenant's latest run; retry {latest} instead.",
            latest_workflow_id=latest,
        )
    allowed = call.services.lifecycle.allowed_actions(tenant.state)
    action = RETRY_ACTIONS.get(run.kind, "")
    legal = (action is None and tenant.state == RETRY_STATES.get(run.kind)) or (
        action and action in allowed
    )
    if restarts(run, tenant):
        action = RESTART_ACTIONS[run.kind]
        legal = action is None or action in allowed
    if not legal:
        raise InvalidTransition(
            tenant=tenant.slug, state=tenant.state, action=f"retry {run.kind}", allowed=allowed
        )
    call.retry = RetryTarget(run, action or None)
