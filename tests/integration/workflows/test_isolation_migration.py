"""Isolation migration through the guard pipeline (issue 7): an upgrade across isolation models
waits for an approval, then a worker moves the data in a read-only window.

PostgreSQL: pooled → bridge → silo → pooled preserves every row (per-table checksums), other
tenants are untouched, writes are refused and reads served during the window, the tenant's
role reads only the new route afterwards; a failure before the switch rolls back (old plan,
old storage, still serving reads and writes, no target left); a worker dying mid-step is
resumed by another and the run converges. SQLite keeps every tenant pooled.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.core.vocabulary import Isolation
from paybill.server.domain.effects import sealed_digest
from paybill.server.domain.tenants import get_plan, get_tenant
from paybill.server.executors.dataplane import relocate
from paybill.server.executors.dataplane.checksums import TableChecksum, table_checksums
from paybill.server.executors.dataplane.loader import Loader
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.executors.provisioner import Progress, TenantFacts, no_progress
from paybill.server.store import WorkflowRun
from paybill.server.workflows.engine.runs import break_lock
from paybill.server.workflows.engine.worker import LeaseLost
from paybill.server.workflows.kinds import migration
from tests.support.served import Clock, Served
from tests.support.tenant_data import customer_count, seed, tenant_view

pg = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
sqlite = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
POOLED, BRIDGE, SILO = Isolation.POOLED, Isolation.BRIDGE, Isolation.SILO
STEPS = [
    "vend_account",
    "provision_target",
    "copy_data",
    "verify",
    "switch_routing",
    "cleanup_source",
    "activate",
]
SEEDED = {"customers": 3, "invoices": 3, "usage_events": 2, "support_tickets": 2}


def _id(served: Served, slug: str) -> str:
    return served.ok("ops", "get_tenant", tenant=slug)["id"]


def _sealed(served: Served, checks: dict[str, TableChecksum]) -> dict[str, dict[str, Any]]:
    """The checksums as a run reports them: sealed with the server's key."""
    key = served.services.audit.key
    return {n: {"rows": c.rows, "sha256": sealed_digest(key, c.sha256)} for n, c in checks.items()}


def _approved(served: Served, slug: str, plan: str) -> dict[str, Any]:
    """change_plan waits for an approval; the approver's decision runs it."""
    pending = served.error("ops", "change_plan", tenant=slug, plan=plan)
    assert pending["code"] == "APPROVAL_REQUIRED", pending
    decided = served.ok(
        "boss",
        "decide_approval",
        approval_id=pending["details"]["approval_id"],
        decision="approve",
        reason="move the data",
    )
    assert decided["approval"]["status"] == "executed"
    return decided["result"]


def _downgrade_applied(served: Served, slug: str, plan: str) -> str:
    """What the period-end application of a scheduled downgrade across models does."""
    services = served.services
    with services.db.session() as session:
        tenant = get_tenant(session, slug)
        run = migration.start(
            session,
            services.lifecycle,
            tenant,
            get_plan(session, plan),
            actor="ops",
            reason=f"scheduled downgrade to {plan}",
            now=services.clock(),
        )
        return run.id


def _run(served: Served, run_id: str) -> dict[str, Any]:
    return served.ok("ops", "get_workflow", workflow_id=run_id)


def _cannot_read(served: Served, route: TenantRoute) -> bool:
    """As the tenant's own role: no grant, no schema or no database any more."""
    try:
        customer_count(served.services.engines, route)
    except DBAPIError:
        return True
    return False


def _leftover(served: Served, route: TenantRoute) -> bool:
    """The route's schema (bridge), database (silo) or pooled rows still exist."""
    with served.services.engines.shared.connect() as conn:
        if route.isolation is SILO:
            query = "SELECT count(*) FROM pg_database WHERE datname = :n"
            return bool(conn.execute(text(query), {"n": route.database}).scalar())
        if route.isolation is BRIDGE:
            query = "SELECT count(*) FROM information_schema.schemata WHERE schema_name = :n"
            return bool(conn.execute(text(query), {"n": route.schema}).scalar())
        query = "SELECT count(*) FROM tenant_pool.customers WHERE tenant_id = :t"
        return bool(conn.execute(text(query), {"t": route.tenant_id}).scalar())


