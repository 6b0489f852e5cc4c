"""get_usage: metered data calls and current rows against the plan's limits."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from paybill.server.domain.billing import seats_used
from paybill.server.executors.dataplane.metering import row_counts
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.guards.call import Call
from paybill.server.guards.spec import Scope, ToolOutput, ToolSpec
from paybill.server.store import UsageCounter
from paybill.tools.models import TenantRef
from paybill.tools.resolve import tenant_by_slug


class DayUsage(ToolOutput):
    day: date
    calls: int
    rows_read: int
    rows_written: int


class UsageOutput(ToolOutput):
    tenant: str
    plan: str
    rows: dict[str, int]
    rows_total: int
    rows_limit: int
    seats: int
    seats_limit: int
    queries_per_minute_limit: int
    days: list[DayUsage]


def get_usage(call: Call, args: TenantRef) -> UsageOutput:
    tenant = call.target()
    rows = row_counts(
        call.services.engines,
        TenantRoute(tenant.id, tenant.isolation),
        call.services.settings.statement_timeout_ms,
        call.tenant_work,
    )
    counters = call.session.scalars(
        select(UsageCounter)
        .where(UsageCounter.tenant_id == tenant.id)
        .order_by(UsageCounter.day.desc())
        .limit(31)
    )
    return UsageOutput(
        tenant=tenant.slug,
        plan=tenant.plan_id,
        rows=rows,
        rows_total=sum(rows.values()),
        rows_limit=tenant.plan.max_rows,
        seats=seats_used(call.session, tenant),
        seats_limit=tenant.plan.max_seats,
        queries_per_minute_limit=tenant.plan.queries_per_minute,
        days=[
            DayUsage(day=c.day, calls=c.calls, rows_read=c.rows_read, rows_written=c.rows_written)
            for c in counters
        ],
    )


TOOLS = [
    ToolSpec(
        name="get_usage",
        title="Get usage",
        description="A tenant's rows per table, seats and metered data calls per day, with "
        "its plan's limits.",
        input_model=TenantRef,
        output_model=UsageOutput,
        handler=get_usage,
        scope=Scope.TENANT,
        tenant_of=tenant_by_slug,
    ),
]
