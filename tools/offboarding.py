"""offboard_tenant: approval-gated; revokes access, archives infrastructure, keeps the data."""

from __future__ import annotations

from pydantic import Field, model_validator

from paybill.server.core.errors import InvalidInput
from paybill.server.guards.call import Call
from paybill.server.guards.effects_infra import OFFBOARDING_EFFECT
from paybill.server.guards.spec import GatedOutput, MutatingInput, Scope, ToolSpec
from paybill.server.workflows.engine.runs import enqueue
from paybill.server.workflows.kinds.tenant_runs import OFFBOARD
from paybill.tools.models import SLUG_FIELD, RunOut, TenantOut
from paybill.tools.resolve import tenant_by_slug
from paybill.tools.tenants import tenant_out


class OffboardInput(MutatingInput):
    tenant: str = SLUG_FIELD
    confirm_slug: str = Field(max_length=63, description="Retype the tenant's slug to confirm.")
    reason: str = Field(min_length=3, max_length=500, description="Why; kept in the audit log.")

    @model_validator(mode="after")
    def _confirmed(self) -> OffboardInput:
        # Checked before an approval is requested: an approver never sees a request that
        # could not run.
        if self.confirm_slug != self.tenant:
            raise ValueError("confirm_slug must repeat the tenant's slug exactly")
        return self


class OffboardOutput(GatedOutput):
    tenant: TenantOut
    workflow: RunOut | None
    dry_run: bool


def offboard_tenant(call: Call, args: OffboardInput) -> OffboardOutput:
    tenant = call.target()
    if args.confirm_slug != tenant.slug:
        raise InvalidInput(
            "confirm_slug does not match the tenant's slug; retype it exactly to confirm.",
            tenant=tenant.slug,
        )
    if call.dry_run:
        return OffboardOutput(tenant=tenant_out(call, tenant), workflow=None, dry_run=True)
    call.services.lifecycle.apply(
        call.session, tenant, "offboard", actor=call.caller.name, reason=args.reason
    )
    run = enqueue(
        call.session,
        tenant,
        OFFBOARD,
        created_by=call.caller.name,
        input=args.model_dump(mode="json", exclude={"idempotency_key", "dry_run"}),
    )
    return OffboardOutput(tenant=tenant_out(call, tenant), workflow=RunOut.of(run), dry_run=False)


TOOLS = [
    ToolSpec(
        name="offboard_tenant",
        title="Offboard tenant",
        description="Offboard a tenant: revoke its principals, archive its infrastructure "
        "read-only, and move it to archived. Needs an approval: the first call returns "
        "APPROVAL_REQUIRED with an approval id; when an approver approves it, the tenant "
        "moves to offboarding and a workflow run (see get_workflow) does the rest.",
        input_model=OffboardInput,
        output_model=OffboardOutput,
        handler=offboard_tenant,
        scope=Scope.TENANT,
        tenant_of=tenant_by_slug,
        lifecycle_action="offboard",
        requires_approval=True,
        effect=OFFBOARDING_EFFECT,
    ),
]