def _names(served: Served, principal: str, slug: str) -> list[str]:
    result = served.ok(principal, "query_table", tenant=slug, table="customers")
    index = [c["name"] for c in result["columns"]].index("name")
    return sorted(row[index] for row in result["rows"])


def _window_holds(served: Served, slug: str) -> None:
    """Writes refused with INVALID_TRANSITION, reads served."""
    refused = served.error(
        "admin", "insert_rows", tenant=slug, table="customers", rows=[{"name": "blocked"}]
    )
    assert refused["code"] == "INVALID_TRANSITION"
    assert refused["details"]["state"] == "updating"
    assert len(_names(served, "admin", slug)) >= 3


@sqlite
def test_sqlite_keeps_tenants_pooled(served: Served) -> None:
    asked = served.error("ops", "change_plan", tenant="acme", plan="pro", migrate_isolation=True)
    assert asked["code"] == "INVALID_INPUT"
    assert "migrate_isolation=false" in asked["message"]
    result = served.ok("ops", "change_plan", tenant="acme", plan="pro")
    assert (result["status"], result["workflow"]["kind"]) == ("applied", "plan_change")
    assert result["isolation_migration_required"] is True
    assert result["isolation_migration"] is None
    served.drain()
    tenant = served.ok("ops", "get_tenant", tenant="acme")
    assert (tenant["plan"], tenant["isolation"], tenant["state"]) == ("pro", "pooled", "active")


@pg
def test_dry_run_plans_the_move_and_the_call_waits_for_approval(served: Served) -> None:
    seed(served.services.engines, TenantRoute(_id(served, "acme"), POOLED), "acme")
    preview = served.ok("ops", "change_plan", tenant="acme", plan="enterprise", dry_run=True)
    assert preview["status"] == "preview"
    assert preview["isolation_migration"] == {
        "source": "pooled",
        "target": "silo",
        "rows": SEEDED,
        "max_read_only_seconds": migration.MAX_READ_ONLY_SECONDS,
        "steps": STEPS,
    }
    pending = served.error("ops", "change_plan", tenant="acme", plan="enterprise")
    assert pending["code"] == "APPROVAL_REQUIRED"
    tenant = served.ok("ops", "get_tenant", tenant="acme")
    assert (tenant["plan"], tenant["isolation"], tenant["state"]) == ("free", "pooled", "active")
    assert [a["tool"] for a in served.ok("boss", "list_approvals")["approvals"]] == ["change_plan"]
    # Opting out switches the plan only, as before: no approval, no data moved.
    kept = served.ok("ops", "change_plan", tenant="acme", plan="pro", migrate_isolation=False)
    assert (kept["workflow"]["kind"], kept["isolation_migration"]) == ("plan_change", None)


@pg
def test_billing_is_checked_before_an_approval_is_asked(served: Served) -> None:
    with served.services.db.session() as session:
        tenant = get_tenant(session, "acme")
        tenant.subscription.status = "past_due"  # type: ignore[union-attr,assignment]
    refused = served.error("ops", "change_plan", tenant="acme", plan="pro")
    assert refused["code"] == "BILLING_BLOCKED"
    assert served.ok("boss", "list_approvals")["approvals"] == []


