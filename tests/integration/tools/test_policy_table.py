"""Every tool x every role x own tenant / other tenant: allowed or DENIED, as designed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from paybill.server.core.vocabulary import Role
from paybill.server.domain.acl import role_binding
from paybill.server.store import Principal, Tenant, WorkflowRun
from paybill.tools import all_tools
from tests.support.policy_table import ALLOWED
from tests.support.served import Served, SharedStores

# Tools whose domain is the caller's own scope: no "other tenant" to aim at.
CALLER_SCOPED = {"list_plans", "list_tenants", "list_approvals", "create_tenant"}
# Tools taking a record id: a record the caller may not see is refused as NOT_FOUND, the
# answer for an id that does not exist (test_id_visibility), not DENIED.
BY_ID = {
    "get_approval",
    "decide_approval",
    "get_workflow",
    "retry_workflow",
    "break_workflow_lock",
}


def _arguments(tool: str, slug: str, ids: dict[str, dict[str, str]]) -> dict:
    reason = "policy table"
    return {
        "list_plans": {},
        "create_tenant": {"slug": "newco", "name": "New", "plan": "free", "dry_run": True},
        "get_tenant": {"tenant": slug},
        "list_tenants": {},
        "change_plan": {"tenant": slug, "plan": "enterprise", "dry_run": True},
        "suspend_tenant": {"tenant": slug, "reason": reason, "dry_run": True},
        "resume_tenant": {"tenant": slug, "reason": reason, "dry_run": True},
        "offboard_tenant": {
            "tenant": slug,
            "confirm_slug": slug,
            "reason": reason,
            "dry_run": True,
        },
        "get_workflow": {"workflow_id": ids["run"][slug]},
        "list_approvals": {},
        "get_approval": {"approval_id": ids["approval"][slug]},
        "decide_approval": {
            "approval_id": ids["approval"][slug],
            "decision": "approve",
            "reason": reason,
            "dry_run": True,
        },
        "get_audit_log": {"tenant": slug},
        "describe_schema": {"tenant": slug},
        "query_table": {"tenant": slug, "table": "customers"},
        "run_sql": {"tenant": slug, "sql": "SELECT 1", "dry_run": True},
        "insert_rows": {
            "tenant": slug,
            "table": "customers",
            "rows": [{"name": "x"}],
            "dry_run": True,
        },
        "update_rows": {
            "tenant": slug,
            "table": "customers",
            "values": {"name": "y"},
            "filters": [{"column": "id", "op": "eq", "value": 1}],
            "dry_run": True,
        },
        "delete_rows": {
            "tenant": slug,
            "table": "customers",
            "filters": [{"column": "id", "op": "eq", "value": 1}],
            "dry_run": True,
        },
        "get_usage": {"tenant": slug},
        "set_billing_state": {"tenant": slug, "status": "active", "dry_run": True},
        "retry_workflow": {"workflow_id": ids["run"][slug], "dry_run": True},
        "break_workflow_lock": {"workflow_id": ids["run"][slug], "reason": reason, "dry_run": True},
        "list_workflows": {"tenant": slug},
        "list_principals": {},
        # No such principal: the admin's call passes the ACL and changes nothing.
        "disable_principal": {"name": "nobody-here", "dry_run": True},
        "rotate_principal_key": {"name": "nobody-here"},
    }[tool]


def _approvals_and_runs(served: Served) -> dict[str, dict[str, str]]:
    """Each tenant's provisioning run and a pending offboarding approval of it."""
    runs, approvals = {}, {}
    with served.services.db.session() as session:
        for tenant in session.scalars(select(Tenant)):
            runs[tenant.slug] = session.scalar(
                select(WorkflowRun.id).where(WorkflowRun.tenant_id == tenant.id)
            )
    for slug in ("acme", "globex"):
        error = served.error(
            "ops", "offboard_tenant", tenant=slug, confirm_slug=slug, reason="policy table"
        )
        approvals[slug] = error["details"]["approval_id"]
    return {"run": runs, "approval": approvals}


