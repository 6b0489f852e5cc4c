"""Changing tenant data: insert_rows, update_rows, delete_rows (schema-validated values)."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlalchemy import func, select

from paybill.server.core.errors import InvalidInput
from paybill.server.executors.dataplane.access import tenant_transaction
from paybill.server.executors.dataplane.metering import meter, require_row_room, row_counts
from paybill.server.executors.dataplane.structured import coerce, condition, table_for
from paybill.server.guards.call import Call
from paybill.server.guards.spec import MutatingInput, Scope, ToolOutput, ToolSpec
from paybill.tools.data_access import open_for, schema_of
from paybill.tools.data_models import IDENT, FilterIn, Scalar
from paybill.tools.models import SLUG_FIELD
from paybill.tools.resolve import tenant_by_slug

GENERATED = frozenset({"id", "created_at", "issued_at", "occurred_at"})


class InsertRowsInput(MutatingInput):
    tenant: str = SLUG_FIELD
    table: str = Field(pattern=IDENT)
    rows: list[dict[str, Scalar]] = Field(min_length=1, max_length=500)


class ChangeRowsOutput(ToolOutput):
    table: str
    rows_affected: int
    ids: list[int] = Field(default_factory=list, description="Ids of inserted rows.")
    dry_run: bool


def _values(call: Call, table: str, row: dict[str, Any]) -> dict[str, Any]:
    schema = schema_of(call)
    table_for(schema, table)
    values = {}
    for column, value in row.items():
        if column in GENERATED:
            raise InvalidInput(f"{table}.{column} is set by the database.", column=column)
        values[column] = coerce(schema, table, column, value)
    missing = [
        c.name
        for c in table_for(schema, table).columns
        if not c.nullable
        and c.server_default is None
        and c.name not in GENERATED
        and c.name != "tenant_id"
        and c.name not in values
    ]
    if missing:
        raise InvalidInput(f"{table} rows need {missing}.", table=table, missing=missing)
    return values


def insert_rows(call: Call, args: InsertRowsInput) -> ChangeRowsOutput:
    rows = [_values(call, args.table, row) for row in args.rows]
    route = open_for(call, write=True)
    settings = call.services.settings
    current = sum(row_counts(call.services.engines, route, settings.statement_timeout_ms).values())
    require_row_room(call.target(), current, len(rows))
    if call.dry_run:
        return ChangeRowsOutput(table=args.table, rows_affected=len(rows), dry_run=True)
    table = table_for(schema_of(call), args.table)
    with tenant_transaction(
        call.services.engines, route, read_only=False, timeout_ms=settings.statement_timeout_ms
    ) as conn:
        ids = [
            conn.execute(
                table.insert().values(**row, tenant_id=route.tenant_id).returning(table.c.id)
            ).scalar_one()
            for row in rows
        ]
    meter(call.session, call.target(), call.now, rows_written=len(ids))
    return ChangeRowsOutput(table=args.table, rows_affected=len(ids), ids=ids, dry_run=False)


class UpdateRowsInput(MutatingInput):
    tenant: str = SLUG_FIELD
    table: str = Field(pattern=IDENT)
    values: dict[str, Scalar] = Field(min_length=1, max_length=20)
    filters: list[FilterIn] = Field(default_factory=list, max_length=20)


class DeleteRowsInput(MutatingInput):
    tenant: str = SLUG_FIELD
    table: str = Field(pattern=IDENT)
    filters: list[FilterIn] = Field(default_factory=list, max_length=20)


def _where(call: Call, args: UpdateRowsInput | DeleteRowsInput) -> list[Any]:
    schema = schema_of(call)
    table = table_for(schema, args.table)
    tenant_id = call.target().id
    return [table.c.tenant_id == tenant_id] + [
        condition(schema, table, f.column, f.op, f.value) for f in args.filters
    ]


def _matching(call: Call, args: UpdateRowsInput | DeleteRowsInput) -> int:
    table = table_for(schema_of(call), args.table)
    route = open_for(call, write=False)
    timeout = call.services.settings.statement_timeout_ms
    with tenant_transaction(call.services.engines, route, read_only=True, timeout_ms=timeout) as c:
        return c.execute(
            select(func.count()).select_from(table).where(*_where(call, args))
        ).scalar_one()


def _bulk(call: Call, args: UpdateRowsInput | DeleteRowsInput) -> bool:
    """No filter, or more matching rows than the bulk threshold: a human approves first."""
    if not args.filters:
        return True
    return _matching(call, args) > call.services.settings.bulk_threshold


def _change(call: Call, args: UpdateRowsInput | DeleteRowsInput) -> ChangeRowsOutput:
    schema = schema_of(call)
    table = table_for(schema, args.table)
    where = _where(call, args)
    if isinstance(args, UpdateRowsInput):
        values = {}
        for column, value in args.values.items():
            if column in GENERATED:
                raise InvalidInput(f"{args.table}.{column} is set by the database.")
            values[column] = coerce(schema, args.table, column, value)
        statement: Any = table.update().where(*where).values(**values)
    else:
        statement = table.delete().where(*where)
    if call.dry_run:
        return ChangeRowsOutput(table=args.table, rows_affected=_matching(call, args), dry_run=True)
    route = open_for(call, write=True)
    timeout = call.services.settings.statement_timeout_ms
    with tenant_transaction(call.services.engines, route, read_only=False, timeout_ms=timeout) as c:
        affected = c.execute(statement).rowcount
    meter(call.session, call.target(), call.now, rows_written=affected)
    return ChangeRowsOutput(table=args.table, rows_affected=affected, dry_run=False)


def _spec(**kwargs: Any) -> ToolSpec:
    return ToolSpec(scope=Scope.TENANT, tenant_of=tenant_by_slug, feature="data.write", **kwargs)


TOOLS = [
    _spec(
        name="insert_rows",
        title="Insert rows",
        description="Insert up to 500 rows into one table; values are checked against the "
        "column types. Refused beyond the plan's row limit.",
        input_model=InsertRowsInput,
        output_model=ChangeRowsOutput,
        handler=insert_rows,
    ),
    _spec(
        name="update_rows",
        title="Update rows",
        description="Set column values on the rows matching typed filters. Without a filter, "
        "or above the bulk threshold, it waits for an approval.",
        input_model=UpdateRowsInput,
        output_model=ChangeRowsOutput,
        handler=_change,
        approval_when=_bulk,
    ),
    _spec(
        name="delete_rows",
        title="Delete rows",
        description="Delete the rows matching typed filters. Without a filter, or above the "
        "bulk threshold, it waits for an approval.",
        input_model=DeleteRowsInput,
        output_model=ChangeRowsOutput,
        handler=_change,
        approval_when=_bulk,
    ),
]
