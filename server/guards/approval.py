"""The approval guard: destructive calls wait for a human decision.

A tool needs an approval always (``ToolSpec.requires_approval``) or when a predicate over the
call says so (``ToolSpec.approval_when``). The predicates are here, with what they look at to
decide (the statement, the rows a change would touch, the target plan), so no handler ever
decides about approvals. Dry runs and approved executions never ask.
"""

from __future__ import annotations

from datetime import timedelta

from paybill.server.core.errors import ApprovalRequired
from paybill.server.domain.approvals import request_approval
from paybill.server.domain.plan_changes import moves_data
from paybill.server.domain.tenants import get_plan
from paybill.server.executors.dataplane.metering import count_matching
from paybill.server.executors.dataplane.structured import table_for, tenant_rows
from paybill.server.guards.billing import check_billing
from paybill.server.guards.call import Call
from paybill.server.guards.lifecycle import require_data_state
from paybill.server.guards.quota import take
from paybill.server.guards.sql import statement


def check_approval(call: Call) -> None:
    """Raises: ApprovalRequired (a pending approval is recorded) when the call needs one,
    or whatever a predicate refuses with while it looks."""
    spec = call.spec
    if call.approval is not None or call.dry_run:
        return
    needed = spec.requires_approval or (spec.approval_when is not None and spec.approval_when(call))
    if not needed:
        return
    approval = request_approval(
        call.session,
        tool=spec.name,
        arguments=call.arguments.model_dump(mode="json"),
        tenant=call.tenant,
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


def sql_writes(call: Call) -> bool:
    """Data-modifying SQL (a writer's UPDATE or DELETE).

    Raises: SqlRejected (the statement is validated here, once for the whole call).
    """
    return statement(call).kind == "write"


def bulk_change(call: Call) -> bool:
    """An update or delete without a filter, or matching more rows than the bulk threshold.

    Raises:
        InvalidInput: the table or a filter is not one the caller may use.
        InvalidTransition, QuotaExceeded: counting reads the tenant's rows, so the read gate
            and the quota apply to it.
    """
    args = call.arguments
    if not args.filters:
        return True
    schema = call.visible_schema()
    table = table_for(schema, args.table)
    require_data_state(call, "read")
    take(call)
    filters = [(f.column, f.op, f.value) for f in args.filters]
    where = tenant_rows(schema, table, call.target().id, filters)
    settings = call.services.settings
    matching = count_matching(
        call.services.engines,
        call.route(),
        table,
        where,
        settings.statement_timeout_ms,
        call.tenant_work,
    )
    return matching > settings.bulk_threshold


def isolation_move(call: Call) -> bool:
    """A plan change that moves the tenant's data to another isolation model.

    Billing admission is checked first, so no approver is ever asked about a change that
    would be refused anyway.

    Raises:
        NotFound: no such plan.
        InvalidInput: a move was asked for on the SQLite store.
        BillingBlocked: the subscription is not in good standing for an upgrade.
    """
    tenant, args = call.target(), call.arguments
    new = get_plan(call.session, args.plan)
    if new.id == tenant.plan_id:
        return False
    postgres = call.services.engines.postgres
    if not moves_data(tenant, new, requested=args.migrate_isolation, postgres=postgres):
        return False
    check_billing(call)
    return True
