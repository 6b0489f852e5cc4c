"""Nothing a call takes from a cache outlives a change made by another process: a role
revoked or granted, a principal disabled, a tenant suspended through another engine on the
store (as the CLI, a worker or another replica would) decides the very next call."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from paybill.server.core.vocabulary import Role
from paybill.server.domain.principals import add_principal
from paybill.server.store.database import Database
from tests.support.served import Served


@pytest.fixture
def other(served: Served) -> Iterator[Database]:
    """Another process's view of the same store: its own engine and connections."""
    database = Database(served.services.settings.database_url)
    yield database
    database.dispose()


def _execute(db: Database, sql: str, **params: object) -> None:
    with db.engine.begin() as conn:
        conn.execute(text(sql), params)


def test_a_role_revoked_elsewhere_is_refused_on_the_next_call(
    served: Served, other: Database
) -> None:
    served.ok("ops", "get_tenant", tenant="acme")  # bindings loaded, principal cached
    _execute(other, "DELETE FROM casbin_rules WHERE v0 = 'user:ops'")
    assert served.error("ops", "get_tenant", tenant="acme")["code"] == "DENIED"


def test_a_role_granted_elsewhere_is_allowed_on_the_next_call(
    served: Served, other: Database
) -> None:
    assert served.error("ops", "list_principals")["code"] == "DENIED"
    _execute(
        other,
        "INSERT INTO casbin_rules (ptype, v0, v1, v2) "
        "VALUES ('g', 'user:ops', 'platform_admin', '*')",
    )
    names = {p["name"] for p in served.ok("ops", "list_principals")["principals"]}
    assert "ops" in names


def test_a_principal_disabled_elsewhere_is_refused_on_the_next_call(
    served: Served, other: Database
) -> None:
    served.ok("ops", "list_plans")
    _execute(other, "UPDATE principals SET disabled = :yes WHERE name = 'ops'", yes=True)
    assert served.error("ops", "list_plans")["code"] == "UNAUTHENTICATED"
    _execute(other, "UPDATE principals SET disabled = :no WHERE name = 'ops'", no=False)
    served.ok("ops", "list_plans")


def test_a_tenant_suspended_elsewhere_is_refused_on_the_next_call(
    served: Served, other: Database
) -> None:
    served.ok("acme-bot", "query_table", tenant="acme", table="customers")
    served.ok("acme-bot", "get_tenant", tenant="acme")
    _execute(
        other, "UPDATE tenants SET state = 'suspended', version = version + 1 WHERE slug = 'acme'"
    )
    refused = served.error("acme-bot", "query_table", tenant="acme", table="customers")
    assert refused["code"] == "INVALID_TRANSITION"
    assert served.ok("acme-bot", "get_tenant", tenant="acme")["state"] == "suspended"


def test_a_plan_changed_elsewhere_decides_the_next_call(served: Served, other: Database) -> None:
    """Entitlements come from the tenant's plan: a feature removed from it is refused next."""
    served.ok("acme-bot", "query_table", tenant="acme", table="customers")
    _execute(other, "UPDATE plans SET features = '[]' WHERE id = 'free'")
    refused = served.error("acme-bot", "query_table", tenant="acme", table="customers")
    assert refused["code"] == "DENIED"
    assert "upgrade the plan" in refused["message"]


def _add_globex_agent(served: Served) -> None:
    """A tenant agent of globex (pro: data.sql), so that the plan decides its calls."""
    with served.services.db.session() as session:
        add_principal(session, "globex-bot", Role.TENANT_AGENT, "globex")


def test_a_tenant_suspended_elsewhere_refuses_the_next_sql_read(
    served: Served, other: Database
) -> None:
    """run_sql reads take the tenant from the cache as query_table does: same invalidation."""
    _add_globex_agent(served)
    served.ok("globex-bot", "run_sql", tenant="globex", sql="SELECT id FROM customers")
    served.ok("globex-bot", "run_sql", tenant="globex", sql="SELECT id FROM customers")
    _execute(
        other, "UPDATE tenants SET state = 'suspended', version = version + 1 WHERE slug = 'globex'"
    )
    refused = served.error("globex-bot", "run_sql", tenant="globex", sql="SELECT id FROM customers")
    assert refused["code"] == "INVALID_TRANSITION"


def test_a_plan_changed_elsewhere_decides_the_next_sql_read(
    served: Served, other: Database
) -> None:
    _add_globex_agent(served)
    served.ok("globex-bot", "run_sql", tenant="globex", sql="SELECT id FROM customers")
    _execute(other, "UPDATE plans SET features = '[\"data.read\"]' WHERE id = 'pro'")
    refused = served.error("globex-bot", "run_sql", tenant="globex", sql="SELECT id FROM customers")
    assert refused["code"] == "DENIED"
    assert "upgrade the plan" in refused["message"]
