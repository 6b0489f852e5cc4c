"""Property: whatever SELECT a tenant agent writes over the tenant schema (aliases, CTEs,
joins, subqueries, stars, whole-row references), the guard refuses it, or the statement it
lets through returns only columns the caller may see and no hidden, PII or other tenant's
value, executed against a real tenant store seeded with sentinels (SQLite and PostgreSQL,
where whole-row references are real values); its row count does not depend on hidden values
(a literal source with columns named like hidden ones, set once to the real hidden value and
once to another: a NATURAL join used to match them in the database); the guard's own work
stays bounded."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import DBAPIError

from paybill.server.core.errors import SqlRejected
from paybill.server.core.vocabulary import Role
from paybill.server.executors.dataplane.access import tenant_transaction, ungated
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.executors.dataplane.schema import HIDDEN_COLUMNS, TENANT_TABLES
from paybill.server.executors.dataplane.sqlguard import TENANT_PARAM, Dialect, guard_sql
from paybill.server.executors.dataplane.visibility import VisibleSchema, visible_schema
from tests.support.sentinels import (
    OTHER_TENANT_SENTINEL,
    PII_SENTINEL,
    route_of,
    seed_sentinels,
)
from tests.support.served import Served, SharedStores

TABLES = sorted(TENANT_TABLES)
COLUMNS = {t: [c.name for c in TENANT_TABLES[t].columns] for t in TABLES}
SECRET_COLUMNS = HIDDEN_COLUMNS | {"email"}
LITERAL_ALIASES = {"a", "b", "n", "k"}
# Placeholders in a literal source named like hidden columns, replaced before each run.
PROBE_EMAIL, PROBE_TENANT = "<probe-email>", "<probe-tenant>"
NO_EMAIL, NO_TENANT = "nobody@example.invalid", "00000000-0000-0000-0000-000000000000"


@dataclass
class Query:
    """A generated statement and whether it reaches a hidden or PII column anywhere."""

    ctes: list[str] = field(default_factory=list)
    touches_secret: bool = False


def _column(draw: st.DrawFn, q: Query, table: str) -> str:
    column = draw(st.sampled_from(COLUMNS[table]))
    q.touches_secret |= column in SECRET_COLUMNS
    return column


def _source(draw: st.DrawFn, q: Query, i: int) -> tuple[str, str, str | None]:
    """(FROM text, alias, the tenant table behind it or None for literals)."""
    alias, table = f"s{i}", draw(st.sampled_from(TABLES))
    kind = draw(
        st.sampled_from(
            ["table", "bare", "renamed", "derived", "derived_star", "dup", "cte", "probe"]
        )
    )
    if kind == "table":
        return f"{table} AS {alias}", alias, table
    if kind == "renamed":
        # Renames columns by position: visible names may now carry hidden columns.
        q.touches_secret = True
        names = draw(st.lists(st.sampled_from(COLUMNS[table] + ["x", "y"]), min_size=1, max_size=5))
        return f"{table} AS {alias}({', '.join(names)})", alias, table
    if kind == "bare":
        return table, table, table
    if kind == "dup":
        return f"(SELECT 1 AS a, 2 AS a) AS {alias}", alias, None
    if kind == "probe":
        literal = f"(SELECT '{PROBE_EMAIL}' AS email, '{PROBE_TENANT}' AS tenant_id)"
        return f"{literal} AS {alias}", alias, None
    cols = "*" if kind == "derived_star" else _column(draw, q, table)
    if kind == "cte":
        q.ctes.append(f"w{i} AS (SELECT {cols} FROM {table})")
        return f"w{i} AS {alias}", alias, table
    return f"(SELECT {cols} FROM {table}) AS {alias}", alias, table


def _item(draw: st.DrawFn, q: Query, alias: str, table: str | None) -> str:
    kind = draw(
        st.sampled_from(
            ["star", "alias_star", "column", "row", "field", "cast", "count", "lit", "scalar"]
        )
    )
    if kind in ("row", "field", "cast"):
        q.touches_secret = True  # a whole row carries tenant_id (and email)
    column = _column(draw, q, table) if table and kind in ("column", "field") else "a"
    if kind == "scalar":
        inner = draw(st.sampled_from(TABLES))
        return f"(SELECT z.{_column(draw, q, inner)} FROM {inner} z LIMIT 1) AS b"
    return {
        "star": "*",
        "alias_star": f"{alias}.*",
        "column": f"{alias}.{column}",
        "row": alias,
        "field": f"({alias}).{column}",
        "cast": f"CAST({alias} AS TEXT)",
        "count": "count(*) AS n",
        "lit": "1 AS k",
    }[kind]


@st.composite
def selects(draw: st.DrawFn) -> tuple[str, bool]:
    q = Query()
    sources = [_source(draw, q, i) for i in range(draw(st.integers(1, 3)))]
    from_ = sources[0][0]
    for i, (text, _alias, _table) in enumerate(sources[1:], start=1):
        join = draw(
            st.sampled_from(
                [", ", " CROSS JOIN ", " NATURAL JOIN ", " JOIN ", " LEFT JOIN ", " USING "]
            )
        )
        on = " ON true" if join in (" JOIN ", " LEFT JOIN ") else ""
        if join == " USING ":
            shared = draw(st.sampled_from(["id", "customer_id", "tenant_id", "email", "status"]))
            # Between probe literals only, those names are the literals' own columns.
            probes_only = all(PROBE_EMAIL in t for t, _, _ in sources[: i + 1])
            q.touches_secret |= shared in SECRET_COLUMNS and not probes_only
            join, on = " JOIN ", f" USING ({shared})"
        from_ += f"{join}{text}{on}"
    items = [
        _item(draw, q, *draw(st.sampled_from([(a, t) for _, a, t in sources])))
        for _ in range(draw(st.integers(1, 3)))
    ]
    sql = f"SELECT {', '.join(items)} FROM {from_}"
    alias, table = draw(st.sampled_from([(a, t) for _, a, t in sources]))
    where = draw(st.sampled_from(["", "column", "row", "exists"]))
    if where == "column" and table:
        sql += f" WHERE {alias}.{_column(draw, q, table)} IS NOT NULL"
    elif where == "row":
        q.touches_secret = True
        sql += f" WHERE CAST({alias} AS TEXT) LIKE '%sentinel%'"
    elif where == "exists":
        column = _column(draw, q, "customers")
        sql += f" WHERE EXISTS (SELECT 1 FROM customers x WHERE x.{column} IS NOT NULL)"
    if draw(st.booleans()):
        sql += " ORDER BY 1"
    if q.ctes:
        sql = f"WITH {', '.join(q.ctes)} {sql}"
    if draw(st.booleans()):
        sql += f" UNION SELECT {_column(draw, q, 'customers')} FROM customers"
    if draw(st.booleans()):
        sql = f"SELECT * FROM ({sql}) AS outer_q"
    return sql, q.touches_secret


def _prepare(served: Served) -> dict[str, TenantRoute]:
    seed_sentinels(served.services)
    return {slug: route_of(served.services, slug) for slug in ("acme", "globex")}


@pytest.fixture
def store(
    shared_stores: SharedStores, backend: str
) -> Iterator[tuple[Served, dict[str, TenantRoute]]]:
    with shared_stores.serve(backend, _prepare) as served:
        yield served, shared_stores.get(backend, _prepare).prepared


Result = tuple[list[str], list[tuple[object, ...]]]


def _run(served: Served, route: TenantRoute, schema: VisibleSchema, sql: str) -> Result | None:
    """The result's column names and rows; None when the guard or the database refused."""
    dialect: Dialect = "postgres" if served.services.engines.postgres else "sqlite"
    started = time.process_time()
    try:
        guarded = guard_sql(sql, {}, schema=schema, dialect=dialect, allow_write=False, max_rows=50)
    except SqlRejected:
        return None
    finally:
        # Bounded guard work: generous, the statements here are small.
        assert time.process_time() - started < 2.0
    params = {**guarded.params, TENANT_PARAM: route.tenant_id}
    try:
        with tenant_transaction(
            served.services.engines, route, read_only=True, timeout_ms=5000, gate=ungated
        ) as conn:
            result = conn.exec_driver_sql(guarded.sql, params)
            names, rows = list(result.keys()), [tuple(r) for r in result]
    except DBAPIError:
        return None  # the database refused it (e.g. an ambiguous name): nothing returned
    return names, rows


