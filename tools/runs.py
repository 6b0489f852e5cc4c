"""list_workflows: recent workflow runs, newest first (the console's runs page).

Console-only for now: agents follow the run an action returned with get_workflow.
"""

from __future__ import annotations

from pydantic import Field
from sqlalchemy import select

from paybill.server.core.vocabulary import RunStatus
from paybill.server.guards.call import Call
from paybill.server.guards.spec import CONSOLE_ONLY, Scope, ToolInput, ToolOutput, ToolSpec
from paybill.server.store import WorkflowRun
from paybill.tools.models import RunOut
from paybill.tools.resolve import own_or_named_tenant
from paybill.tools.run_view import run_for


class ListWorkflowsInput(ToolInput):
    tenant: str | None = Field(default=None, max_length=63, description="Only this tenant.")
    status: RunStatus | None = None
    limit: int = Field(default=50, ge=1, le=200)


class ListWorkflowsOutput(ToolOutput):
    workflows: list[RunOut]


def list_workflows(call: Call, args: ListWorkflowsInput) -> ListWorkflowsOutput:
    query = select(WorkflowRun).order_by(WorkflowRun.created_at.desc()).limit(args.limit)
    if call.tenant is not None:
        query = query.where(WorkflowRun.tenant_id == call.tenant.id)
    elif args.tenant is not None:  # a platform caller named a tenant that does not exist
        return ListWorkflowsOutput(workflows=[])
    if args.status is not None:
        query = query.where(WorkflowRun.status == args.status)
    role = call.caller.role
    runs = [run_for(role, RunOut.of(run)) for run in call.session.scalars(query)]
    return ListWorkflowsOutput(workflows=runs)


TOOLS = [
    ToolSpec(
        name="list_workflows",
        title="List workflow runs",
        description="Workflow runs, newest first; tenant-scoped callers see their own tenant's.",
        input_model=ListWorkflowsInput,
        output_model=ListWorkflowsOutput,
        handler=list_workflows,
        scope=Scope.CALLER,
        tenant_of=own_or_named_tenant("runs"),
        surfaces=CONSOLE_ONLY,
    ),
]
