"""The workflow gate: lifecycle legality, and approval before destructive actions."""

from __future__ import annotations

from datetime import timedelta

from paybill.server.core.errors import ApprovalRequired
from paybill.server.domain.approvals import request_approval
from paybill.server.guards.call import Call


def check_workflow(call: Call) -> None:
    """Raises:
    InvalidTransition: the tool's lifecycle action is illegal in the tenant's state.
    ApprovalRequired: the tool needs an approval; a pending one is recorded.
    """
    spec, tenant = call.spec, call.tenant
    if spec.lifecycle_action and tenant is not None:
        call.services.lifecycle.target_state(tenant, spec.lifecycle_action)
    if call.approval is not None or call.dry_run:
        return
    needed = spec.requires_approval or (
        spec.approval_when is not None and spec.approval_when(call, call.arguments)
    )
    if not needed:
        return
    approval = request_approval(
        call.session,
        tool=spec.name,
        arguments=call.arguments.model_dump(mode="json"),
        tenant=tenant,
        requested_by=call.caller.name,
        now=call.now,
        ttl=timedelta(seconds=call.services.settings.approval_ttl_seconds),
    )
    raise ApprovalRequired(
        f"{spec.name} needs approval. Approval {approval.id} is pending: a principal with the "
        f"approver role decides it with decide_approval; it then runs as approved, unless the "
        "tenant changes first.",
        approval_id=approval.id,
        expires_at=approval.expires_at.isoformat(),
    )