@pg
def test_pooled_bridge_silo_and_back_preserves_every_row(served: Served) -> None:
    engines = served.services.engines
    tenant_id = _id(served, "acme")
    route = TenantRoute(tenant_id, POOLED)
    seed(engines, route, "acme")
    served.ok("admin", "insert_rows", tenant="globex", table="customers", rows=[{"name": "g"}])
    globex = TenantRoute(_id(served, "globex"), POOLED)
    original, other = table_checksums(engines, route), table_checksums(engines, globex)
    view = [tuple(r) for r in tenant_view(engines, route)]

    for plan, isolation in (("pro", BRIDGE), ("enterprise", SILO), ("free", POOLED)):
        old = route
        if plan == "free":
            run_id = _downgrade_applied(served, "acme", plan)
        else:
            result = _approved(served, "acme", plan)
            assert result["tenant"]["state"] == "updating"
            assert result["isolation_migration"]["target"] == isolation.value
            run_id = result["workflow"]["id"]
        _window_holds(served, "acme")

        assert served.drain() == 1
        run = _run(served, run_id)
        assert (run["kind"], run["status"]) == ("isolation_migration", "succeeded"), run
        steps = {s["name"]: s for s in run["steps"]}
        assert list(steps) == STEPS
        assert all(s["status"] == "succeeded" for s in steps.values())
        assert steps["copy_data"]["output"]["total_rows"] == sum(c.rows for c in original.values())
        assert steps["verify"]["output"]["tables"] == _sealed(served, original)
        window = steps["activate"]["output"]["read_only_window"]
        assert window["started_at"] <= steps["switch_routing"]["output"]["switched_at"]
        assert window["started_at"] <= window["ended_at"]

        route = TenantRoute(tenant_id, isolation)
        tenant = served.ok("ops", "get_tenant", tenant="acme")
        assert (tenant["plan"], tenant["isolation"], tenant["state"]) == (
            plan,
            isolation.value,
            "active",
        )
        assert table_checksums(engines, route) == original, isolation
        assert table_checksums(engines, globex) == other, isolation
        assert [tuple(r) for r in tenant_view(engines, route)] == view
        assert _cannot_read(served, old), f"{old.isolation} still readable after the move"
        assert not _leftover(served, old)
        # Served again, from the new route, for reads and writes.
        before = customer_count(engines, route)
        assert len(_names(served, "acme-bot", "acme")) == before
        written = [{"name": f"after {isolation.value}"}]
        served.ok("acme-admin", "insert_rows", tenant="acme", table="customers", rows=written)
        assert customer_count(engines, route) == before + 1
        original = table_checksums(engines, route)  # the next hop carries the new row too
        view = [tuple(r) for r in tenant_view(engines, route)]


class FailingProvisioner:
    """Fails provisioning of one isolation model (a Terraform or database fault)."""

    def __init__(self, inner: Any, fails: Isolation) -> None:
        self.inner, self.fails, self.name = inner, fails, inner.name

    def provision(self, tenant: TenantFacts, progress: Progress = no_progress) -> dict[str, Any]:
        if tenant.isolation is self.fails:
            raise ProvisioningFailed(f"injected: cannot create {self.fails.value} storage")
        return self.inner.provision(tenant, progress)

    def archive(self, tenant: TenantFacts, progress: Progress = no_progress) -> dict[str, Any]:
        return self.inner.archive(tenant, progress)


@pg
@pytest.mark.parametrize(
    ("plan", "fault"),
    [("pro", "copy"), ("enterprise", "copy"), ("pro", "provision")],
)
def test_a_failure_before_the_switch_rolls_back(
    served: Served, monkeypatch: pytest.MonkeyPatch, plan: str, fault: str
) -> None:
    engines = served.services.engines
    source = TenantRoute(_id(served, "acme"), POOLED)
    seed(engines, source, "acme")
    original = table_checksums(engines, source)
    target_isolation = {"pro": BRIDGE, "enterprise": SILO}[plan]
    target = TenantRoute(source.tenant_id, target_isolation)
    if fault == "copy":
        real_load, loaded = Loader.load, []

        def failing_load(self: Loader, name: str, rows: Any) -> int:
            loaded.append(name)
            if len(loaded) == 2:  # mid-copy: the first table is already written
                raise RuntimeError("disk full")
            return real_load(self, name, rows)

        monkeypatch.setattr(Loader, "load", failing_load)
        failed_step = "copy_data"
    else:
        served.services.provisioner = FailingProvisioner(
            served.services.provisioner, target_isolation
        )
        failed_step = "provision_target"

    run_id = _approved(served, "acme", plan)["workflow"]["id"]
    served.drain()
    monkeypatch.undo()

    run = _run(served, run_id)
    assert run["status"] == "failed"
    steps = {s["name"]: s for s in run["steps"]}
    assert steps[failed_step]["status"] == "failed"
    rollback = steps[failed_step]["output"]["rollback"]
    assert rollback["rolled_back"] is True
    assert rollback["restored"] == {"plan": "free", "isolation": "pooled"}
    assert rollback["read_only_window"]["started_at"] <= rollback["read_only_window"]["ended_at"]
    assert all(s["status"] == "pending" for s in run["steps"][STEPS.index(failed_step) + 1 :])

    tenant = served.ok("ops", "get_tenant", tenant="acme")
    assert (tenant["plan"], tenant["isolation"], tenant["state"]) == ("free", "pooled", "active")
    with served.services.db.session() as session:
        assert get_tenant(session, "acme").subscription.plan_id == "free"  # type: ignore[union-attr]
    assert not _leftover(served, target), "the partial target was left behind"
    assert table_checksums(engines, source) == original
    assert len(_names(served, "acme-bot", "acme")) == 3
    served.ok("acme-admin", "insert_rows", tenant="acme", table="customers", rows=[{"name": "ok"}])
    assert customer_count(engines, source) == 4
    # Nothing is stuck: the same change can be asked for again.
    assert served.error("ops", "change_plan", tenant="acme", plan=plan)["code"] == (
        "APPROVAL_REQUIRED"
    )


