"""Workflow runs: follow one (get_workflow), run a failed one again, break a stuck lock."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlalchemy.orm import Session

from paybill.server.core.errors import InvalidInput, NotFound
from paybill.server.core.vocabulary import RunStatus
from paybill.server.domain.tenants import get_plan
from paybill.server.guards import billing
from paybill.server.guards.call import Call
from paybill.server.guards.retry import restarts
from paybill.server.guards.spec import (
    MutatingInput,
    Poll,
    Scope,
    ToolInput,
    ToolOutput,
    ToolSpec,
)
from paybill.server.store import Tenant, WorkflowRun
from paybill.server.workflows.engine.runs import break_lock, enqueue, lock_of, schedule_replacing
from paybill.server.workflows.engine.services import Services
from paybill.server.workflows.kinds import migration
from paybill.tools.models import RunLockOut, RunOut, TenantOut
from paybill.tools.resolve import scoped
from paybill.tools.tenants import tenant_out

RUN_ID = Field(pattern=r"^[0-9a-f-]{36}$", description="Run id.")
FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.COMPENSATED)


class GetWorkflowInput(ToolInput):
    workflow_id: str = RUN_ID
    wait_seconds: int = Field(
        default=0,
        ge=0,
        le=60,
        description="Wait up to this long for the run to finish (progress is reported while "
        "waiting); 0 returns its state at once.",
    )


def _tenant_of_run(call: Call, args: Any) -> Tenant | None:
    run = call.session.get(WorkflowRun, args.workflow_id)
    tenant = call.session.get(Tenant, run.tenant_id) if run and run.tenant_id else None
    missing = NotFound(f"No workflow run {args.workflow_id!r}.", workflow_id=args.workflow_id)
    return scoped(call, tenant, missing)


def _run(call: Call, run_id: str) -> WorkflowRun:
    run = call.session.get(WorkflowRun, run_id)
    if run is None:  # _tenant_of_run found it moments ago in this transaction
        raise RuntimeError("workflow run vanished")
    return run


def get_workflow(call: Call, args: GetWorkflowInput) -> RunOut:
    run = _run(call, args.workflow_id)
    return RunOut.of(run, lock_of(call.session, run))


def poll_run(services: Services, args: GetWorkflowInput) -> Poll:
    """One look at the run, on the reader engine (never SQLite's write lock)."""
    with Session(services.reader) as session:
        run = session.get(WorkflowRun, args.workflow_id)
        if run is None:
            raise RuntimeError("workflow run vanished")
        out = RunOut.of(run, lock_of(session, run))
    done = sum(1 for s in out.steps if s.status in ("succeeded", "skipped"))
    message = f"{out.kind}: {out.progress or out.status}"
    return Poll(
        payload=out.model_dump(mode="json"),
        done=RunStatus(out.status) in FINISHED,
        progress=(done, len(out.steps), message),
    )


class RetryWorkflowInput(MutatingInput):
    workflow_id: str = Field(pattern=r"^[0-9a-f-]{36}$", description="A failed run's id.")


class RetryWorkflowOutput(ToolOutput):
    tenant: TenantOut
    retried: RunOut
    workflow: RunOut | None = Field(description="The new run (None for a dry run).")
    dry_run: bool


def retry_workflow(call: Call, args: RetryWorkflowInput) -> RetryWorkflowOutput:
    """Run the failed run the retry guard admitted again, as a new run; converged steps
    change nothing the second time."""
    tenant, session = call.target(), call.session
    if call.retry is None:
        raise RuntimeError("retry_workflow runs only behind the retry guard")
    run, action = call.retry.run, call.retry.action
    if call.dry_run:
        return RetryWorkflowOutput(
            tenant=tenant_out(call, tenant), retried=RunOut.of(run), workflow=None, dry_run=True
        )
    if restarts(run, tenant):
        new = _start_over(call, run, tenant)
        return RetryWorkflowOutput(
            tenant=tenant_out(call, tenant),
            retried=RunOut.of(run),
            workflow=RunOut.of(new),
            dry_run=False,
        )
    if action:
        call.services.lifecycle.apply(
            session, tenant, action, actor=call.caller.name, reason=f"retry {run.id}"
        )
    new = enqueue(
        session,
        tenant,
        call.services.kinds.of(run.kind),
        created_by=call.caller.name,
        input={**run.input, "retry_of": run.id},
    )
    return RetryWorkflowOutput(
        tenant=tenant_out(call, tenant),
        retried=RunOut.of(run),
        workflow=RunOut.of(new),
        dry_run=False,
    )


def _start_over(call: Call, run: WorkflowRun, tenant: Tenant) -> WorkflowRun:
    """A run that failed leaving the tenant as it found it: request its change again."""
    session, actor = call.session, call.caller.name
    target = get_plan(session, run.input["to_plan"])
    if run.kind == migration.KIND:
        # As change_plan's approved call started it: the plan switched, a new window.
        return migration.start(
            session,
            call.services.lifecycle,
            tenant,
            target,
            actor=actor,
            reason=f"retry {run.id}",
            now=call.now,
        )
    # A scheduled downgrade that was refused (or faulted) before its switch: due now.
    if tenant.subscription is not None:
        tenant.subscription.scheduled_plan_id = target.id
    return schedule_replacing(
        session,
        tenant,
        call.services.kinds.of(run.kind),
        created_by=actor,
        input={**run.input, "retry_of": run.id},
        not_before=call.now,
    )


class BreakLockInput(MutatingInput):
    workflow_id: str = RUN_ID
    reason: str = Field(min_length=3, max_length=500, description="Why; kept in the audit log.")


class BreakLockOutput(ToolOutput):
    workflow: RunOut
    broken_lock: RunLockOut | None = Field(description="The lock as it was (None: none held).")
    dry_run: bool


def break_workflow_lock(call: Call, args: BreakLockInput) -> BreakLockOutput:
    run = _run(call, args.workflow_id)
    if run.status in FINISHED:
        raise InvalidInput(
            f"Run {run.id} is {run.status.value}; only unfinished runs hold locks.",
            workflow_id=run.id,
            status=run.status.value,
        )
    lock = lock_of(call.session, run)
    before = (
        RunLockOut(owner=lock.owner, acquired_at=lock.acquired_at, expires_at=lock.expires_at)
        if lock is not None
        else None
    )
    if not call.dry_run:
        break_lock(call.session, run)
    return BreakLockOutput(
        workflow=RunOut.of(run, lock_of(call.session, run)),
        broken_lock=before,
        dry_run=call.dry_run,
    )


TOOLS = [
    ToolSpec(
        name="get_workflow",
        title="Get workflow run",
        description="A workflow run (provision, plan_change, offboard...) with each step's "
        "status, attempts and output, what it is doing now, and the tenant lock it holds. "
        "wait_seconds waits for the run to finish, reporting progress meanwhile.",
        input_model=GetWorkflowInput,
        output_model=RunOut,
        handler=get_workflow,
        scope=Scope.TENANT,
        tenant_of=_tenant_of_run,
        poll=poll_run,
        wait_seconds=lambda args: args.wait_seconds,
    ),
    ToolSpec(
        name="retry_workflow",
        title="Retry workflow run",
        description="Run a failed provisioning, plan-change, migration, offboarding or "
        "deletion run again (the tenant's latest run only). A migration that rolled back "
        "starts over (the plan change and read-only window again), one that failed after "
        "its switch is finished; a scheduled downgrade that failed before its switch is "
        "scheduled again for now. Returns the new run, which a worker executes.",
        input_model=RetryWorkflowInput,
        output_model=RetryWorkflowOutput,
        handler=retry_workflow,
        scope=Scope.TENANT,
        tenant_of=_tenant_of_run,
        retries_run=True,
        billing_gate=billing.billed_retry,
    ),
    ToolSpec(
        name="break_workflow_lock",
        title="Break a workflow run's lock",
        description="Platform admins only: release the tenant lock and worker lease of an "
        "unfinished run whose worker is gone, so another worker resumes it. Audited.",
        input_model=BreakLockInput,
        output_model=BreakLockOutput,
        handler=break_workflow_lock,
        scope=Scope.TENANT,
        tenant_of=_tenant_of_run,
    ),
]
