"""Structured queries (no SQL text from the caller): typed filters built with SQLAlchemy."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Integer, Select, Table, asc, desc, func, select
from sqlalchemy.sql.elements import ColumnElement

from paybill.server.core.errors import InvalidInput
from paybill.server.executors.dataplane.rowcodec import integer_range
from paybill.server.executors.dataplane.schema import TENANT_TABLES
from paybill.server.executors.dataplane.visibility import VisibleSchema

Op = Literal["eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "like", "is_null", "is_not_null"]
AggregateFn = Literal["count", "sum", "avg", "min", "max"]
_PYTHON_TYPES: dict[str, Any] = {
    "integer": TypeAdapter(int, config={"strict": True}),
    "bigint": TypeAdapter(int, config={"strict": True}),
    "varchar": TypeAdapter(str),
    "text": TypeAdapter(str),
    "timestamptz": TypeAdapter(datetime),
}
MAX_IN_VALUES = 500


def table_for(schema: VisibleSchema, name: str) -> Table:
    """Raises: InvalidInput for a table the caller cannot see."""
    if name not in schema.tables:
        raise InvalidInput(
            f"No table {name!r}; describe_schema lists the tables you may use.", table=name
        )
    return TENANT_TABLES[name]


def column_type(schema: VisibleSchema, table: str, column: str) -> str:
    """Raises: InvalidInput for a column the caller cannot see."""
    kind = schema.columns(table).get(column)
    if kind is None:
        raise InvalidInput(
            f"No column {column!r} in {table}; describe_schema lists the columns you may use.",
            table=table,
            column=column,
        )
    return kind


def coerce(schema: VisibleSchema, table: str, column: str, value: Any) -> Any:
    """The value converted to the column's type. Raises: InvalidInput."""
    kind = column_type(schema, table, column)
    if value is None:
        return None
    try:
        coerced = _PYTHON_TYPES[kind].validate_python(value)
    except ValidationError:
        raise InvalidInput(
            f"{table}.{column} is {kind}; {type(value).__name__} value does not fit.",
            table=table,
            column=column,
            expected=kind,
        ) from None
    declared = TENANT_TABLES[table].c[column].type
    if isinstance(declared, Integer):
        # PostgreSQL refuses a value beyond the type, SQLite would store it: both refuse here.
        low, high = integer_range(declared)
        if not low <= coerced <= high:
            raise InvalidInput(
                f"{table}.{column} is {kind}: values run from {low} to {high}.",
                table=table,
                column=column,
                expected=kind,
            )
    if kind == "timestamptz" and coerced.tzinfo is None:
        raise InvalidInput(f"{table}.{column} needs a timestamp with a UTC offset.")
    length = getattr(TENANT_TABLES[table].c[column].type, "length", None)
    if isinstance(coerced, str) and length is not None and len(coerced) > length:
        raise InvalidInput(f"{table}.{column} holds at most {length} characters.")
    return coerced


def condition(
    schema: VisibleSchema, table: Table, column: str, op: Op, value: Any
) -> ColumnElement[bool]:
    """One typed filter. Raises: InvalidInput."""
    column_type(schema, table.name, column)
    col = table.c[column]
    if op == "is_null":
        return col.is_(None)
    if op == "is_not_null":
        return col.is_not(None)
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value or len(value) > MAX_IN_VALUES:
            raise InvalidInput(
                f"{op} takes a list of 1 to {MAX_IN_VALUES} values.", column=column, op=op
            )
        values = [coerce(schema, table.name, column, v) for v in value]
        return col.in_(values) if op == "in" else col.not_in(values)
    if isinstance(value, list) or value is None:
        raise InvalidInput(f"{op} takes one non-null value.", column=column, op=op)
    typed = coerce(schema, table.name, column, value)
    if op == "like":
        if not isinstance(typed, str):
            raise InvalidInput("like applies to text columns.", column=column)
        return col.like(typed)
    operators = {
        "eq": col.__eq__,
        "ne": col.__ne__,
        "lt": col.__lt__,
        "lte": col.__le__,
        "gt": col.__gt__,
        "gte": col.__ge__,
    }
    return operators[op](typed)


def tenant_rows(
    schema: VisibleSchema, table: Table, tenant_id: str, filters: Iterable[tuple[str, Op, Any]]
) -> list[ColumnElement[bool]]:
    """The WHERE clauses of ``tenant_id``'s rows in ``table`` matching typed filters.

    Raises: InvalidInput for a filter the caller may not use.
    """
    return [table.c.tenant_id == tenant_id] + [
        condition(schema, table, column, op, value) for column, op, value in filters
    ]


def build_select(
    schema: VisibleSchema,
    tenant_id: str,
    *,
    table: str,
    columns: list[str] | None,
    filters: list[tuple[str, Op, Any]],
    order_by: list[tuple[str, Literal["asc", "desc"]]],
    group_by: list[str],
    aggregates: list[tuple[AggregateFn, str | None]],
    limit: int,
) -> Select[Any]:
    """A SELECT over one visible table, always filtered to ``tenant_id``."""
    source = table_for(schema, table)
    visible = schema.columns(table)
    picked: list[Any] = []
    for name in group_by:
        column_type(schema, table, name)
        picked.append(source.c[name])
    for fn, of in aggregates:
        if of is None and fn != "count":
            raise InvalidInput(f"{fn} needs a column.")
        if of is not None:
            column_type(schema, table, of)
        target = source.c[of] if of is not None else None
        label = f"{fn}_{of or 'all'}"
        picked.append((func.count() if target is None else getattr(func, fn)(target)).label(label))
    if not aggregates:
        names = columns or list(visible)
        for name in names:
            column_type(schema, table, name)
        picked = [source.c[n] for n in names]
    elif columns:
        raise InvalidInput("with aggregates, list plain columns in group_by instead of columns.")
    query = select(*picked).where(source.c.tenant_id == tenant_id)
    for column, op, value in filters:
        query = query.where(condition(schema, source, column, op, value))
    if group_by:
        query = query.group_by(*(source.c[n] for n in group_by))
    for name, direction in order_by:
        if name not in visible:
            column_type(schema, table, name)
        if aggregates and name not in group_by:
            raise InvalidInput("order_by must name a group_by column when aggregating.")
        query = query.order_by(asc(source.c[name]) if direction == "asc" else desc(source.c[name]))
    return query.limit(limit + 1)
