"""list_approvals, get_approval and decide_approval: the human gate in front of destructive
actions."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from sqlalchemy import select

from paybill.server.core.errors import ApprovalVoid, NotFound
from paybill.server.core.vocabulary import ApprovalStatus
from paybill.server.domain.approvals import (
    changed_part,
    check_decision,
    pending_for_decision,
    requester_disabled,
    void,
    void_same_effect,
)
from paybill.server.guards.call import Call
from paybill.server.guards.pipeline import run_approved
from paybill.server.guards.spec import MutatingInput, Scope, ToolInput, ToolOutput, ToolSpec
from paybill.server.store import Approval, Tenant
from paybill.server.workflows.engine.started import note_approval
from paybill.tools.data_models import RECORDED_NOTICE, TenantText
from paybill.tools.models import ApprovalOut
from paybill.tools.redaction import Redactor
from paybill.tools.resolve import visible_record


class ListApprovalsInput(ToolInput):
    status: ApprovalStatus | None = Field(default=ApprovalStatus.PENDING)
    limit: int = Field(default=50, ge=1, le=200)


class ListApprovalsOutput(ToolOutput):
    content_trust: TenantText = "untrusted_tenant_data"
    notice: str = RECORDED_NOTICE
    approvals: list[ApprovalOut]


def list_approvals(call: Call, args: ListApprovalsInput) -> ListApprovalsOutput:
    query = select(Approval).order_by(Approval.created_at.desc()).limit(args.limit)
    if args.status is not None:
        query = query.where(Approval.status == args.status)
    if call.caller.tenant_id is not None:
        query = query.where(Approval.tenant_id == call.caller.tenant_id)
    redactor = Redactor(call.session, call.caller.role)
    return ListApprovalsOutput(approvals=[_out(redactor, a) for a in call.session.scalars(query)])


def _out(redactor: Redactor, approval: Approval) -> ApprovalOut:
    arguments = redactor.arguments(approval.tool, approval.arguments, approval.tenant_id)
    effect = redactor.effect(approval.tool, approval.effect, approval.tenant_id)
    return ApprovalOut.of(approval, arguments, effect)


class GetApprovalInput(ToolInput):
    approval_id: str = Field(pattern=r"^[0-9a-f-]{36}$")


class GetApprovalOutput(ToolOutput):
    content_trust: TenantText = "untrusted_tenant_data"
    notice: str = RECORDED_NOTICE
    approval: ApprovalOut


def get_approval(call: Call, args: GetApprovalInput) -> GetApprovalOutput:
    approval = call.session.get(Approval, args.approval_id)
    if approval is None:  # resolved by ``_tenant_of_approval`` first; deleted since
        raise NotFound(f"No approval {args.approval_id!r}.", approval_id=args.approval_id)
    return GetApprovalOutput(approval=_out(Redactor(call.session, call.caller.role), approval))


class DecideApprovalInput(MutatingInput):
    approval_id: str = Field(pattern=r"^[0-9a-f-]{36}$")
    decision: Literal["approve", "reject"]
    reason: str = Field(min_length=3, max_length=500, description="Why; kept in the audit log.")


class DecideApprovalOutput(ToolOutput):
    content_trust: TenantText = "untrusted_tenant_data"
    notice: str = RECORDED_NOTICE
    approval: ApprovalOut
    result: dict[str, Any] | None = Field(
        description="The approved tool's structured result (None when rejected)."
    )


# Tools that show approvals: a caller granted neither in an approval's domain cannot tell it
# from one that does not exist.
APPROVAL_READERS = ("list_approvals", "get_approval", "decide_approval")


def _tenant_of_approval(call: Call, args: GetApprovalInput | DecideApprovalInput) -> Tenant | None:
    approval = call.session.get(Approval, args.approval_id)
    tenant = (
        call.session.get(Tenant, approval.tenant_id) if approval and approval.tenant_id else None
    )
    missing = NotFound(f"No approval {args.approval_id!r}.", approval_id=args.approval_id)
    return visible_record(call, approval is not None, tenant, missing, APPROVAL_READERS)


def _void(call: Call, approval: Approval, why: str, message: str, **details: str) -> ApprovalVoid:
    void(approval, call.now, why)
    call.session.flush()
    return ApprovalVoid(message, approval_id=approval.id, **details)


def _require_runnable(call: Call, approval: Approval) -> None:
    """Raises: ApprovalVoid (the approval is recorded void) when the approved call cannot run
    as it was asked for: its stored record was altered, the tenant changed, or the requester
    it would run as is disabled."""
    tool, again = approval.tool, f"The requester must call {approval.tool} again"
    changed = changed_part(approval, call.tenant)
    if changed == "arguments":
        raise _void(
            call,
            approval,
            "tampered: the stored arguments no longer match their hash",
            f"Approval {approval.id} is void: its stored tool and arguments no longer match "
            "the hash recorded when it was requested, so the record was altered after the "
            "request (tampering). Nothing ran. Report it to an operator; the audit log has "
            f"this refusal. {again} to request a fresh approval if the action is still wanted.",
            reason="arguments_tampered",
        )
    if changed == "tenant":
        raise _void(
            call,
            approval,
            "the tenant changed after the request; the plan no longer holds",
            f"Approval {approval.id} is void: the tenant changed since it was requested, so "
            f"what would run is no longer what was asked for. {again} to request a fresh "
            "approval.",
        )
    if requester_disabled(call.session, approval):
        raise _void(
            call,
            approval,
            f"the requester {approval.requested_by} is disabled",
            f"Approval {approval.id} is void: its requester {approval.requested_by!r} is "
            f"disabled, and an approved {tool} runs as its requester, so it cannot run. Nothing "
            "ran. An active principal must request it again if the action is still wanted.",
            reason="requester_disabled",
        )


def _decided(call: Call, approval: Approval) -> ApprovalOut:
    return _out(Redactor(call.session, call.caller.role), approval)


def decide_approval(call: Call, args: DecideApprovalInput) -> DecideApprovalOutput:
    # Whatever the outcome (approved, rejected, voided), its workflow on Temporal is told after
    # the commit; it re-reads the approval, so a dry run or a refusal tells it nothing new.
    note_approval(call.session, args.approval_id)
    approval = pending_for_decision(
        call.session, args.approval_id, call.caller.name, call.now, dry_run=call.dry_run
    )
    status = check_decision(args.decision)
    if call.dry_run:
        return DecideApprovalOutput(approval=_decided(call, approval), result=None)
    approval.decided_by, approval.decided_at, approval.reason = (
        call.caller.name,
        call.now,
        args.reason,
    )
    if status is ApprovalStatus.REJECTED:
        approval.status = status
        return DecideApprovalOutput(approval=_decided(call, approval), result=None)
    _require_runnable(call, approval)
    approval.status = ApprovalStatus.APPROVED
    result = run_approved(call, approval)
    approval.status = ApprovalStatus.EXECUTED
    for other in void_same_effect(call.session, approval, call.now):
        note_approval(call.session, other)
    return DecideApprovalOutput(approval=_decided(call, approval), result=result)


TOOLS = [
    ToolSpec(
        name="list_approvals",
        title="List approvals",
        description="Approvals (pending by default), newest first.",
        input_model=ListApprovalsInput,
        output_model=ListApprovalsOutput,
        handler=list_approvals,
        scope=Scope.CALLER,
    ),
    ToolSpec(
        name="get_approval",
        title="Get approval",
        description="One approval: its status, requester, expiry and the effect it binds "
        "(what would run, as the approver sees it). Use it to follow an APPROVAL_REQUIRED.",
        input_model=GetApprovalInput,
        output_model=GetApprovalOutput,
        handler=get_approval,
        scope=Scope.TENANT,
        tenant_of=_tenant_of_approval,
    ),
    ToolSpec(
        name="decide_approval",
        title="Decide approval",
        description="Approve or reject a pending approval (approver role; not your own request). "
        "Approving runs the approved action now, as its requester, if the tenant has not "
        "changed since the request; otherwise the approval becomes void.",
        input_model=DecideApprovalInput,
        output_model=DecideApprovalOutput,
        handler=decide_approval,
        scope=Scope.TENANT,
        tenant_of=_tenant_of_approval,
        executes_approved=True,
        refusals_denied=True,
    ),
]
