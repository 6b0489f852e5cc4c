"""The replay harness's check after every refused step (``refusal_difference`` on two store
pictures, as replay takes them): a refusal appends its one audit event and changes nothing
else. A refusal that secretly writes a row, or is not audited, must fail the step."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Connection, text

from paybill.evals import snapshot
from paybill.evals.replay import refusal_difference
from paybill.server.core.vocabulary import Isolation
from paybill.server.executors.dataplane.naming import TenantRoute
from tests.support.served import Served

Write = Callable[[Served], None]


def _picture(served: Served, since: snapshot.Picture | None = None) -> snapshot.Picture:
    services = served.services
    assert snapshot.settle(services.db.engine)
    return snapshot.take(services.db.engine, services.engines, since)


def _refuse(served: Served) -> str:
    """A real refusal through the guard pipeline: suspending a tenant that does not exist."""
    error = served.error("ops", "suspend_tenant", tenant="nosuch", reason="no such tenant")
    assert error["code"] == "NOT_FOUND"
    return str(error["code"])


def _store(served: Served, sql: str) -> None:
    with served.services.db.engine.begin() as conn:
        conn.execute(text(sql))


def _tenant_id(conn: Connection, slug: str) -> str:
    return str(conn.execute(text("SELECT id FROM tenants WHERE slug = :s"), {"s": slug}).scalar())


def _customer_row(served: Served) -> None:
    """A row in acme's customers, wherever its pooled storage is (PostgreSQL pool schema or
    the SQLite tenants file), written with the store's own credentials."""
    services = served.services
    with services.db.engine.connect() as conn:
        tenant = _tenant_id(conn, "acme")
    route = TenantRoute(tenant, Isolation.POOLED)
    table = f'"{route.schema}".customers' if services.engines.postgres else "customers"
    with services.engines.for_route(route).begin() as conn:
        conn.execute(
            text(f"INSERT INTO {table} (tenant_id, name) VALUES (:t, 'planted')"), {"t": tenant}
        )


SECRET_WRITES: dict[str, tuple[Write, str]] = {
    # The state flips but the version does not: only the rows themselves show it.
    "tenant_state": (
        lambda s: _store(s, "UPDATE tenants SET state = 'suspended' WHERE slug = 'acme'"),
        "tenants",
    ),
    "role_binding": (
        lambda s: _store(
            s,
            "INSERT INTO casbin_rules (ptype, v0, v1, v2) "
            "VALUES ('g', 'user:acme-bot', 'role:platform_admin', '*')",
        ),
        "casbin_rules",
    ),
    "billing_state": (
        lambda s: _store(s, "UPDATE subscriptions SET status = 'canceled'"),
        "subscriptions",
    ),
    "principal_disabled": (
        lambda s: _store(s, "UPDATE principals SET disabled = true WHERE name = 'boss'"),
        "principals",
    ),
    "tenant_row": (_customer_row, "tenant_rows.store."),
}


def test_a_clean_refusal_passes_with_its_audit_event(served: Served) -> None:
    before = _picture(served)
    code = _refuse(served)
    after = _picture(served, since=before)
    assert refusal_difference(before, after, "suspend_tenant", code) is None
    # The log did grow by the refusal's event: only that one event is tolerated.
    assert after.audit_tip == before.audit_tip + 1
    assert after.digests[snapshot.AUDIT] != before.digests[snapshot.AUDIT]
    assert [(e.tool, e.outcome) for e in after.appended] == [("suspend_tenant", "NOT_FOUND")]


@pytest.mark.parametrize("write", sorted(SECRET_WRITES))
def test_a_refusal_that_secretly_writes_a_row_fails(served: Served, write: str) -> None:
    plant, section = SECRET_WRITES[write]
    before = _picture(served)
    code = _refuse(served)
    plant(served)
    after = _picture(served, since=before)
    difference = refusal_difference(before, after, "suspend_tenant", code)
    assert difference is not None
    assert difference.startswith(f"store changed by a refused call: {section}"), difference


def test_a_refusal_without_its_audit_event_fails(served: Served) -> None:
    before = _picture(served)
    after = _picture(served, since=before)  # nothing was called, so nothing was audited
    difference = refusal_difference(before, after, "suspend_tenant", "NOT_FOUND")
    assert difference is not None and "not audited" in difference


def test_a_refusal_audited_with_another_call_fails(served: Served) -> None:
    before = _picture(served)
    code = _refuse(served)
    served.ok("ops", "list_tenants")  # a second event: not this refusal's alone
    after = _picture(served, since=before)
    assert refusal_difference(before, after, "suspend_tenant", code) is not None
    assert refusal_difference(before, after, "list_tenants", code) is not None


def test_an_audit_event_with_another_code_fails(served: Served) -> None:
    before = _picture(served)
    _refuse(served)
    after = _picture(served, since=before)
    difference = refusal_difference(before, after, "suspend_tenant", "DENIED")
    assert difference is not None and "not audited" in difference


def test_a_pending_approval_is_what_approval_required_may_keep(served: Served) -> None:
    before = _picture(served)
    error = served.error(
        "ops", "offboard_tenant", tenant="acme", confirm_slug="acme", reason="contract end"
    )
    assert error["code"] == "APPROVAL_REQUIRED"
    after = _picture(served, since=before)
    assert refusal_difference(before, after, "offboard_tenant", "APPROVAL_REQUIRED") is None
    # The same approval left behind by any other refusal is a change.
    other = refusal_difference(before, after, "offboard_tenant", None)
    assert other is not None and other.startswith("store changed by a refused call: approvals")
