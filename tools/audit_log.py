"""get_audit_log: the keyed, hash-chained record of every decision, newest first; on request,
the chain's verification (platform roles: it covers every tenant's events)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from paybill.server.core.errors import Denied
from paybill.server.core.vocabulary import Decision
from paybill.server.guards.call import Call
from paybill.server.guards.spec import Scope, ToolInput, ToolOutput, ToolSpec
from paybill.server.store import AuditEvent
from paybill.tools.data_models import RECORDED_NOTICE, TenantText
from paybill.tools.models import AuditEventOut
from paybill.tools.redaction import Redactor
from paybill.tools.resolve import own_or_named_tenant


class GetAuditLogInput(ToolInput):
    tenant: str | None = Field(default=None, max_length=63, description="Only this tenant.")
    limit: int = Field(default=50, ge=1, le=200)
    before_id: int | None = Field(
        # The audit id column is a 32-bit integer: a larger bound fails in the database.
        default=None,
        ge=1,
        le=2**31 - 1,
        description="Page: events older than it.",
    )
    principal: str | None = Field(default=None, max_length=100, description="Only this caller.")
    tool: str | None = Field(default=None, max_length=100, description="Only this tool.")
    decision: Decision | None = Field(default=None, description="Only allowed or denied.")
    verify: bool = Field(
        default=False,
        description="Also verify the whole chain (MACs, links, the checkpoint) as `paybill "
        "audit verify` does; platform roles only.",
    )


class AuditVerificationOut(BaseModel):
    """Read from ``audit.VerifyReport`` (``from_attributes``)."""

    model_config = ConfigDict(from_attributes=True)

    ok: bool
    checked: int = Field(description="Events that verified, from the first.")
    keyed: int = Field(description="Of those, events signed with the audit key.")
    unkeyed: int = Field(description="Of those, the legacy prefix written before keying.")
    unsealed: int = Field(
        default=0,
        description="Committed events not yet linked into the chain, each matching its MAC.",
    )
    key_id: str | None
    checkpoint: str = Field(description="none, matched or broken.")
    checkpoint_count: int | None = Field(description="Events the checkpoint recorded.")
    first_broken_id: int | None
    reason: str | None


class GetAuditLogOutput(ToolOutput):
    content_trust: TenantText = "untrusted_tenant_data"
    notice: str = RECORDED_NOTICE
    events: list[AuditEventOut]
    next_before_id: int | None
    verification: AuditVerificationOut | None = None


def get_audit_log(call: Call, args: GetAuditLogInput) -> GetAuditLogOutput:
    # Committed events this call's sealer attempt missed get their link now, if no sealer
    # is busy (a busy one is sealing them); an unsealed one is shown with null links.
    call.services.audit.seal(call.services.reader)
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(args.limit + 1)
    if call.tenant is not None:
        query = query.where(AuditEvent.tenant_id == call.tenant.id)
    elif args.tenant is not None:  # a platform caller asked for a tenant that does not exist
        return GetAuditLogOutput(events=[], next_before_id=None)
    if args.before_id is not None:
        query = query.where(AuditEvent.id < args.before_id)
    if args.principal is not None:
        query = query.where(AuditEvent.principal == args.principal)
    if args.tool is not None:
        query = query.where(AuditEvent.tool == args.tool)
    if args.decision is not None:
        query = query.where(AuditEvent.decision == args.decision)
    rows = list(call.session.scalars(query))
    page = rows[: args.limit]
    more = len(rows) > args.limit
    redactor = Redactor(call.session, call.caller.role)
    return GetAuditLogOutput(
        events=[
            AuditEventOut.of(e, redactor.arguments(e.tool, e.arguments, e.tenant_id)) for e in page
        ],
        next_before_id=page[-1].id if more else None,
        verification=_verify(call) if args.verify else None,
    )


def _verify(call: Call) -> AuditVerificationOut:
    if call.caller.tenant_id is not None:
        raise Denied(
            f"Role {call.caller.role.value} may not verify the whole audit chain; a platform "
            "operator can (`paybill audit verify`)."
        )
    # The services' reader: a long scan must not hold SQLite's write lock.
    with Session(call.services.reader) as session:
        # Without waiting for the sealing lock: what stays unsealed is checked by its MAC.
        report = call.services.audit.verify(session, wait=False)
    return AuditVerificationOut.model_validate(report)


TOOLS = [
    ToolSpec(
        name="get_audit_log",
        title="Get audit log",
        description="Audit events (allowed and denied calls), newest first; tenant-scoped "
        "callers see their own tenant only and need the audit.export feature.",
        input_model=GetAuditLogInput,
        output_model=GetAuditLogOutput,
        handler=get_audit_log,
        scope=Scope.CALLER,
        tenant_of=own_or_named_tenant("log"),
        feature="audit.export",
    ),
]
