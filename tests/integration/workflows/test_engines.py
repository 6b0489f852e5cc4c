"""The same runs through the MCP tools on both engines: the embedded worker and Temporal (a
real dev server, ``paybill worker --engine temporal`` processes). The store is the record on
both: get_workflow, the tenant's state and the audit read the same rows."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from paybill.server.store import AuditEvent, Subscription, Tenant, WorkflowRun
from paybill.server.store.base import utcnow
from tests.support.served import Served
from tests.support.temporal import BOUND_SECONDS, on_temporal, wait_finished

ENGINES = ["embedded", "temporal"]


@contextmanager
def engine_for(
    served: Served, engine: str, request: pytest.FixtureRequest, **temporal: Any
) -> Iterator[None]:
    if engine == "embedded":
        yield
        return
    with on_temporal(served, request.getfixturevalue("temporal_server"), **temporal):
        yield


def finish(served: Served, engine: str, *run_ids: str) -> dict[str, Any]:
    """Wait for ``run_ids`` to finish (the embedded worker drained until they have, since a
    scheduled one becomes due on the wall clock); the last one as get_workflow shows it."""
    if engine == "embedded":
        deadline = time.monotonic() + BOUND_SECONDS
        while any(_status(served, r) in ("pending", "running") for r in run_ids):
            assert time.monotonic() < deadline, "runs never finished"
            served.drain()
            time.sleep(0.1)
    else:
        wait_finished(served.services, *run_ids)
    return served.ok("ops", "get_workflow", workflow_id=run_ids[-1])


def _status(served: Served, run_id: str) -> str:
    return served.ok("ops", "get_workflow", workflow_id=run_id)["status"]


def audited(served: Served, tool: str) -> int:
    with served.services.db.session() as session:
        return session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.tool == tool)
        )


@pytest.mark.parametrize("engine", ENGINES)
def test_provisioning_through_the_tools(
    served: Served, engine: str, request: pytest.FixtureRequest
) -> None:
    with engine_for(served, engine, request):
        created = served.ok("ops", "create_tenant", slug="newco", name="N", plan="free")
        run_id = created["workflow"]["id"]
        finish(served, engine, run_id)
        run = served.ok("ops", "get_workflow", workflow_id=run_id)
        assert run["status"] == "succeeded"
        assert [(s["status"], s["attempts"]) for s in run["steps"]] == [("succeeded", 1)] * 2
        assert served.ok("ops", "get_tenant", tenant="newco")["state"] == "active"
        assert audited(served, "workflow.provision") == 1 + 2  # acme and globex before
        with served.services.db.session() as session:
            assert served.services.audit.verify(session).ok


@pytest.mark.parametrize("engine", ENGINES)
def test_a_plan_change(served: Served, engine: str, request: pytest.FixtureRequest) -> None:
    with engine_for(served, engine, request):
        changed = served.ok(
            "ops", "change_plan", tenant="acme", plan="pro", migrate_isolation=False
        )
        run = finish(served, engine, changed["workflow"]["id"])
        assert (run["kind"], run["status"]) == ("plan_change", "succeeded")
        tenant = served.ok("ops", "get_tenant", tenant="acme")
        assert (tenant["plan"], tenant["state"]) == ("pro", "active")
        assert audited(served, "workflow.plan_change") == 1 + 1  # globex's upgrade before


@pytest.mark.postgres_only
@pytest.mark.parametrize("engine", ENGINES)
def test_an_isolation_migration(
    served: Served, engine: str, request: pytest.FixtureRequest
) -> None:
    with engine_for(served, engine, request):
        pending = served.error("ops", "change_plan", tenant="acme", plan="pro")
        assert pending["code"] == "APPROVAL_REQUIRED", pending
        # The approval is decided before the run is recorded: the run starts on the decision.
        decided = served.ok(
            "boss",
            "decide_approval",
            approval_id=pending["details"]["approval_id"],
            decision="approve",
            reason="move the data",
        )
        run = finish(served, engine, decided["result"]["workflow"]["id"])
        assert (run["kind"], run["status"]) == ("isolation_migration", "succeeded"), run
        assert all(s["attempts"] == 1 for s in run["steps"])
        tenant = served.ok("ops", "get_tenant", tenant="acme")
        assert (tenant["plan"], tenant["state"], tenant["isolation"]) == ("pro", "active", "bridge")


@pytest.mark.parametrize("engine", ENGINES)
def test_offboarding_then_deletion(
    served: Served, engine: str, request: pytest.FixtureRequest
) -> None:
    with engine_for(served, engine, request):
        approval = served.error(
            "ops", "offboard_tenant", tenant="acme", confirm_slug="acme", reason="contract ended"
        )["details"]["approval_id"]
        decided = served.ok(
            "boss", "decide_approval", approval_id=approval, decision="approve", reason="confirmed"
        )
        run = finish(served, engine, decided["result"]["workflow"]["id"])
        assert (run["kind"], run["status"]) == ("offboard", "succeeded"), run
        assert served.ok("ops", "get_tenant", tenant="acme")["state"] == "archived"
        deletion_id = run["steps"][-1]["output"]["deletion_run"]
        assert _status(served, deletion_id) == "pending"  # the retention period runs
        with served.services.db.session() as session:  # the retention period is over
            session.get(WorkflowRun, deletion_id).not_before = utcnow()
        deletion = finish(served, engine, deletion_id)
        assert (deletion["kind"], deletion["status"]) == ("delete_tenant", "succeeded")
        assert served.ok("ops", "get_tenant", tenant="acme")["state"] == "deleted"
        assert audited(served, "workflow.delete_tenant") == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_a_scheduled_downgrade_fires_at_its_time_and_follows_a_replacing_request(
    served: Served, engine: str, request: pytest.FixtureRequest
) -> None:
    # No sweep during the test: the replacing request alone must move the waiting timer.
    with engine_for(served, engine, request, temporal_sweep_seconds=3600):
        first = served.ok("ops", "change_plan", tenant="globex", plan="free")
        assert first["status"] == "scheduled"
        run_id = first["workflow"]["id"]
        assert _status(served, run_id) == "pending"  # the period ends in a month
        with served.services.db.session() as session:  # ... now in two seconds
            tenant = session.query(Tenant).filter_by(slug="globex").one()
            sub = session.get(Subscription, tenant.subscription.id)
            sub.current_period_end = utcnow() + timedelta(seconds=2)
        again = served.ok("admin", "change_plan", tenant="globex", plan="free")
        assert again["workflow"]["id"] == run_id  # replaced, not added
        run = finish(served, engine, run_id)
        assert (run["kind"], run["status"]) == ("scheduled_downgrade", "succeeded"), run
        tenant_out = served.ok("ops", "get_tenant", tenant="globex")
        assert (tenant_out["plan"], tenant_out["state"]) == ("free", "active")
        assert tenant_out["subscription"]["scheduled_plan"] is None
        assert audited(served, "workflow.scheduled_downgrade") == 1
