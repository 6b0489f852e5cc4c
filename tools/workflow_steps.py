"""The provisioning and offboarding workflows, shared by the tools that start them and by
retry_workflow."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from paybill.server.errors import ProvisioningFailed
from paybill.server.guards.call import Call
from paybill.server.store import Principal, Tenant, WorkflowRun
from paybill.server.workflows import StepFn, run_workflow
from paybill.tools.resolve import facts


def _transition(call: Call, tenant: Tenant, action: str, reason: str) -> StepFn:
    def step() -> dict[str, str]:
        record = call.services.lifecycle.apply(
            call.session, tenant, action, actor=call.caller.name, reason=reason
        )
        return {"from": record.from_state, "to": record.to_state}

    return step


def provision(
    call: Call, tenant: Tenant, *, start_action: str, input: dict[str, Any]
) -> WorkflowRun:
    """Provision ``tenant`` (``start_action``: provision or retry_provision).

    Raises:
        ProvisioningFailed: a step failed; the tenant is moved to ``failed`` and the run kept.
    """
    services = call.services
    run = run_workflow(
        call.session,
        tenant=tenant,
        kind="provision",
        created_by=call.caller.name,
        input=input,
        clock=services.clock,
        steps=[
            ("start", _transition(call, tenant, start_action, "onboarding")),
            ("provision_infrastructure", lambda: services.provisioner.provision(facts(tenant))),
            ("activate", _transition(call, tenant, "provisioned", "infrastructure ready")),
        ],
    )
    if run.error is not None:
        message = run.error["message"]
        services.lifecycle.apply(
            call.session, tenant, "fail", actor=call.caller.name, reason=message
        )
        raise ProvisioningFailed(
            f"Provisioning {tenant.slug} failed: {message} The tenant is in state failed; "
            "inspect the run with get_workflow, then retry_workflow or offboard it.",
            tenant=tenant.slug,
            workflow_id=run.id,
        )
    return run


def offboard(call: Call, tenant: Tenant, *, reason: str, input: dict[str, Any]) -> WorkflowRun:
    """Offboard ``tenant``; a tenant already ``offboarding`` (a retry) skips the first step.

    Raises:
        ProvisioningFailed: a step failed; the tenant stays where the run stopped.
    """
    services, session = call.services, call.session

    def revoke_access() -> dict[str, list[str]]:
        bound = session.scalars(select(Principal).where(Principal.tenant_id == tenant.id)).all()
        for principal in bound:
            principal.disabled = True
        return {"disabled_principals": sorted(p.name for p in bound)}

    steps = [
        ("revoke_access", revoke_access),
        ("archive_infrastructure", lambda: services.provisioner.archive(facts(tenant))),
        ("archived", _transition(call, tenant, "archive", reason)),
    ]
    if tenant.state != "offboarding":
        steps.insert(0, ("start", _transition(call, tenant, "offboard", reason)))
    run = run_workflow(
        session,
        tenant=tenant,
        kind="offboard",
        created_by=call.caller.name,
        input=input,
        clock=services.clock,
        steps=steps,
    )
    if run.error is not None:
        raise ProvisioningFailed(
            f"Offboarding {tenant.slug} stopped: {run.error['message']} The tenant stays in "
            f"{tenant.state}; inspect the run with get_workflow, then retry_workflow.",
            tenant=tenant.slug,
            workflow_id=run.id,
        )
    return run
