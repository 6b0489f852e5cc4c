"""run_sql against the SQL guard's breaches (issue 13), on both backends: stars, whole-row
references and CTE shadowing refused; the budget; legitimate PostgreSQL shapes; database
errors without the values they quote; results bounded in bytes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from paybill.server.core.settings import Settings
from tests.support.sentinels import (
    OTHER_TENANT_SENTINEL,
    PII_SENTINEL,
    insert_raw,
    seed_sentinels,
)
from tests.support.served import (
    PopulatedStores,
    Served,
    SharedStores,
    make_settings,
    serve_populated,
)

# The caller: a platform admin on globex, whose plan (pro) has no data.pii, so neither
# ``email`` nor ``tenant_id`` is visible to it.
CALLER, TENANT = "admin", "globex"
TABLES = ["customers", "invoices", "usage_events", "support_tickets"]
BREACHES = [
    "SELECT * FROM customers, (SELECT 1 AS a, 2 AS a) AS d",
    "WITH d AS (SELECT 1 AS a, 2 AS a) SELECT * FROM customers CROSS JOIN d",
    "SELECT * FROM customers NATURAL JOIN (SELECT 1 AS a, 2 AS a) AS d",
    "SELECT * FROM (SELECT * FROM customers, (SELECT 1 AS a, 2 AS a) AS d) AS x",
    "SELECT (c).email FROM customers AS c",
    "SELECT c FROM customers AS c",
    "SELECT CAST(c AS TEXT) FROM customers AS c",
    "SELECT id FROM customers AS c WHERE CAST(c AS TEXT) LIKE '%sentinel%'",
    "WITH pg_roles AS (SELECT 1 AS rolname) SELECT rolname FROM pg_roles",
    # A column alias list renames a table's columns by position, the hidden ones too.
    "SELECT c.name FROM customers AS c(id, name, x)",
    "SELECT c.country FROM customers AS c(id, tenant_id, n, country, x)",
    "SELECT * FROM customers t0 "
    + " ".join(f"NATURAL JOIN {TABLES[i % 4]} t{i}" for i in range(1, 151)),
    "SELECT * FROM " + ", ".join(f"{TABLES[i % 4]} t{i}" for i in range(200)),
]


def _prepare(served: Served) -> None:
    seed_sentinels(served.services)


@pytest.fixture
def guarded(shared_stores: SharedStores, backend: str) -> Iterator[Served]:
    with shared_stores.serve(backend, _prepare) as served:
        yield served


@pytest.mark.parametrize("sql", BREACHES, ids=range(len(BREACHES)))
def test_breaches_are_refused(guarded: Served, sql: str) -> None:
    error = guarded.error(CALLER, "run_sql", tenant=TENANT, sql=sql)
    assert error["code"] == "SQL_REJECTED", error
    assert PII_SENTINEL not in str(error)


# NATURAL JOIN joins on every shared column name, hidden ones too: a derived table with a
# column named email turns the join into a test of customers.email (an oracle).
NATURAL_ORACLES = [
    f"SELECT name FROM customers NATURAL JOIN (SELECT '{PII_SENTINEL}' AS email) AS d",
    f"WITH d AS (SELECT '{PII_SENTINEL}' AS email, 1 AS hit) "
    "SELECT d.hit FROM customers NATURAL LEFT JOIN d",
    f"SELECT count(*) AS n FROM customers NATURAL JOIN (SELECT '{PII_SENTINEL}' AS email) AS d",
    f"SELECT d.x FROM (SELECT '{PII_SENTINEL}' AS email, 1 AS x) AS d NATURAL LEFT JOIN customers",
]


@pytest.mark.parametrize("sql", NATURAL_ORACLES, ids=range(len(NATURAL_ORACLES)))
def test_natural_join_on_a_hidden_column_is_refused(guarded: Served, sql: str) -> None:
    error = guarded.error(CALLER, "run_sql", tenant=TENANT, sql=sql)
    assert (error["code"], error["details"]["rule"]) == ("SQL_REJECTED", "natural_join"), error


def test_a_star_returns_only_visible_columns(guarded: Served) -> None:
    result = guarded.ok(CALLER, "run_sql", tenant=TENANT, sql="SELECT * FROM customers")
    names = [c["name"] for c in result["result"]["columns"]]
    assert names == ["id", "name", "country", "created_at"]
    assert PII_SENTINEL not in str(result) and OTHER_TENANT_SENTINEL not in str(result)


def test_fetch_first_is_honoured(guarded: Served) -> None:
    sql = "SELECT id FROM customers ORDER BY id FETCH FIRST 1 ROW ONLY"
    result = guarded.ok(CALLER, "run_sql", tenant=TENANT, sql=sql)["result"]
    assert result["row_count"] == 1 and result["truncated"] is False


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM customers -- 100% of them\nWHERE country = 'US'",
        "SELECT /* 50% */ id FROM customers WHERE country = 'US'",
        "SELECT id AS \"share_%\" FROM customers WHERE country = 'US'",
        "SELECT id AS \"%(__tenant_id)s\" FROM customers WHERE country = 'US'",
        "SELECT id % 2 AS parity FROM customers WHERE country = 'US'",
    ],
)
def test_percent_signs_reach_no_driver_placeholder(guarded: Served, sql: str) -> None:
    result = guarded.ok(CALLER, "run_sql", tenant=TENANT, sql=sql)["result"]
    assert result["row_count"] == 1


def test_interval_runs_on_postgres_and_is_refused_clearly_on_sqlite(guarded: Served) -> None:
    sql = "SELECT id FROM invoices WHERE issued_at > now() - interval '1' day"
    outcome = guarded.call(CALLER, "run_sql", tenant=TENANT, sql=sql)
    if guarded.services.engines.postgres:
        assert not outcome.is_error, outcome.payload
        assert outcome.payload["result"]["row_count"] == 1
    else:
        assert outcome.payload["error"]["details"]["rule"] == "interval"


def test_database_errors_do_not_echo_row_values(guarded: Served) -> None:
    # PostgreSQL: invalid input syntax for type integer: "<the row's name>".
    sql = "SELECT id FROM customers WHERE CAST(name AS INTEGER) = 1"
    if not guarded.services.engines.postgres:
        sql = "SELECT abs(name) FROM customers WHERE name = 'Gina' AND abs(-9223372036854775808)"
    error = guarded.error(CALLER, "run_sql", tenant=TENANT, sql=sql)
    assert error["details"]["rule"] == "database_error", error
    assert "Gina" not in error["message"] and "Gus" not in error["message"]


@pytest.fixture
def small_results(store_url: str, tmp_path: Path, populated: PopulatedStores) -> Iterator[Served]:
    settings: Settings = make_settings(
        store_url, tmp_path, rate_per_minute=10_000, max_result_bytes=150
    )
    served = serve_populated(settings, populated)
    yield served
    served.services.db.dispose()


def test_results_are_bounded_in_bytes(small_results: Served) -> None:
    served = small_results
    insert_raw(served.services, TENANT, "customers", [{"name": "x" * 190}, {"name": "y"}])
    big = served.error(CALLER, "run_sql", tenant=TENANT, sql="SELECT name FROM customers")
    assert big["code"] == "QUOTA_EXCEEDED" and big["details"]["limit"] == "max_result_bytes"
    assert "x" * 50 not in big["message"]
    queried = served.error(CALLER, "query_table", tenant=TENANT, table="customers")
    assert queried["code"] == "QUOTA_EXCEEDED"
    small = "SELECT length(name) AS n FROM customers ORDER BY n"
    assert served.ok(CALLER, "run_sql", tenant=TENANT, sql=small)["result"]["rows"] == [
        [1],
        [190],
    ]


def test_whole_rows_are_kept_within_the_byte_budget(small_results: Served) -> None:
    served = small_results
    insert_raw(
        served.services, TENANT, "customers", [{"name": f"r{i}-" + "z" * 20} for i in range(9)]
    )
    sql = "SELECT name FROM customers WHERE name LIKE 'r%' ORDER BY name"
    cut = served.ok(CALLER, "run_sql", tenant=TENANT, sql=sql)["result"]
    assert (cut["truncated"], cut["truncated_by"]) == (True, "bytes")
    assert 0 < cut["row_count"] == len(cut["rows"]) < 9
    assert cut["rows"] == [[f"r{i}-" + "z" * 20] for i in range(cut["row_count"])]  # whole rows
    queried = served.ok(CALLER, "query_table", tenant=TENANT, table="customers", limit=5)
    assert queried["truncated"] and queried["truncated_by"] in ("rows", "bytes")
    few = "SELECT name FROM customers WHERE name = 'r1-" + "z" * 20 + "'"
    whole = served.ok(CALLER, "run_sql", tenant=TENANT, sql=few)["result"]
    assert (whole["truncated"], whole["truncated_by"], whole["row_count"]) == (False, None, 1)


def test_an_aggregate_over_a_cross_join_is_refused(small_results: Served) -> None:
    # string_agg over a cross join grows with the product of the tables (1.27 GB of server
    # memory for thirteen tables): refused, and a small aggregate still answers.
    served = small_results
    insert_raw(served.services, TENANT, "customers", [{"name": f"n{i}"} for i in range(20)])
    sql = (
        "SELECT string_agg(a.name || b.name || c.name, ',') AS s "
        "FROM customers a, customers b, customers c"
    )
    error = served.error(CALLER, "run_sql", tenant=TENANT, sql=sql)
    assert (error["code"], error["details"]["limit"]) == ("QUOTA_EXCEEDED", "max_result_bytes")
    within = "SELECT length(string_agg(name, ',')) AS n FROM customers WHERE name = 'n1'"
    assert served.ok(CALLER, "run_sql", tenant=TENANT, sql=within)["result"]["rows"] == [[2]]


def test_sqlite_builds_no_value_past_the_bound_in_the_server(small_results: Served) -> None:
    # SQLite runs inside the server: the aggregate itself may not grow past the bound, even
    # when only its length is returned. PostgreSQL builds it in its own memory and answers.
    served = small_results
    insert_raw(served.services, TENANT, "customers", [{"name": f"m{i}"} for i in range(20)])
    sql = (
        "SELECT length(string_agg(a.name || b.name, ',')) AS n "
        "FROM customers a, customers b WHERE a.name LIKE 'm%' AND b.name LIKE 'm%'"
    )
    if served.services.engines.postgres:
        (n,) = served.ok(CALLER, "run_sql", tenant=TENANT, sql=sql)["result"]["rows"][0]
        assert n == 151  # cut to one more than the result may hold
        return
    error = served.error(CALLER, "run_sql", tenant=TENANT, sql=sql)
    assert (error["code"], error["details"]["limit"]) == ("QUOTA_EXCEEDED", "max_result_bytes")
