"""The effects an isolation move (PostgreSQL) and offboarding (SQLite) bind: what the approver
sees, that a dry run shows the same, and that a change of the data between request and
decision voids the approval with nothing run (audited as denied)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from paybill.server.core.vocabulary import Isolation
from paybill.server.domain.effects import sealed_digest
from paybill.server.executors.dataplane.checksums import table_checksums
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.store import AuditEvent, WorkflowRun
from paybill.server.workflows.kinds import migration
from tests.support.served import Served
from tests.support.tenant_data import add_customer, seed

pg = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
sqlite = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
MOVE = {"tenant": "acme", "plan": "pro"}
OFFBOARD = {"tenant": "acme", "confirm_slug": "acme", "reason": "contract ended"}
SEEDED = {"customers": 3, "invoices": 3, "usage_events": 2, "support_tickets": 2}


def _acme(served: Served) -> TenantRoute:
    return TenantRoute(served.ok("ops", "get_tenant", tenant="acme")["id"], Isolation.POOLED)


def _requested(served: Served, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    pending = served.error("ops", tool, **arguments)
    assert pending["code"] == "APPROVAL_REQUIRED", pending
    approval_id = pending["details"]["approval_id"]
    approval = served.ok("boss", "get_approval", approval_id=approval_id)["approval"]
    assert approval["effect_hash"] == pending["details"]["effect_sha256"]
    return approval


def _void_on_decision(served: Served, approval_id: str) -> dict[str, Any]:
    """Approving fails: the approval is void, the refusal audited as denied."""
    refused = served.error(
        "boss", "decide_approval", approval_id=approval_id, decision="approve", reason="go ahead"
    )
    assert refused["code"] == "CONFLICT"
    assert "Nothing ran" in refused["message"]
    shown = served.ok("boss", "get_approval", approval_id=approval_id)["approval"]
    assert shown["status"] == "void"
    with served.services.db.session() as session:
        decisions = select(AuditEvent).where(AuditEvent.tool == "decide_approval")
        event = session.scalars(decisions.order_by(AuditEvent.id.desc())).first()
        assert (event.decision, event.error_code) == ("denied", "CONFLICT")
    return refused


def _same_effect(shown: dict[str, Any], approval: dict[str, Any]) -> None:
    """A dry run's effect is the approval's, to the hash."""
    assert {k: v for k, v in shown.items() if k != "sha256"} == approval["effect"]
    assert shown["sha256"] == approval["effect_hash"]


def _runs(served: Served, tenant_id: str) -> list[str]:
    with served.services.db.session() as session:
        query = select(WorkflowRun.kind).where(WorkflowRun.tenant_id == tenant_id)
        return list(session.scalars(query))


@pg
def test_a_move_binds_the_rows_and_checksums_it_copies(served: Served) -> None:
    route = _acme(served)
    seed(served.services.engines, route, "acme")
    checks = table_checksums(served.services.engines, route)
    preview = served.ok("ops", "change_plan", **MOVE, dry_run=True)
    assert (preview["approval_required"], preview["approval"]["rule"]) == (True, "isolation_move")
    approval = _requested(served, "change_plan", MOVE)
    effect = approval["effect"]
    assert effect["kind"] == "isolation_move"
    assert (
        effect["summary"]
        == "Move acme from pooled to bridge (10 rows in 4 tables), plan free → pro"
    )
    assert effect["details"] == {
        "plan": {"from": "free", "to": "pro"},
        "source": "pooled",
        "target": "bridge",
        "when": "now",
        # The checksums sealed with the server's key: a reader cannot test guesses against them.
        "tables": {
            t: {"rows": c.rows, "sha256": sealed_digest(served.services.audit.key, c.sha256)}
            for t, c in checks.items()
        },
        "total_rows": sum(SEEDED.values()),
        "max_read_only_seconds": migration.MAX_READ_ONLY_SECONDS,
        "steps": [s.name for s in migration.ISOLATION_MIGRATION.steps],
        "terraform": None,  # the local provisioner plans nothing
    }
    # The dry run's effect is the approval's, to the hash, while nothing changed.
    _same_effect(preview["approval"]["effect"], approval)


@pg
def test_rows_changed_between_request_and_decision_void_the_move(served: Served) -> None:
    route = _acme(served)
    seed(served.services.engines, route, "acme")
    approval = _requested(served, "change_plan", MOVE)
    add_customer(served.services.engines, route, "late arrival")
    refused = _void_on_decision(served, approval["id"])
    assert "details.tables" in refused["message"] and "details.total_rows" in refused["message"]
    tenant = served.ok("ops", "get_tenant", tenant="acme")
    assert (tenant["plan"], tenant["isolation"], tenant["state"]) == ("free", "pooled", "active")
    assert migration.KIND not in _runs(served, route.tenant_id)
    # A fresh request binds the data as it is now, and runs once approved.
    again = _requested(served, "change_plan", MOVE)
    assert again["effect"]["details"]["tables"]["customers"]["rows"] == 4
    served.ok(
        "boss", "decide_approval", approval_id=again["id"], decision="approve", reason="go ahead"
    )
    assert served.drain() == 1
    assert served.ok("ops", "get_tenant", tenant="acme")["isolation"] == "bridge"


@sqlite
def test_offboarding_binds_access_export_archive_and_retention(served: Served) -> None:
    route = _acme(served)
    rows = [{"name": "Ada"}, {"name": "Grace"}]
    served.ok("admin", "insert_rows", tenant="acme", table="customers", rows=rows)
    preview = served.ok("ops", "offboard_tenant", **OFFBOARD, dry_run=True)
    approval = _requested(served, "offboard_tenant", OFFBOARD)
    effect = approval["effect"]
    _same_effect(preview["approval"]["effect"], approval)
    assert effect["kind"] == "offboarding"
    assert effect["summary"] == (
        "Offboard acme: revoke 2 principals, export 2 rows in 1 table, archive read-only, "
        "delete 30 days after it is archived"
    )
    assert effect["details"] == {
        "revoke_principals": ["acme-admin", "acme-bot"],
        "export": {
            "tables": {"customers": 2, "invoices": 0, "usage_events": 0, "support_tickets": 0},
            "total_rows": 2,
        },
        "archive": {
            "provisioner": "local",
            "cloud": "local",
            "does": "makes the tenant's database objects read-only; the data is kept",
        },
        "deletion": {"retention_days": 30, "after": "archived"},
    }
    assert effect["tenant"]["slug"] == "acme" and route.tenant_id


@sqlite
def test_a_write_between_request_and_decision_voids_the_offboarding(served: Served) -> None:
    approval = _requested(served, "offboard_tenant", OFFBOARD)
    served.ok("admin", "insert_rows", tenant="acme", table="customers", rows=[{"name": "late"}])
    refused = _void_on_decision(served, approval["id"])
    assert "details.export" in refused["message"]
    tenant = served.ok("ops", "get_tenant", tenant="acme")
    assert tenant["state"] == "active"
    assert "offboard" not in _runs(served, tenant["id"])
