"""The rows an accepted UPDATE/DELETE touches (``GuardedSql.touched``): a SELECT under the
write's own rewritten WHERE clause and placeholders, in key order, that the approval's
effect counts and samples (``bound_writes``)."""

from __future__ import annotations

import sqlite3

import pytest

from paybill.server.core.vocabulary import Role
from paybill.server.executors.dataplane.sqlguard import TENANT_PARAM, Dialect, guard_sql
from paybill.server.executors.dataplane.visibility import visible_schema

ADMIN = visible_schema(Role.TENANT_ADMIN, {"data.read", "data.sql"})


def _write(sql: str, params: dict[str, object], dialect: Dialect) -> tuple[str, str]:
    guarded = guard_sql(sql, params, schema=ADMIN, dialect=dialect, allow_write=True, max_rows=100)
    assert guarded.kind == "write" and guarded.touched is not None
    return guarded.sql, guarded.touched


@pytest.mark.parametrize("dialect", ["postgres", "sqlite"])
def test_the_touched_rows_share_the_writes_where_clause(dialect: Dialect) -> None:
    sql, touched = _write(
        "UPDATE customers AS c SET country = 'NL' WHERE c.name LIKE 'A%' AND id % 2 = 1",
        {},
        dialect,
    )
    where = sql.split(" WHERE ", 1)[1]
    assert touched == f'SELECT c.* FROM customers AS c WHERE {where} ORDER BY "c"."id"'
    assert TENANT_PARAM in where  # the tenant predicate the guard injected


def test_reads_have_no_touched_rows() -> None:
    guarded = guard_sql(
        "SELECT name FROM customers",
        {},
        schema=ADMIN,
        dialect="sqlite",
        allow_write=True,
        max_rows=10,
    )
    assert (guarded.kind, guarded.operation, guarded.touched) == ("read", None, None)


def test_the_touched_rows_are_the_rows_the_write_changes() -> None:
    """On a real SQLite database: the SELECT finds exactly the rows the DELETE removes."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, tenant_id TEXT, name TEXT)")
    rows = [(1, "t", "Ada"), (2, "t", "Bob"), (3, "u", "Ada"), (4, "t", "Ada's")]
    db.executemany("INSERT INTO customers VALUES (?, ?, ?)", rows)
    sql, touched = _write("DELETE FROM customers WHERE name LIKE :n", {"n": "Ada%"}, "sqlite")
    params = {"n": "Ada%", TENANT_PARAM: "t"}
    found = [row[0] for row in db.execute(touched, params)]
    assert found == [1, 4]
    assert db.execute(sql, params).rowcount == len(found)