@pg
def test_an_outlasted_read_only_window_rolls_back(served: Served) -> None:
    source = TenantRoute(_id(served, "acme"), POOLED)
    seed(served.services.engines, source, "acme")
    run_id = _approved(served, "acme", "pro")["workflow"]["id"]
    real_clock, late = served.services.clock, migration.MAX_READ_ONLY_SECONDS + 60
    served.services.clock = lambda: real_clock() + timedelta(seconds=late)

    served.drain()

    run = _run(served, run_id)
    copy = next(s for s in run["steps"] if s["name"] == "copy_data")
    assert (run["status"], copy["status"]) == ("failed", "failed")
    assert "read-only for" in copy["error"]
    tenant = served.ok("ops", "get_tenant", tenant="acme")
    assert (tenant["plan"], tenant["isolation"], tenant["state"]) == ("free", "pooled", "active")
    assert not _leftover(served, TenantRoute(source.tenant_id, BRIDGE))


def _resume(served: Served, run_id: str) -> None:
    """Another worker takes the dead one's run over (as when its lease expires)."""
    with served.services.db.session() as session:
        run = session.get(WorkflowRun, run_id)
        assert run is not None
        break_lock(session, run)
    served.drain()


@pg
def test_a_worker_dying_mid_step_is_resumed_and_converges(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    engines = served.services.engines
    source = TenantRoute(_id(served, "acme"), POOLED)
    target = TenantRoute(source.tenant_id, BRIDGE)
    seed(engines, source, "acme")
    original = table_checksums(engines, source)
    run_id = _approved(served, "acme", "pro")["workflow"]["id"]

    def dies_after(real: Any) -> Any:
        def step(*args: Any, **kwargs: Any) -> Any:
            real(*args, **kwargs)  # the effect happened; its step record never commits
            raise LeaseLost("worker killed")

        return step

    # 1. Dies right after the copy committed: the data is at the target, the step "running".
    monkeypatch.setattr(relocate, "copy_tenant", dies_after(relocate.copy_tenant))
    served.drain()
    monkeypatch.undo()
    run = _run(served, run_id)
    assert run["status"] == "running"
    assert [s["status"] for s in run["steps"]][:4] == ["succeeded"] * 2 + ["running", "pending"]
    _window_holds(served, "acme")

    # 2. Resumed; dies right after removing the old copy, once the switch committed.
    monkeypatch.setattr(relocate, "cleanup", dies_after(relocate.cleanup))
    _resume(served, run_id)
    monkeypatch.undo()
    run = _run(served, run_id)
    assert [s["status"] for s in run["steps"]] == ["succeeded"] * 5 + ["running", "pending"]
    tenant = served.ok("ops", "get_tenant", tenant="acme")
    assert (tenant["isolation"], tenant["state"]) == ("bridge", "updating")
    _window_holds(served, "acme")  # now read from the target

    # 3. Resumed again: the repeated copy and cleanup change nothing more.
    _resume(served, run_id)
    run = _run(served, run_id)
    assert run["status"] == "succeeded"
    assert [(s["name"], s["attempts"]) for s in run["steps"]] == list(
        zip(STEPS, [1, 1, 2, 1, 1, 2, 1], strict=True)
    )
    tenant = served.ok("ops", "get_tenant", tenant="acme")
    assert (tenant["plan"], tenant["isolation"], tenant["state"]) == ("pro", "bridge", "active")
    assert table_checksums(engines, target) == original
    assert not _leftover(served, source)
    assert _cannot_read(served, source)


@pg
def test_a_failure_after_the_switch_is_finished_by_a_retry(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    engines = served.services.engines
    source = TenantRoute(_id(served, "acme"), POOLED)
    target = TenantRoute(source.tenant_id, BRIDGE)
    seed(engines, source, "acme")
    original = table_checksums(engines, source)
    run_id = _approved(served, "acme", "pro")["workflow"]["id"]

    def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise ProvisioningFailed("injected: the old schema is locked")

    monkeypatch.setattr(relocate, "cleanup", refused)
    served.drain()
    monkeypatch.undo()

    run = _run(served, run_id)
    cleanup = next(s for s in run["steps"] if s["name"] == "cleanup_source")
    assert (run["status"], cleanup["status"]) == ("failed", "failed")
    assert cleanup["output"]["rollback"]["rolled_back"] is False
    # The verified copy is live, the old one maybe half gone: no way back. The tenant waits in
    # ``failed`` (which serves no data calls) for retry_workflow to finish the move.
    tenant = served.ok("ops", "get_tenant", tenant="acme")
    assert (tenant["plan"], tenant["isolation"], tenant["state"]) == ("pro", "bridge", "failed")
    assert "retry_update" in tenant["allowed_actions"]

    retried = served.ok("ops", "retry_workflow", workflow_id=run_id)
    assert retried["workflow"]["kind"] == "isolation_migration"
    served.drain()
    again = _run(served, retried["workflow"]["id"])
    assert again["status"] == "succeeded"
    outputs = {s["name"]: s["output"] for s in again["steps"]}
    assert outputs["copy_data"] == migration.SKIPPED_AFTER_SWITCH
    tenant = served.ok("ops", "get_tenant", tenant="acme")
    assert (tenant["plan"], tenant["isolation"], tenant["state"]) == ("pro", "bridge", "active")
    assert table_checksums(engines, target) == original
    assert not _leftover(served, source)


@pg
def test_a_downgrade_across_models_moves_the_data_at_the_period_end(
    clocked: tuple[Served, Clock],
) -> None:
    served, clock = clocked
    tenant_id = _id(served, "acme")
    _approved(served, "acme", "pro")
    assert served.drain() == 1
    bridge, pooled = TenantRoute(tenant_id, BRIDGE), TenantRoute(tenant_id, POOLED)
    rows = [{"name": "Ada"}, {"name": "Grace", "country": "GB"}]  # no PII: free has no data.pii
    served.ok("admin", "insert_rows", tenant="acme", table="customers", rows=rows)
    before = table_checksums(served.services.engines, bridge)
    assert before["customers"].rows == 2

    scheduled = _approved(served, "acme", "free")  # the move needs the approval up front
    assert (scheduled["status"], scheduled["isolation_migration"]["target"]) == (
        "scheduled",
        "pooled",
    )
    downgrade = scheduled["workflow"]["id"]
    assert served.drain() == 0  # nothing before the period end
    assert served.ok("ops", "get_tenant", tenant="acme")["isolation"] == "bridge"
    clock.advance(31 * 86_400)
    assert served.drain() == 2  # the downgrade, then the migration it handed over to
    run = _run(served, downgrade)
    assert [(s["name"], s["status"]) for s in run["steps"]] == [
        ("check_fits", "succeeded"),
        ("switch_plan", "succeeded"),
        ("apply_infrastructure", "skipped"),
        ("activate", "skipped"),
    ]
    moved = _run(served, run["steps"][1]["output"]["isolation_migration"])
    assert (moved["kind"], moved["status"]) == ("isolation_migration", "succeeded")
    tenant = served.ok("ops", "get_tenant", tenant="acme")
    assert (tenant["plan"], tenant["isolation"], tenant["state"]) == ("free", "pooled", "active")
    assert table_checksums(served.services.engines, pooled) == before
    assert _cannot_read(served, bridge)
