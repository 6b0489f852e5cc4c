"""Recording runs: what a tool does to start a workflow, and the tenant's run lock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, not_, select
from sqlalchemy.orm import Session

from paybill.server.core.errors import Conflict
from paybill.server.core.vocabulary import RunStatus, StepStatus
from paybill.server.store import Tenant, TenantRunLock, WorkflowRun, WorkflowStep
from paybill.server.workflows.engine.definitions import Definition
from paybill.server.workflows.engine.started import note_recorded

UNFINISHED = (RunStatus.PENDING, RunStatus.RUNNING)
# ``locked_by`` of a run the Temporal engine executes: no embedded worker claims it, even one
# started against the deployment's engine choice.
TEMPORAL_OWNER = "temporal"


def unfinished_run(session: Session, tenant_id: str) -> WorkflowRun | None:
    """The tenant's oldest run that has not finished, if any. A scheduled run (one with
    ``not_before``) still waiting is not counted: it may wait for weeks (a downgrade at the
    period end) and must not block suspensions, upgrades or offboarding meanwhile; the worker's
    tenant lock still runs one at a time, and such a run re-checks that it still applies."""
    waiting = and_(WorkflowRun.status == RunStatus.PENDING, WorkflowRun.not_before.is_not(None))
    return session.scalar(
        select(WorkflowRun)
        .where(
            WorkflowRun.tenant_id == tenant_id,
            WorkflowRun.status.in_(UNFINISHED),
            not_(waiting),
        )
        .order_by(WorkflowRun.created_at, WorkflowRun.id)
        .limit(1)
    )


def enqueue(
    session: Session,
    tenant: Tenant,
    definition: Definition,
    *,
    created_by: str,
    input: dict[str, Any],
    not_before: datetime | None = None,
) -> WorkflowRun:
    """Record a pending run of ``definition`` with every step pending; a worker executes it.

    A run with ``not_before`` is scheduled: it is not claimed before then, and neither
    blocks nor is blocked by the tenant's other runs until a worker claims it.

    Raises:
        Conflict: the tenant already has a run that has not finished (one run at a time).
    """
    busy = unfinished_run(session, tenant.id) if not_before is None else None
    if busy is not None:
        raise Conflict(
            f"Tenant {tenant.slug!r} already has a {busy.kind} run ({busy.id}) in progress; "
            "wait for it with get_workflow, then try again.",
            tenant=tenant.slug,
            workflow_id=busy.id,
        )
    run = WorkflowRun(
        tenant_id=tenant.id,
        kind=definition.kind,
        status=RunStatus.PENDING,
        input=input,
        created_by=created_by,
        not_before=not_before,
    )
    run.steps = [
        WorkflowStep(position=i, name=step.name, status=StepStatus.PENDING, attempts=0)
        for i, step in enumerate(definition.steps)
    ]
    session.add(run)
    session.flush()
    note_recorded(session, run.id)  # an engine told of runs starts it after the commit
    return run


def lock_of(session: Session, run: WorkflowRun) -> TenantRunLock | None:
    """The tenant lock ``run`` holds, if it holds it."""
    if run.tenant_id is None:
        return None
    lock = session.get(TenantRunLock, run.tenant_id)
    return lock if lock is not None and lock.run_id == run.id else None


def break_lock(session: Session, run: WorkflowRun) -> TenantRunLock | None:
    """Release ``run``'s tenant lock and worker lease whoever holds them; the run becomes
    claimable again and a worker resumes it. Returns the lock that was broken (or None)."""
    lock = lock_of(session, run)
    if lock is not None:
        session.delete(lock)
    run.locked_by, run.locked_until = None, None
    session.flush()
    return lock


def schedule_replacing(
    session: Session,
    tenant: Tenant,
    definition: Definition,
    *,
    created_by: str,
    input: dict[str, Any],
    not_before: datetime,
) -> WorkflowRun:
    """The tenant's one waiting run of ``definition``: the waiting one, if any, now carries
    ``input`` and ``not_before`` (the latest request wins); otherwise a new scheduled run.

    The tenant's row is locked first, so racing requests take turns and the later one
    replaces the earlier (a partial unique index refuses a second waiting run regardless).
    """
    session.execute(select(Tenant.id).where(Tenant.id == tenant.id).with_for_update())
    waiting = session.scalar(
        select(WorkflowRun)
        .where(
            WorkflowRun.tenant_id == tenant.id,
            WorkflowRun.kind == definition.kind,
            WorkflowRun.status == RunStatus.PENDING,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if waiting is None:
        return enqueue(
            session,
            tenant,
            definition,
            created_by=created_by,
            input=input,
            not_before=not_before,
        )
    waiting.input, waiting.not_before, waiting.created_by = dict(input), not_before, created_by
    session.flush()
    note_recorded(session, waiting.id)  # its engine re-reads the moment and the input
    return waiting
