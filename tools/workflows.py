"""get_workflow: a provisioning, plan-change or offboarding run, with its steps."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlalchemy import select

from paybill.server.domain import RunStatus
from paybill.server.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from paybill.server.guards.call import Call
from paybill.server.guards.spec import MutatingInput, Scope, ToolInput, ToolOutput, ToolSpec
from paybill.server.store import Tenant, WorkflowRun
from paybill.tools import workflow_steps
from paybill.tools.models import RunOut, TenantOut
from paybill.tools.resolve import scoped
from paybill.tools.tenants import tenant_out


class GetWorkflowInput(ToolInput):
    workflow_id: str = Field(pattern=r"^[0-9a-f-]{36}$", description="Run id.")


def _tenant_of_run(call: Call, args: Any) -> Tenant | None:
    run = call.session.get(WorkflowRun, args.workflow_id)
    tenant = call.session.get(Tenant, run.tenant_id) if run and run.tenant_id else None
    missing = NotFound(f"No workflow run {args.workflow_id!r}.", workflow_id=args.workflow_id)
    return scoped(call, tenant, missing)


def get_workflow(call: Call, args: GetWorkflowInput) -> RunOut:
    run = call.session.get(WorkflowRun, args.workflow_id)
    if run is None:  # _tenant_of_run found it moments ago in this transaction
        raise RuntimeError("workflow run vanished")
    return RunOut.of(run)


class RetryWorkflowInput(MutatingInput):
    workflow_id: str = Field(pattern=r"^[0-9a-f-]{36}$", description="A failed run's id.")


class RetryWorkflowOutput(ToolOutput):
    tenant: TenantOut
    retried: RunOut
    workflow: RunOut | None = Field(description="The new run (None for a dry run).")
    dry_run: bool


def retry_workflow(call: Call, args: RetryWorkflowInput) -> RetryWorkflowOutput:
    """Run a failed provisioning or offboarding again, as a new run; converged steps
    (provisioners are idempotent) change nothing the second time."""
    tenant, session = call.target(), call.session
    run = session.get(WorkflowRun, args.workflow_id)
    if run is None:
        raise RuntimeError("workflow run vanished")
    if run.status is not RunStatus.FAILED:
        raise InvalidInput(
            f"Only failed runs can be retried; run {run.id} is {run.status.value}.",
            workflow_id=run.id,
            status=run.status.value,
        )
    latest = session.scalar(
        select(WorkflowRun.id)
        .where(WorkflowRun.tenant_id == tenant.id)
        .order_by(WorkflowRun.created_at.desc(), WorkflowRun.id.desc())
        .limit(1)
    )
    if latest != run.id:
        raise Conflict(
            f"Run {run.id} is not the tenant's latest run; retry {latest} instead.",
            latest_workflow_id=latest,
        )
    if call.dry_run:
        return RetryWorkflowOutput(
            tenant=tenant_out(call, tenant), retried=RunOut.of(run), workflow=None, dry_run=True
        )
    again = {**run.input, "retry_of": run.id}
    if run.kind == "provision":
        new = workflow_steps.provision(call, tenant, start_action="retry_provision", input=again)
    elif run.kind == "offboard" and tenant.state == "offboarding":
        new = workflow_steps.offboard(call, tenant, reason=run.input["reason"], input=again)
    else:
        raise InvalidTransition(
            tenant=tenant.slug,
            state=tenant.state,
            action=f"retry {run.kind}",
            allowed=call.services.lifecycle.allowed_actions(tenant.state),
        )
    return RetryWorkflowOutput(
        tenant=tenant_out(call, tenant),
        retried=RunOut.of(run),
        workflow=RunOut.of(new),
        dry_run=False,
    )


TOOLS = [
    ToolSpec(
        name="get_workflow",
        title="Get workflow run",
        description="A workflow run (provision, offboard...) with each step's status and output.",
        input_model=GetWorkflowInput,
        output_model=RunOut,
        handler=get_workflow,
        scope=Scope.TENANT,
        tenant_of=_tenant_of_run,
    ),
    ToolSpec(
        name="retry_workflow",
        title="Retry workflow run",
        description="Run a failed provisioning or offboarding run again (the tenant's latest "
        "run only). Returns the new run.",
        input_model=RetryWorkflowInput,
        output_model=RetryWorkflowOutput,
        handler=retry_workflow,
        scope=Scope.TENANT,
        tenant_of=_tenant_of_run,
    ),
]
