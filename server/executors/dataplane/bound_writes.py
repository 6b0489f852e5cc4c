"""A tenant write bound to what it touches: the statement exactly as it executes, and the rows
it touches counted, sampled by key and hashed (the effect an approval binds, built by
``guards.effects_sql``).

The rows come from a SELECT under the write's own WHERE clause and parameters: the sql
guard's rewrite for ``run_sql`` (``GuardedSql.touched``), the same Core clauses for the
structured tools. Inside the write's transaction it locks them first (PostgreSQL:
``FOR UPDATE``; SQLite writes hold the file's write lock from BEGIN IMMEDIATE).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, Executable, Select, Table, func, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect

from paybill.server.core.errors import InvalidInput
from paybill.server.executors.dataplane.sqlguard import TENANT_PARAM, GuardedSql
from paybill.server.executors.dataplane.structured import coerce
from paybill.server.executors.dataplane.visibility import VisibleSchema

KEY = "id"  # every tenant table's primary key (``schema``)
# Columns the database sets: never written by a caller.
GENERATED = frozenset({"id", "created_at", "issued_at", "occurred_at"})
Operation = Literal["UPDATE", "DELETE"]


@dataclass(frozen=True)
class TouchedRows:
    """The rows a write touches as they are now."""

    count: int
    sample: list[Any]  # the first keys, in key order
    more: bool  # keys beyond the sample
    sha256: str  # of every touched row (all its columns), in key order


@dataclass(frozen=True)
class BoundWrite:
    """One UPDATE or DELETE of one table, as it will execute."""

    operation: Operation
    table: str
    statement: str  # the text that executes (driver placeholders)
    params: dict[str, Any]  # its bound values, as JSON values
    values: dict[str, Any] | None = None  # update_rows: the values it sets, as JSON values
    # Structured tools: the Core statement ``statement`` was compiled from, and the Core
    # SELECT of the rows it touches. run_sql: None, and ``touched_sql`` (driver SQL).
    core: Executable | None = None
    touched_select: Select[Any] | None = None
    touched_sql: str | None = None

    def execute(self, conn: Connection) -> int:
        """Run the write; how many rows it changed."""
        if self.core is None:
            return int(conn.exec_driver_sql(self.statement, self.params).rowcount)
        return int(conn.execute(self.core).rowcount)

    def count(self, conn: Connection) -> int:
        """How many rows the write touches (a dry run's answer)."""
        if self.touched_select is None:
            return self.touched(conn, sample=0, lock=False).count
        rows = self.touched_select.order_by(None).subquery()
        return int(conn.execute(select(func.count()).select_from(rows)).scalar_one())

    def touched(self, conn: Connection, *, sample: int, lock: bool) -> TouchedRows:
        """Count, sample and hash the rows the write touches; ``lock`` (PostgreSQL, inside
        the write's transaction): lock them until it ends."""
        if self.touched_select is not None:
            query = self.touched_select.with_for_update() if lock else self.touched_select
            result = conn.execute(query)
        else:
            text = f"{self.touched_sql} FOR UPDATE" if lock else str(self.touched_sql)
            result = conn.exec_driver_sql(text, self.params)
        names = list(result.keys())
        at = names.index(KEY)
        digest, keys, count = hashlib.sha256(), list[Any](), 0
        for row in result:
            count += 1
            if len(keys) <= sample:
                keys.append(row[at])
            digest.update(json.dumps(list(row), default=_text, separators=(",", ":")).encode())
            digest.update(b"\n")
        return TouchedRows(count, keys[:sample], len(keys) > sample, digest.hexdigest())


def statement_dialect(engine: Dialect) -> Dialect:
    """What a structured write compiles with, for the text an approver reads: the tenant
    engine's own (psycopg), but named ``:placeholders`` on SQLite, not positional ``?``."""
    return sqlite.dialect(paramstyle="named") if engine.name == "sqlite" else engine


def sql_write(guarded: GuardedSql, tenant_id: str) -> BoundWrite:
    """A ``run_sql`` write the sql guard accepted and rewrote, with its tenant bound."""
    if guarded.operation is None or guarded.touched is None:
        raise ValueError("not a write the sql guard rewrote")
    (table,) = guarded.tables
    return BoundWrite(
        operation=guarded.operation,
        table=table,
        statement=guarded.sql,
        params={**guarded.params, TENANT_PARAM: tenant_id},
        touched_sql=guarded.touched,
    )


def set_values(schema: VisibleSchema, table: str, values: dict[str, Any]) -> dict[str, Any]:
    """The values an update sets, checked and coerced against the columns.

    Raises: InvalidInput for a generated or unknown column or a value that does not fit."""
    coerced = {}
    for column, value in values.items():
        if column in GENERATED:
            raise InvalidInput(f"{table}.{column} is set by the database.", column=column)
        coerced[column] = coerce(schema, table, column, value)
    return coerced


def structured_write(
    table: Table,
    where: list[ColumnElement[bool]],
    values: dict[str, Any] | None,
    dialect: Dialect,
) -> BoundWrite:
    """update_rows (``values``) or delete_rows over ``where`` (``structured.tenant_rows``)."""
    core: Any = (
        table.delete().where(*where)
        if values is None
        else table.update().where(*where).values(**values)
    )
    compiled = core.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    return BoundWrite(
        operation="DELETE" if values is None else "UPDATE",
        table=table.name,
        statement=str(compiled),
        params={k: json_value(v) for k, v in compiled.params.items()},
        values=None if values is None else {k: json_value(v) for k, v in values.items()},
        core=core,
        touched_select=select(table).where(*where).order_by(table.c[KEY]),
    )


def json_value(value: Any) -> Any:
    """A bound value as JSON: timestamps as ISO 8601 text."""
    return value.isoformat() if isinstance(value, datetime | date) else value


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime | date) else str(value)
