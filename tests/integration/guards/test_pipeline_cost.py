"""What one data call costs the databases (issue 15): the statement is guarded once, the
store and the tenant see a pinned number of statements and commits, and no pool pings.

The figures are upper bounds at what the call path reaches today, so a change that adds a
round trip to every call fails here and must say why (docs/call-cost.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from paybill.server.core.vocabulary import Role
from paybill.server.domain import confirmed_reads
from paybill.server.domain.acl import role_binding, subject
from paybill.server.domain.principals import add_principal
from paybill.server.domain.shared_rates import StoreRateLimiter
from paybill.server.executors.dataplane import access
from paybill.server.guards import sql as sql_guard
from paybill.server.store import CasbinRule
from paybill.server.store.database import Database
from tests.support.held import route_of
from tests.support.served import Served

SQL = "SELECT name FROM customers WHERE id = :id"
QUERY = {"table": "customers", "filters": [{"column": "id", "op": "eq", "value": 3}]}
AGENT = "globex-bot"  # a tenant agent of globex (pro, pooled: data.sql)

# Store statements per call. A call deciding from the store: the control versions (on
# PostgreSQL the same statement draws the audit event's id), the tenant row for a tool that
# may write (a run_sql read, as query_table, takes it from the cache under those versions,
# as does the principal: the statement's kind is known from its parse before the tenant is
# resolved), then after the tenant work the usage upsert and the audit insert (sealing is
# a sealer's, off the call path). SQLite's count has the BEGIN IMMEDIATE of each of the
# call's two transactions, and its append draws the id, seals and inserts.
# PostgreSQL adds the rate buckets (issue 17): the principal's at the limits stage and, for
# a data call, the tenant's at the quota stage, each one autocommitted upsert on the
# limiters' engine, so that replicas share them.
# A call that changes nothing, and a run_sql read, is a confirmed read on PostgreSQL
# (guards.confirm): one statement confirms the versions its caches (the tenant's too) were
# read at, takes its buckets and draws the audit id; one more inserts the audit event with
# the usage count. Both autocommit. A call without tenant work sends one: its event, under
# an id an earlier confirmation drew ahead, is written by the confirmation itself.
STORE_STATEMENTS = {
    "run_sql": {"postgresql": 2, "sqlite": 7},
    "query_table": {"postgresql": 2, "sqlite": 7},
    "get_tenant": {"postgresql": 1, "sqlite": 5},  # no tenant work: one statement (PG)
}
STORE_COMMITS = 2  # the guards' transaction (ended before tenant work), then the rest
# Tenant statements per call: one set_config for every setting, then the query itself.
# SQLite runs the query alone (its budget is set on the driver connection).
TENANT_STATEMENTS = {"postgresql": 2, "sqlite": 1}


@dataclass
class Seen:
    """Statements and commits per engine kind while a call runs."""

    store: tuple[Engine, ...]  # the session's engine and the shared rate buckets' one
    statements: Counter[str] = field(default_factory=Counter)
    commits: Counter[str] = field(default_factory=Counter)
    tenant_sql: list[str] = field(default_factory=list)

    def kind(self, engine: Engine) -> str:
        return "store" if any(engine is store for store in self.store) else "tenant"

    def on_statement(self, conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        kind = self.kind(conn.engine)
        self.statements[kind] += 1
        if kind == "tenant":
            self.tenant_sql.append(statement)

    def on_commit(self, conn: Any) -> None:
        self.commits[self.kind(conn.engine)] += 1


@contextmanager
def watching(served: Served, monkeypatch: pytest.MonkeyPatch) -> Iterator[Seen]:
    limiters = (served.services.rate_limiter, served.services.tenant_rate)
    buckets = tuple(limiter.engine for limiter in limiters if isinstance(limiter, StoreRateLimiter))
    db = served.services.db
    seen = Seen((db.engine, *buckets))
    event.listen(Engine, "before_cursor_execute", seen.on_statement)
    event.listen(Engine, "commit", seen.on_commit)
    # A confirmed read's two statements go to the driver's cursor (domain.confirmed_reads).
    driver_cursor = confirmed_reads._cursor

    def counted(engine: Engine) -> Any:
        seen.statements["store"] += 1
        return driver_cursor(engine)

    monkeypatch.setattr(confirmed_reads, "_cursor", counted)
    # So does the scoping statement of a PostgreSQL tenant transaction (dataplane.access).
    scope = access._scope_postgres

    def scoping(*args: Any, **kwargs: Any) -> None:
        seen.statements["tenant"] += 1
        seen.tenant_sql.append(access._SCOPE)
        scope(*args, **kwargs)

    monkeypatch.setattr(access, "_scope_postgres", scoping)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", seen.on_statement)
        event.remove(Engine, "commit", seen.on_commit)


@pytest.fixture
def agent(served: Served) -> Served:
    with served.services.db.session() as session:
        add_principal(session, AGENT, Role.TENANT_AGENT, "globex")
    rows = [{"name": f"customer {i}"} for i in range(5)]
    served.ok("admin", "insert_rows", tenant="globex", table="customers", rows=rows)
    # Warm: the first call of a principal and tenant loads the ACL and opens the pools.
    served.ok(AGENT, "run_sql", tenant="globex", sql=SQL, params={"id": 1})
    served.ok(AGENT, "query_table", tenant="globex", table="customers")
    return served


def test_run_sql_guards_its_statement_once_and_runs_that(
    agent: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    guarded: list[Any] = []
    real = sql_guard.guard_sql

    def counting(*args: Any, **kwargs: Any) -> Any:
        guarded.append(real(*args, **kwargs))
        return guarded[-1]

    monkeypatch.setattr(sql_guard, "guard_sql", counting)
    with watching(agent, monkeypatch) as seen:
        result = agent.ok(AGENT, "run_sql", tenant="globex", sql=SQL, params={"id": 2})
    assert len(guarded) == 1
    assert result["result"]["rows"] == [["customer 1"]]
    # The statement executed is the one the guard rewrote (tenant filter, row cap).
    assert seen.tenant_sql[-1] == guarded[0].sql


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("run_sql", {"sql": SQL, "params": {"id": 3}}),
        ("query_table", QUERY),
    ],
)
def test_statements_per_data_call_are_pinned(
    agent: Served,
    backend: str,
    tool: str,
    arguments: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with watching(agent, monkeypatch) as seen:
        agent.ok(AGENT, tool, tenant="globex", **arguments)
    assert seen.statements["store"] == STORE_STATEMENTS[tool][backend], seen.statements
    assert seen.commits["store"] <= STORE_COMMITS, seen.commits
    assert seen.statements["tenant"] <= TENANT_STATEMENTS[backend], seen.tenant_sql
    if backend == "postgresql":
        scoping = [s for s in seen.tenant_sql if "set_config" in s]
        assert len(scoping) == 1, seen.tenant_sql


def test_statements_of_a_call_without_tenant_work_are_pinned(
    agent: Served, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with watching(agent, monkeypatch) as seen:
        agent.ok(AGENT, "get_tenant", tenant="globex")
    assert seen.statements["store"] == STORE_STATEMENTS["get_tenant"][backend], seen.statements
    assert seen.commits["store"] <= 1, seen.commits
    assert seen.statements["tenant"] == 0


def test_no_pool_pings_a_connection_before_each_call(agent: Served) -> None:
    """``pool_pre_ping`` costs a round trip per checkout; the checkout check replaces it
    (``store.database.postgres_engine``; tests/integration/store/test_stale_connections.py)."""
    engines = agent.services.engines
    tenant = engines.for_tenant(route_of(agent, "globex"), read_only=True)
    for engine in (agent.services.db.engine, tenant):
        assert not engine.pool._pre_ping


def test_writer_status_revoked_elsewhere_holds_on_the_next_write(agent: Served) -> None:
    """Writer status is asked only of a write, but asked on every write: a role taken back by
    another process (its own engine) refuses the very next one."""
    with agent.services.db.session() as session:
        add_principal(session, "globex-admin", Role.TENANT_ADMIN, "globex")
    delete = {
        "tenant": "globex",
        "sql": "DELETE FROM customers WHERE id = :id",
        "params": {"id": 4},
    }
    assert agent.error("globex-admin", "run_sql", **delete)["code"] == "APPROVAL_REQUIRED"
    elsewhere = Database(agent.services.settings.database_url)
    try:
        with elsewhere.session() as session:
            binding = select(CasbinRule).where(
                CasbinRule.ptype == "g", CasbinRule.v0 == subject("globex-admin")
            )
            rule = session.scalars(binding).one()
            session.delete(rule)
            session.add(role_binding("globex-admin", Role.TENANT_AGENT, rule.v2))
    finally:
        elsewhere.dispose()
    refused = agent.error("globex-admin", "run_sql", **delete)
    assert (refused["code"], refused["details"]["rule"]) == ("SQL_REJECTED", "write_not_allowed")
    assert agent.ok("globex-admin", "run_sql", tenant="globex", sql=SQL, params={"id": 4})
