"""Changing tenant data: insert_rows, update_rows, delete_rows (schema-validated values)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from paybill.server.core.errors import InvalidInput
from paybill.server.executors.dataplane.access import tenant_transaction
from paybill.server.executors.dataplane.bound_writes import GENERATED
from paybill.server.executors.dataplane.metering import (
    require_row_room,
    row_counts,
)
from paybill.server.executors.dataplane.structured import coerce, table_for
from paybill.server.guards.approval import bulk_change
from paybill.server.guards.call import Call
from paybill.server.guards.effects_sql import (
    RowChangeEffect,
    count_touched,
    execute_write,
    row_change,
)
from paybill.server.guards.spec import (
    DataAccess,
    GatedOutput,
    MutatingInput,
    Scope,
    ToolSpec,
)
from paybill.tools.data_models import IDENT, FilterIn, Scalar
from paybill.tools.models import SLUG_FIELD
from paybill.tools.resolve import tenant_by_slug


class InsertRowsInput(MutatingInput):
    tenant: str = SLUG_FIELD
    table: str = Field(pattern=IDENT)
    rows: list[dict[str, Scalar]] = Field(min_length=1, max_length=500)


class ChangeRowsOutput(GatedOutput):
    table: str
    rows_affected: int
    ids: list[int] = Field(default_factory=list, description="Ids of inserted rows.")
    dry_run: bool


def _values(call: Call, table: str, row: dict[str, Any]) -> dict[str, Any]:
    schema = call.visible_schema()
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


def checked_rows(call: Call, args: InsertRowsInput) -> list[dict[str, Any]]:
    """The rows' values checked and coerced against the table's columns."""
    return [_values(call, args.table, row) for row in args.rows]


def insert_rows(call: Call, args: InsertRowsInput) -> ChangeRowsOutput:
    rows: list[dict[str, Any]] = call.prepared
    route = call.route()
    settings = call.services.settings
    counts = row_counts(
        call.services.engines, route, settings.statement_timeout_ms, call.tenant_work
    )
    current = sum(counts.values())
    require_row_room(call.target(), current, len(rows))
    if call.dry_run:
        return ChangeRowsOutput(table=args.table, rows_affected=len(rows), dry_run=True)
    table = table_for(call.visible_schema(), args.table)
    with tenant_transaction(
        call.services.engines,
        route,
        read_only=False,
        timeout_ms=settings.statement_timeout_ms,
        gate=call.tenant_work,
    ) as conn:
        ids = [
            conn.execute(
                table.insert().values(**row, tenant_id=route.tenant_id).returning(table.c.id)
            ).scalar_one()
            for row in rows
        ]
    call.meter(rows_written=len(ids))
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


def _change(call: Call, args: UpdateRowsInput | DeleteRowsInput) -> ChangeRowsOutput:
    # The statement the effect binds is the one that runs (``effects_sql.row_change``).
    write = row_change(call)
    if call.dry_run:
        matching = count_touched(call, write)
        return ChangeRowsOutput(table=args.table, rows_affected=matching, dry_run=True)
    affected = execute_write(call, write)
    call.meter(rows_written=affected)
    return ChangeRowsOutput(table=args.table, rows_affected=affected, dry_run=False)


def _spec(**kwargs: Any) -> ToolSpec:
    return ToolSpec(scope=Scope.TENANT, tenant_of=tenant_by_slug, feature="data.write", **kwargs)


TOOLS = [
    _spec(
        name="insert_rows",
        writes="additions",
        repeatable=False,  # without an idempotency key, the same rows again
        title="Insert rows",
        description="Insert up to 500 rows into one table; values are checked against the "
        "column types. Refused beyond the plan's row limit.",
        input_model=InsertRowsInput,
        output_model=ChangeRowsOutput,
        handler=insert_rows,
        prepare=checked_rows,
        data_access=DataAccess("write", dry_run="write"),
    ),
    _spec(
        name="update_rows",
        title="Update rows",
        description="Set column values on the rows matching typed filters. Without a filter, "
        "or above the bulk threshold, it waits for an approval.",
        input_model=UpdateRowsInput,
        output_model=ChangeRowsOutput,
        handler=_change,
        approval_when=bulk_change,
        effect=RowChangeEffect(),
        # A dry run counts the rows it would change: a read.
        data_access=DataAccess("write", dry_run="read"),
    ),
    _spec(
        name="delete_rows",
        title="Delete rows",
        description="Delete the rows matching typed filters. Without a filter, or above the "
        "bulk threshold, it waits for an approval.",
        input_model=DeleteRowsInput,
        output_model=ChangeRowsOutput,
        handler=_change,
        approval_when=bulk_change,
        effect=RowChangeEffect(),
        # A dry run counts the rows it would change: a read.
        data_access=DataAccess("write", dry_run="read"),
    ),
]
