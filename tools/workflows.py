"""get_workflow: a provisioning, plan-change or offboarding run, with its steps."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from paybill.server.errors import NotFound
from paybill.server.guards.call import Call
from paybill.server.guards.spec import Scope, ToolInput, ToolSpec
from paybill.server.store import Tenant, WorkflowRun
from paybill.tools.models import RunOut
from paybill.tools.resolve import scoped


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
]
