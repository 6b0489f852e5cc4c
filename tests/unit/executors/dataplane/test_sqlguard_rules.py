"""The SQL guard's rules that golden files cannot show: what the rewritten statement looks
like (FETCH folded into LIMIT, comments dropped, % escaped for psycopg), and that its own work
is bounded (counted, not timed: the budget refuses before qualification runs)."""

from __future__ import annotations

from typing import Any

import pytest

from paybill.server.core.errors import SqlRejected
from paybill.server.core.vocabulary import Role
from paybill.server.executors.dataplane import sqlguard
from paybill.server.executors.dataplane.sqlguard import TENANT_PARAM, Dialect, guard_sql
from paybill.server.executors.dataplane.sqlguard_budget import Stopwatch
from paybill.server.executors.dataplane.visibility import visible_schema

AGENT = visible_schema(Role.TENANT_AGENT, {"data.read", "data.sql"})
TABLES = ["customers", "invoices", "usage_events", "support_tickets"]


@pytest.fixture(autouse=True)
def _no_remembered_outcomes() -> None:
    # Some tests replace parts of the guard: an outcome remembered before would hide them.
    sqlguard.clear_memo()


def _guard(sql: str, dialect: Dialect = "postgres", max_rows: int = 100) -> sqlguard.GuardedSql:
    return guard_sql(sql, {}, schema=AGENT, dialect=dialect, allow_write=False, max_rows=max_rows)  # type: ignore[arg-type]


def _rule(sql: str, dialect: Dialect = "postgres") -> str:
    with pytest.raises(SqlRejected) as refused:
        _guard(sql, dialect)
    return str(refused.value.details["rule"])


@pytest.mark.parametrize(
    ("sql", "limit"),
    [
        ("SELECT id FROM customers FETCH FIRST 1 ROW ONLY", 1),
        ("SELECT id FROM customers FETCH FIRST ROW ONLY", 1),
        ("SELECT id FROM customers FETCH NEXT 7 ROWS ONLY", 7),
        ("SELECT id FROM customers FETCH FIRST 5000 ROWS ONLY", 101),
        ("SELECT id FROM customers LIMIT 3", 3),
    ],
)
@pytest.mark.parametrize("dialect", ["postgres", "sqlite"])
def test_fetch_first_is_a_limit_capped_like_one(sql: str, limit: int, dialect: Dialect) -> None:
    guarded = _guard(sql, dialect)
    assert guarded.limit == limit
    assert guarded.sql.endswith(f"LIMIT {limit}") and "FETCH" not in guarded.sql


def test_comments_are_dropped_and_percent_signs_escaped_for_psycopg() -> None:
    guarded = _guard("SELECT id % 2 AS \"a%b\" /* 100% */ FROM customers -- 5%\nWHERE name = '%'")
    assert "/*" not in guarded.sql and "--" not in guarded.sql
    assert '"a%%b"' in guarded.sql and "%% 2" in guarded.sql
    assert guarded.sql.count("%(") == 2  # the tenant id and the bound '%' literal
    assert f"%({TENANT_PARAM})s" in guarded.sql and list(guarded.params.values()) == ["%"]


def test_a_placeholder_spelled_in_an_alias_stays_text() -> None:
    guarded = _guard(f'SELECT id AS "%({TENANT_PARAM})s" FROM customers')
    assert f'"%%({TENANT_PARAM})s"' in guarded.sql
    assert guarded.sql.count(f"%({TENANT_PARAM})s") == 2  # the escaped alias, the predicate


def test_sqlite_keeps_percent_signs_as_they_are() -> None:
    guarded = _guard('SELECT id % 2 AS "a%b" FROM customers', "sqlite")
    assert '"a%b"' in guarded.sql and f":{TENANT_PARAM}" in guarded.sql


def test_interval_text_stays_inline_on_postgres_and_is_refused_on_sqlite() -> None:
    sql = "SELECT id FROM invoices WHERE issued_at > now() - interval '1' day"
    assert "INTERVAL '1 DAY'" in _guard(sql).sql
    assert _rule(sql, "sqlite") == "interval"


