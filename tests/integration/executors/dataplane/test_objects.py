"""Tenant objects: statements are time-bounded, and dropping removes every trace."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from paybill.server.core.vocabulary import Isolation
from paybill.server.executors.dataplane import objects
from paybill.server.executors.dataplane.naming import TenantRoute
from tests.support.served import Served


def test_runaway_statement_is_cancelled(served: Served) -> None:
    for _ in range(4):
        served.ok(
            "admin",
            "insert_rows",
            tenant="acme",
            table="customers",
            rows=[{"name": f"c{i}"} for i in range(500)],
        )
    served.services.settings.statement_timeout_ms = 300
    error = served.error(
        "admin",
        "run_sql",
        tenant="acme",
        sql="SELECT count(*) FROM customers a, customers b, customers c",
    )
    assert error["code"] == "QUOTA_EXCEEDED"
    assert error["details"] == {"timeout_ms": 300}


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
@pytest.mark.parametrize("isolation", list(Isolation))
def test_drop_removes_every_trace(served: Served, isolation: Isolation) -> None:
    plan = {Isolation.POOLED: "free", Isolation.BRIDGE: "pro", Isolation.SILO: "enterprise"}
    tenant = served.ok("admin", "create_tenant", slug="leaver", name="L", plan=plan[isolation])
    served.drain()
    served.ok("admin", "insert_rows", tenant="leaver", table="customers", rows=[{"name": "x"}])
    route = TenantRoute(tenant["tenant"]["id"], isolation)
    engines = served.services.engines
    objects.drop(engines, route)
    with engines.shared.connect() as conn:
        role = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": route.role})
        assert role.first() is None
        if isolation is Isolation.POOLED:
            left = conn.execute(
                text("SELECT count(*) FROM tenant_pool.customers WHERE tenant_id = :t"),
                {"t": route.tenant_id},
            ).scalar()
            assert left == 0
        if isolation is Isolation.BRIDGE:
            schema = conn.execute(
                text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": route.schema}
            )
            assert schema.first() is None
        database = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": route.database or "-"}
        )
        assert database.first() is None
    assert not (served.services.settings.data_dir / "credentials" / f"{route.role}.secret").exists()