def _rows(rows: list[tuple[object, ...]], swap: dict[str, str]) -> list[tuple[str, ...]]:
    return sorted(tuple(swap.get(str(v), str(v)) for v in row) for row in rows)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=selects())
def test_accepted_selects_return_only_what_the_caller_may_see(
    store: tuple[Served, dict[str, TenantRoute]], case: tuple[str, bool]
) -> None:
    served, routes = store
    sql, touches_secret = case
    schema = visible_schema(Role.TENANT_AGENT, {"data.read", "data.sql"})
    route = routes["globex"]
    hidden = sql.replace(PROBE_EMAIL, PII_SENTINEL).replace(PROBE_TENANT, route.tenant_id)
    outcome = _run(served, route, schema, hidden)
    if outcome is None:
        return
    literal_names: set[str] = set()
    if PROBE_EMAIL in sql:
        swap = {PII_SENTINEL: NO_EMAIL, route.tenant_id: NO_TENANT}
        other = sql.replace(PROBE_EMAIL, NO_EMAIL).replace(PROBE_TENANT, NO_TENANT)
        elsewhere = _run(served, route, schema, other)
        assert elsewhere is not None, other
        # The same rows, up to the probe values themselves when selected.
        assert _rows(outcome[1], swap) == _rows(elsewhere[1], {}), f"depends on hidden: {sql}"
        # Values are checked on the run whose probes hold no secret (they come back as
        # themselves when selected); the probe's column names are literals' names.
        outcome, literal_names = elsewhere, {"email", "tenant_id"}
    assert not touches_secret, f"accepted a statement reaching hidden data: {sql}"
    names, rows = outcome
    visible = {c for cols in schema.tables.values() for c in cols} | literal_names
    assert set(names) <= visible | LITERAL_ALIASES | {"_col_0", "_col_1", "_col_2"}, sql
    secrets = {PII_SENTINEL, OTHER_TENANT_SENTINEL, *(r.tenant_id for r in routes.values())}
    values = {str(v) for row in rows for v in row}
    assert not values & secrets, sql
    assert not any(s in v for v in values for s in secrets), sql
