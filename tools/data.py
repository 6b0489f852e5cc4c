"""Reading tenant data: describe_schema, query_table (structured), run_sql (guarded)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, ProgrammingError

from paybill.server.executors.dataplane.access import tenant_transaction
from paybill.server.executors.dataplane.dberrors import database_refusal
from paybill.server.executors.dataplane.sqlguard import TENANT_PARAM, statement_kind
from paybill.server.executors.dataplane.structured import build_select
from paybill.server.guards.approval import sql_writes
from paybill.server.guards.call import Call
from paybill.server.guards.effects_sql import SqlWriteEffect, execute_write, guarded_write
from paybill.server.guards.spec import (
    DataAccess,
    GatedOutput,
    MutatingInput,
    Scope,
    ToolInput,
    ToolOutput,
    ToolSpec,
)
from paybill.tools.data_models import (
    IDENT,
    ColumnOut,
    DataResult,
    FilterIn,
    Scalar,
    data_result,
)
from paybill.tools.models import SLUG_FIELD
from paybill.tools.resolve import tenant_by_slug


class DescribeSchemaInput(ToolInput):
    tenant: str = SLUG_FIELD


class TableOut(ToolOutput):
    name: str
    columns: list[ColumnOut]


class DescribeSchemaOutput(ToolOutput):
    tables: list[TableOut]


def describe_schema(call: Call, args: DescribeSchemaInput) -> DescribeSchemaOutput:
    schema = call.visible_schema()
    return DescribeSchemaOutput(
        tables=[
            TableOut(name=t, columns=[ColumnOut(name=c, type=k) for c, k in cols.items()])
            for t, cols in sorted(schema.tables.items())
        ]
    )


class OrderIn(ToolInput):
    column: str = Field(pattern=IDENT)
    direction: Literal["asc", "desc"] = "asc"


class AggregateIn(ToolInput):
    fn: Literal["count", "sum", "avg", "min", "max"]
    column: str | None = Field(default=None, pattern=IDENT)


class QueryTableInput(ToolInput):
    tenant: str = SLUG_FIELD
    table: str = Field(pattern=IDENT)
    columns: list[str] | None = Field(default=None, max_length=50)
    filters: list[FilterIn] = Field(default_factory=list, max_length=20)
    order_by: list[OrderIn] = Field(default_factory=list, max_length=5)
    group_by: list[str] = Field(default_factory=list, max_length=5)
    aggregates: list[AggregateIn] = Field(default_factory=list, max_length=10)
    limit: int = Field(default=100, ge=1, le=10_000)


def query_table(call: Call, args: QueryTableInput) -> DataResult:
    route, schema = call.route(), call.visible_schema()
    limit = min(args.limit, call.services.settings.max_result_rows)
    query = build_select(
        schema,
        route.tenant_id,
        table=args.table,
        columns=args.columns,
        filters=[(f.column, f.op, f.value) for f in args.filters],
        order_by=[(o.column, o.direction) for o in args.order_by],
        group_by=args.group_by,
        aggregates=[(a.fn, a.column) for a in args.aggregates],
        limit=limit,
    )
    settings = call.services.settings
    with tenant_transaction(
        call.services.engines,
        route,
        read_only=True,
        timeout_ms=settings.statement_timeout_ms,
        gate=call.tenant_work,
    ) as conn:
        result = conn.execute(query)
        names, rows = list(result.keys()), [tuple(r) for r in result]
    known = {} if args.aggregates else schema.columns(args.table)
    data = data_result(names, rows, limit, known, max_bytes=settings.max_result_bytes)
    call.meter(rows_read=min(len(rows), limit))
    return data


class RunSqlInput(MutatingInput):
    tenant: str = SLUG_FIELD
    sql: str = Field(
        min_length=1,
        max_length=10_000,
        description="One SELECT (or, for writers, "
        "one UPDATE/DELETE, which needs an approval). Use :name parameters.",
    )
    params: dict[str, Scalar] = Field(default_factory=dict, max_length=50)

    def may_change_state(self) -> bool:
        # A SELECT reads (the guard takes it for one, from the same parse); anything else
        # may write or is refused, and loads the tenant row as a write would.
        return statement_kind(self.sql) != "read"


class RunSqlOutput(GatedOutput):
    kind: Literal["read", "write"]
    result: DataResult | None
    rows_affected: int | None


def run_sql(call: Call, args: RunSqlInput) -> RunSqlOutput:
    """Execute the statement the sql guard validated (writes only once approved)."""
    guarded = call.statement()
    if call.dry_run:
        return RunSqlOutput(kind=guarded.kind, result=None, rows_affected=None)
    route = call.route()
    params = {**guarded.params, TENANT_PARAM: route.tenant_id}
    settings = call.services.settings
    affected: int | None = None
    try:
        if guarded.kind == "write":
            # Only approved (``check_sql``): run as bound, checked again under lock.
            affected = execute_write(call, guarded_write(call))
        else:
            with tenant_transaction(
                call.services.engines,
                route,
                read_only=True,
                timeout_ms=settings.statement_timeout_ms,
                gate=call.tenant_work,
                max_value_bytes=settings.max_result_bytes,
            ) as conn:
                result = conn.exec_driver_sql(guarded.sql, params)
                names, rows = list(result.keys()), [tuple(r) for r in result]
    except (ProgrammingError, DataError, IntegrityError, OperationalError) as exc:
        # SQLite reports statement errors as OperationalError; on PostgreSQL that class
        # means the server itself failed, which is not the caller's to fix.
        if isinstance(exc, OperationalError) and call.services.engines.postgres:
            raise
        # The statement passed the guard but the database refused it (a type mismatch, a
        # function the backend lacks): say why, but never with the values it quoted.
        raise database_refusal(
            getattr(exc.orig, "sqlstate", None),
            str(exc.orig),
            postgres=call.services.engines.postgres,
        ) from None
    # Store writes only once the tenant transaction has ended (``Call.tenant_work``).
    if affected is not None:
        call.meter(rows_written=affected)
        return RunSqlOutput(kind="write", result=None, rows_affected=affected)
    cap = settings.max_result_rows
    data = data_result(names, rows, cap, max_bytes=settings.max_result_bytes)
    call.meter(rows_read=min(len(rows), cap))
    return RunSqlOutput(kind="read", result=data, rows_affected=None)


def _spec(**kwargs: Any) -> ToolSpec:
    return ToolSpec(scope=Scope.TENANT, tenant_of=tenant_by_slug, **kwargs)


TOOLS = [
    _spec(
        name="describe_schema",
        title="Describe tenant schema",
        description="The tables and columns of the tenant's data you may use.",
        input_model=DescribeSchemaInput,
        output_model=DescribeSchemaOutput,
        handler=describe_schema,
        feature="data.read",
    ),
    _spec(
        name="query_table",
        title="Query a table",
        description="Read rows with typed filters, ordering and simple aggregates; no SQL. "
        "Rows come back marked as untrusted tenant data.",
        input_model=QueryTableInput,
        output_model=DataResult,
        handler=query_table,
        feature="data.read",
        data_access=DataAccess("read", dry_run="read"),
    ),
    _spec(
        name="run_sql",
        repeatable=False,  # an UPDATE may build on the value it finds
        title="Run one SQL statement",
        description="One validated SELECT on the tenant's visible tables (tenant filter and a "
        "row cap are added for you). UPDATE/DELETE by writers wait for an approval.",
        input_model=RunSqlInput,
        output_model=RunSqlOutput,
        handler=run_sql,
        feature="data.sql",
        approval_when=sql_writes,
        effect=SqlWriteEffect(),
        # A dry run only says what the statement is and, for a write, derives the effect its
        # approval would bind (``effects_sql``: a read, gated by the tenant's state there).
        data_access=DataAccess("statement", dry_run=None),
    ),
]
