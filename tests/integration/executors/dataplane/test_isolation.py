"""Cross-tenant isolation on PostgreSQL for pooled, bridge and silo tenants.

Three layers are checked separately: the tools (ACL + guard), tenant transactions running
raw, unguarded SQL (grants, RLS and search_path alone), and a raw session that logs in as
a tenant's role and tries to reach another tenant.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from paybill.server.core.vocabulary import Isolation, Role
from paybill.server.domain.principals import add_principal
from paybill.server.executors.dataplane.access import tenant_transaction, ungated
from paybill.server.executors.dataplane.naming import TenantRoute
from tests.support.served import Served

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
PLANS = {Isolation.POOLED: "free", Isolation.BRIDGE: "pro", Isolation.SILO: "enterprise"}


@dataclass
class Pair:
    isolation: Isolation
    mine: TenantRoute
    theirs: TenantRoute
    my_slug: str
    their_slug: str


@pytest.fixture
def pairs(served: Served, isolation: Isolation) -> Iterator[dict[Isolation, Pair]]:
    """Two tenants on the isolation under test, a customer and a tenant admin each."""
    routes = []
    for side in ("a", "b"):
        slug = f"{isolation.value}-{side}"
        plan = PLANS[isolation]
        tenant = served.ok("admin", "create_tenant", slug=slug, name=slug, plan=plan)["tenant"]
        served.drain()
        served.ok(
            "admin",
            "insert_rows",
            tenant=slug,
            table="customers",
            rows=[{"name": f"customer of {slug}"}],
        )
        with served.services.db.session() as session:
            add_principal(session, f"{slug}-admin", Role.TENANT_ADMIN, slug)
        routes.append(TenantRoute(tenant["id"], isolation))
    yield {
        isolation: Pair(
            isolation, routes[0], routes[1], f"{isolation.value}-a", f"{isolation.value}-b"
        )
    }


def _raw(served: Served, route: TenantRoute, sql: str, **params: str) -> list[tuple]:
    """Unguarded SQL inside the tenant's scoped transaction: as if the guard were off."""
    engines = served.services.engines
    with tenant_transaction(engines, route, read_only=False, timeout_ms=5000, gate=ungated) as conn:
        result = conn.execute(text(sql), params)
        return [tuple(r) for r in result] if result.returns_rows else []


@pytest.mark.parametrize("isolation", list(Isolation))
def test_tools_never_cross_tenants(served: Served, pairs: dict, isolation: Isolation) -> None:
    pair = pairs[isolation]
    principal = f"{pair.my_slug}-admin"
    own = served.ok(principal, "query_table", tenant=pair.my_slug, table="customers")
    assert [r[1] for r in own["rows"]] == [f"customer of {pair.my_slug}"]
    for tool, arguments in [
        ("query_table", {"table": "customers"}),
        ("insert_rows", {"table": "customers", "rows": [{"name": "planted"}]}),
        (
            "delete_rows",
            {"table": "customers", "filters": [{"column": "id", "op": "gt", "value": 0}]},
        ),
        ("describe_schema", {}),
    ]:
        refused = served.error(principal, tool, tenant=pair.their_slug, **arguments)
        assert refused["code"] == "DENIED", (tool, refused)
    theirs = served.ok("admin", "query_table", tenant=pair.their_slug, table="customers")
    assert [r[1] for r in theirs["rows"]] == [f"customer of {pair.their_slug}"]


@pytest.mark.parametrize("isolation", list(Isolation))
def test_guard_off_the_database_alone_holds(
    served: Served, pairs: dict, isolation: Isolation
) -> None:
    pair = pairs[isolation]
    me, them = pair.mine, pair.theirs
    assert _raw(served, me, "SELECT name FROM customers") == [(f"customer of {pair.my_slug}",)]
    # Writes without any filter touch only this tenant's rows.
    _raw(served, me, "UPDATE customers SET name = name || ' (touched)'")
    assert _raw(served, them, "SELECT name FROM customers") == [(f"customer of {pair.their_slug}",)]
    attempts = {
        Isolation.POOLED: [
            f"SELECT name FROM tenant_pool.customers WHERE tenant_id = '{them.tenant_id}'",
            "SELECT set_config('app.tenant_id', :other, true), (SELECT count(*) FROM customers)",
        ],
        Isolation.BRIDGE: [f"SELECT name FROM {them.schema}.customers"],
        Isolation.SILO: [f"SELECT name FROM {them.database}.app.customers"],
    }[isolation]
    for sql in attempts:
        try:
            rows = _raw(served, me, sql, other=them.tenant_id)
        except DBAPIError:
            continue  # refused by the database: permission denied or no such relation
        assert all(0 in row or row == () for row in rows) and "customer of" not in str(rows)
    for sql in ("SET ROLE postgres", f"SET ROLE {them.role}"):
        with pytest.raises(DBAPIError):
            _raw(served, me, sql)
    # There is no administrator behind the connection to fall back to.
    assert _raw(served, me, "RESET ROLE") == []
    assert _raw(served, me, "SELECT current_user") == [(me.role,)]
    if isolation is Isolation.POOLED:
        with pytest.raises(DBAPIError, match="row-level security"):
            _raw(
                served,
                me,
                "INSERT INTO customers (tenant_id, name) VALUES (:other, 'planted')",
                other=them.tenant_id,
            )


@pytest.mark.parametrize("isolation", list(Isolation))
def test_raw_session_of_a_tenant_role(served: Served, pairs: dict, isolation: Isolation) -> None:
    pair = pairs[isolation]
    me, them = pair.mine, pair.theirs
    url = make_url(served.services.settings.database_url)
    password = served.services.engines.credentials.ensure(me)
    mine = url.set(username=me.role, password=password, database=me.database or url.database)
    engine = create_engine(mine)
    try:
        with engine.connect() as conn:
            conn.execute(
                text("SELECT set_config('app.tenant_id', :t, false)"), {"t": them.tenant_id}
            )
            if isolation is Isolation.POOLED:
                leaked = conn.execute(text("SELECT count(*) FROM tenant_pool.customers")).scalar()
                assert leaked == 0
            elif isolation is Isolation.BRIDGE:
                schema = them.schema
                with pytest.raises(DBAPIError):
                    conn.execute(text(f'SELECT * FROM "{schema}".customers')).all()
                conn.rollback()
            for sql in (f"SET ROLE {them.role}", "SET ROLE postgres"):
                with pytest.raises(DBAPIError):
                    conn.execute(text(sql))
                conn.rollback()
        if isolation is Isolation.SILO:
            theirs = url.set(username=me.role, password=password, database=them.database)
            with pytest.raises(DBAPIError, match="permission denied"):
                create_engine(theirs).connect()
    finally:
        engine.dispose()