def _counting_qualify(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = sqlguard.qualify

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(sqlguard, "qualify", counted)
    return calls


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM customers t0 "
        + " ".join(f"NATURAL JOIN {TABLES[i % 4]} t{i}" for i in range(1, 151)),
        "SELECT * FROM " + ", ".join(f"{TABLES[i % 4]} t{i}" for i in range(200)),
    ],
    ids=["natural_join_150", "comma_join_200"],
)
def test_expensive_statements_are_refused_before_qualification(
    sql: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _counting_qualify(monkeypatch)
    assert _rule(sql) == "too_complex"
    assert calls == []


def test_statements_within_the_budget_are_qualified(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting_qualify(monkeypatch)
    _guard(
        "SELECT * FROM customers t0 "
        + " ".join(f"NATURAL JOIN invoices t{i}" for i in range(1, 16))
    )
    assert calls == [1]


def test_recursion_anywhere_is_a_rejection_not_internal(monkeypatch: pytest.MonkeyPatch) -> None:
    def deep(*_args: Any, **_kwargs: Any) -> Any:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(sqlguard, "qualify", deep)
    assert _rule("SELECT id FROM customers") == "too_complex"


def test_the_wall_time_budget_is_checked_between_phases() -> None:
    ticks = iter([0.0, 10.0])
    watch = Stopwatch(clock=lambda: next(ticks), limit=0.5)
    with pytest.raises(SqlRejected) as refused:
        watch.check("qualify")
    assert refused.value.details == {"rule": "too_complex", "limit": "time"}


@pytest.mark.parametrize("error", [AssertionError("* is not Alias"), KeyError("x"), TypeError()])
def test_sqlglot_failing_unexpectedly_is_a_rejection(
    error: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(sqlguard, "qualify", broken)
    assert _rule("SELECT id FROM customers") == "unresolved"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT name FROM customers NATURAL JOIN (SELECT 'a@b.c' AS email) AS d",
        "SELECT d.hit FROM customers NATURAL LEFT JOIN (SELECT 'a@b.c' AS email, 1 AS hit) AS d",
        "SELECT count(*) FROM support_tickets NATURAL JOIN (SELECT 'x' AS tenant_id) AS d",
        "WITH d AS (SELECT 'a@b.c' AS email) SELECT name FROM customers NATURAL JOIN d",
    ],
)
@pytest.mark.parametrize("dialect", ["postgres", "sqlite"])
def test_natural_join_is_refused_its_join_columns_are_implicit(sql: str, dialect: Dialect) -> None:
    # Its join columns include hidden ones (email, tenant_id) that no column reference names.
    assert _rule(sql, dialect) == "natural_join"


@pytest.mark.parametrize("dialect", ["postgres", "sqlite"])
def test_natural_join_of_tables_runs_as_the_visible_columns_it_shares(dialect: Dialect) -> None:
    # Qualification rewrites it to an ON over the visible columns both tables have: nothing
    # implicit is left to run.
    guarded = _guard("SELECT i.id FROM invoices AS i NATURAL JOIN customers AS c", dialect)
    assert "NATURAL" not in guarded.sql and 'ON "i"."id" = "c"."id" WHERE' in guarded.sql


def test_distinct_on_may_not_alias_a_hidden_column_on_sqlite() -> None:
    # SQLite runs DISTINCT ON as a window in a subquery, where "email" is customers.email.
    sql = "SELECT DISTINCT ON (email) name AS email FROM customers"
    assert _rule(sql, "sqlite") == "distinct_on"
    ordered = "SELECT DISTINCT ON (name) name, country AS tenant_id FROM customers ORDER BY name"
    assert _rule(ordered, "sqlite") == "distinct_on"
    assert "DISTINCT ON" in _guard(sql, "postgres").sql  # PostgreSQL means the output column
    _guard("SELECT DISTINCT ON (country) country AS place FROM customers", "sqlite")


def _bounded(sql: str, dialect: Dialect) -> str:
    return guard_sql(
        sql, {}, schema=AGENT, dialect=dialect, allow_write=False, max_rows=100, max_value_chars=40
    ).sql


@pytest.mark.parametrize(
    ("sql", "postgres", "sqlite"),
    [
        (
            "SELECT string_agg(name, ',') AS s FROM customers",
            'SUBSTRING(STRING_AGG("customers"."name", %(',
            'SUBSTRING(GROUP_CONCAT("customers"."name", :',
        ),
        (
            "SELECT string_agg(name, ',') OVER (ORDER BY id) AS s FROM customers",
            'SUBSTRING(STRING_AGG("customers"."name", %(',
            'SUBSTRING(GROUP_CONCAT("customers"."name", :',
        ),
        (
            "SELECT array_agg(name) AS a FROM customers",
            '(ARRAY_AGG("customers"."name"))[1:41]',
            'ARRAY_AGG("customers"."name")',  # no arrays on SQLite: it refuses the statement
        ),
    ],
)
def test_text_and_array_aggregates_are_cut_in_the_database(
    sql: str, postgres: str, sqlite: str
) -> None:
    assert postgres in _bounded(sql, "postgres")
    assert sqlite in _bounded(sql, "sqlite")
    # One more than the bound (40): a cut value is still too large, so it is refused.
    assert "41" in _bounded(sql, "postgres")


def test_an_inner_aggregate_is_cut_inside_the_outer_one() -> None:
    sql = (
        "SELECT country, string_agg((SELECT string_agg(i.status, ',') FROM invoices i "
        "WHERE i.customer_id = c.id), ';') AS s FROM customers c GROUP BY country"
    )
    assert _bounded(sql, "postgres").count("SUBSTRING(STRING_AGG(") == 2