@pytest.fixture(scope="module")
def shared_stores(request: pytest.FixtureRequest) -> Iterator[SharedStores]:
    """The policy table's calls are dry runs, reads and refusals: its tests share one store
    per backend, with the approvals they aim at made once."""
    with SharedStores(request, prepare=_approvals_and_runs) as stores:
        yield stores


@pytest.fixture
def ids(shared_stores: SharedStores, backend: str) -> dict:
    return shared_stores.get(backend).prepared


def test_table_covers_every_tool() -> None:
    names = {t.name for t in all_tools()}
    assert ALLOWED["admin"] == names
    assert all(allowed <= names for allowed in ALLOWED.values())


@pytest.mark.parametrize("principal", sorted(ALLOWED))
def test_policy_table(shared_served: Served, ids: dict, principal: str) -> None:
    served = shared_served
    tenant_scoped = principal.startswith("acme-")
    mismatches = []
    for spec in all_tools():
        for target in ("acme", "globex"):
            own = target == "acme" or not tenant_scoped
            expected = spec.name in ALLOWED[principal] and (own or spec.name in CALLER_SCOPED)
            outcome = served.call(principal, spec.name, **_arguments(spec.name, target, ids))
            code = outcome.payload["error"]["code"] if outcome.is_error else None
            denied = code == "DENIED" or (code == "NOT_FOUND" and spec.name in BY_ID)
            if denied == expected:
                mismatches.append((spec.name, target, "denied" if denied else "allowed"))
    assert mismatches == []


def test_tenant_scoped_listing_only_shows_own_tenant(shared_served: Served) -> None:
    served = shared_served
    listed = served.ok("acme-bot", "list_tenants")
    assert [t["slug"] for t in listed["tenants"]] == ["acme"]
    assert {t["slug"] for t in served.ok("ops", "list_tenants")["tenants"]} == {"acme", "globex"}


def test_unknown_and_existing_foreign_tenants_look_the_same(shared_served: Served) -> None:
    served = shared_served
    for tool, key in (("get_tenant", "tenant"), ("query_table", "tenant")):
        extra = {"table": "customers"} if tool == "query_table" else {}
        foreign = served.error("acme-bot", tool, **{key: "globex"}, **extra)
        missing = served.error("acme-bot", tool, **{key: "nosuch"}, **extra)
        assert foreign == missing
        assert foreign["code"] == "DENIED"


def test_entitlement_follows_the_plan(served: Served) -> None:
    refused = served.error("acme-admin", "get_audit_log")
    assert refused["code"] == "DENIED"
    assert "audit.export" in refused["message"]
    served.ok("ops", "change_plan", tenant="acme", plan="pro", migrate_isolation=False)
    served.drain()
    events = served.ok("acme-admin", "get_audit_log")["events"]
    assert events
    acme_id = served.ok("ops", "get_tenant", tenant="acme")["id"]
    assert {e["tenant_id"] for e in events} == {acme_id}


def test_unknown_principal_is_unauthenticated(shared_served: Served) -> None:
    served = shared_served
    assert served.error("mallory", "list_plans")["code"] == "UNAUTHENTICATED"
    assert served.error(None, "list_plans")["code"] == "UNAUTHENTICATED"  # type: ignore[arg-type]


def test_a_principal_named_like_a_role_gets_nothing_from_the_name(served: Served) -> None:
    """Casbin links equal names; principals live under 'user:' so a legacy principal called
    'operator' holding only tenant_agent on acme stays a tenant agent."""
    with served.services.db.session() as session:
        acme = session.scalar(select(Tenant).where(Tenant.slug == "acme"))
        session.add(Principal(name="operator", role=Role.TENANT_AGENT, tenant_id=acme.id))
        session.add(role_binding("operator", Role.TENANT_AGENT, acme.id))
    assert (
        served.error("operator", "create_tenant", slug="x", name="x", plan="free")["code"]
        == "DENIED"
    )
    assert (
        served.error("operator", "suspend_tenant", tenant="acme", reason="nope")["code"] == "DENIED"
    )
    assert not served.call("operator", "get_tenant", tenant="acme").is_error
