"""Durable runs: tools return at once, a worker executes, leases and the tenant run lock
keep one executor per run and one run per tenant, and a dead worker's run is resumed."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import anyio
import pytest
from mcp import Client
from sqlalchemy import select

from paybill.server.app import build_server
from paybill.server.core.errors import Conflict
from paybill.server.core.settings import Settings
from paybill.server.store import AuditEvent, Tenant, WorkflowRun, WorkflowStep
from paybill.server.workflows.engine.runs import enqueue
from paybill.server.workflows.engine.worker import LeaseLost, Worker, embedded_worker
from paybill.server.workflows.kinds.tenant_runs import PROVISION
from tests.support.served import Clock, Served


def _create(served: Served, slug: str) -> str:
    return served.ok("ops", "create_tenant", slug=slug, name=slug, plan="free")["workflow"]["id"]


def test_a_tool_returns_at_once_and_the_worker_finishes_the_run(served: Served) -> None:
    created = served.ok("ops", "create_tenant", slug="newco", name="N", plan="free")
    assert created["tenant"]["state"] == "provisioning"
    run = created["workflow"]
    assert (run["status"], run["lock"]) == ("pending", None)
    assert [s["status"] for s in run["steps"]] == ["pending", "pending"]
    assert served.drain() == 1
    done = served.ok("ops", "get_workflow", workflow_id=run["id"])
    assert done["status"] == "succeeded" and done["finished_at"] is not None
    assert [(s["status"], s["attempts"]) for s in done["steps"]] == [("succeeded", 1)] * 2
    assert served.ok("ops", "get_tenant", tenant="newco")["state"] == "active"
    with served.services.db.session() as session:
        outcomes = session.scalars(
            select(AuditEvent.outcome).where(AuditEvent.tool == "workflow.provision")
        ).all()
        assert outcomes[-1] == "succeeded"
        assert served.services.audit.verify(session).ok


def test_one_unfinished_run_per_tenant(served: Served) -> None:
    _create(served, "busy")
    refused = served.error("ops", "suspend_tenant", tenant="busy", reason="not yet")
    assert refused["code"] == "INVALID_TRANSITION"
    with served.services.db.session() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == "busy"))
        with pytest.raises(Conflict, match="already has a provision run"):
            enqueue(session, tenant, PROVISION, created_by="ops", input={})


def test_the_tenant_lock_admits_one_run_at_a_time(clocked: tuple[Served, Clock]) -> None:
    served, _clock = clocked
    first = _create(served, "locked")
    with served.services.db.session() as session:  # a second run, bypassing enqueue's check
        tenant = session.scalar(select(Tenant).where(Tenant.slug == "locked"))
        second = WorkflowRun(
            tenant_id=tenant.id, kind="provision", status="pending", input={}, created_by="ops"
        )
        session.add(second)
        session.flush()
        second_id = second.id
    a, b = Worker(served.services, owner="a"), Worker(served.services, owner="b")
    assert a.claim() == first
    assert b.claim() is None  # the only other run belongs to a tenant whose lock a holds
    run = served.ok("ops", "get_workflow", workflow_id=first)
    assert run["lock"]["owner"] == "a"
    assert a.execute(first) is not None
    assert b.claim() == second_id  # released with the first run's end


def test_only_a_platform_admin_breaks_a_lock_and_the_run_resumes(
    clocked: tuple[Served, Clock],
) -> None:
    served, _clock = clocked
    run_id = _create(served, "stuck")
    dead = Worker(served.services, owner="dead-worker")
    assert dead.claim() == run_id
    args = {"workflow_id": run_id, "reason": "worker host is gone"}
    assert served.error("ops", "break_workflow_lock", **args)["code"] == "DENIED"
    preview = served.ok("admin", "break_workflow_lock", **args, dry_run=True)
    assert preview["workflow"]["lock"]["owner"] == "dead-worker"
    broken = served.ok("admin", "break_workflow_lock", **args)
    assert broken["broken_lock"]["owner"] == "dead-worker"
    assert broken["workflow"]["lock"] is None
    rescuer = Worker(served.services, owner="rescuer")
    assert rescuer.claim() == run_id
    assert dead.execute(run_id) is None  # fenced off: it no longer owns the run
    assert rescuer.execute(run_id) is not None
    done = served.ok("ops", "get_workflow", workflow_id=run_id)
    assert done["status"] == "succeeded"
    assert [s["attempts"] for s in done["steps"]] == [1, 1]
    with served.services.db.session() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.tool == "break_workflow_lock")
        ).all()
        assert [(e.principal, e.decision.value) for e in event] == [
            ("ops", "denied"),
            ("admin", "allowed"),
            ("admin", "allowed"),
        ]
        assert event[-1].arguments["reason"] == "worker host is gone"


def test_a_dead_workers_run_resumes_after_its_lease(clocked: tuple[Served, Clock]) -> None:
    served, clock = clocked
    run_id = _create(served, "orphan")
    dead = Worker(served.services, owner="dead")
    assert dead.claim() == run_id
    started = dead._start_next_step(run_id)  # the step is recorded, then the worker dies
    assert not isinstance(started, str)
    started[0].session.close()
    other = Worker(served.services, owner="other")
    assert other.claim() is None  # the lease still holds
    clock.advance(31)
    assert other.claim() == run_id
    other.execute(run_id)
    done = served.ok("ops", "get_workflow", workflow_id=run_id)
    assert done["status"] == "succeeded"
    assert [s["attempts"] for s in done["steps"]] == [2, 1]  # the first step ran again
    assert served.ok("ops", "get_tenant", tenant="orphan")["state"] == "active"


def test_a_scheduled_run_waits_for_its_time(clocked: tuple[Served, Clock]) -> None:
    served, clock = clocked
    run_id = _create(served, "later")
    with served.services.db.session() as session:
        run = session.get(WorkflowRun, run_id)
        run.not_before = clock.now + timedelta(hours=1)
    assert served.drain() == 0
    assert served.ok("ops", "get_workflow", workflow_id=run_id)["status"] == "pending"
    clock.advance(3601)
    assert served.drain() == 1
    assert served.ok("ops", "get_workflow", workflow_id=run_id)["status"] == "succeeded"


def test_get_workflow_waits_and_reports_progress_over_mcp(served: Served) -> None:
    run_id = _create(served, "watched")
    server = build_server(served.services, lambda _ctx: "ops")
    reports: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reports.append((progress, total, message))

    async def follow() -> dict:
        async with Client(server) as client:
            result = await client.call_tool(
                "get_workflow",
                {"workflow_id": run_id, "wait_seconds": 30},
                progress_callback=on_progress,
            )
            return result.structured_content or {}

    with embedded_worker(served.services, poll_seconds=0.05):
        run = anyio.run(follow)
    assert run["status"] == "succeeded"
    assert reports, "no progress was reported"
    assert reports[-1][:2] == (2, 2)
    assert all(total == 2 for _, total, _ in reports)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_two_worker_processes_never_run_a_step_twice(served: Served) -> None:
    runs = [_create(served, f"fleet-{i}") for i in range(10)]
    paybill = str(Path(sys.executable).parent / "paybill")
    env = {**served.env(), "PAYBILL_WORKER_POLL_SECONDS": "0.05"}
    workers = [
        subprocess.Popen(
            [paybill, "worker", "--once"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=300) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    executed = sum(int(out.split()[1]) for out, _ in outputs)
    assert executed == len(runs)
    with served.services.db.session() as session:
        statuses = session.scalars(select(WorkflowRun.status).where(WorkflowRun.id.in_(runs)))
        assert {s.value for s in statuses} == {"succeeded"}
        attempts = session.scalars(
            select(WorkflowStep.attempts).where(WorkflowStep.run_id.in_(runs))
        ).all()
        assert attempts == [1] * (2 * len(runs))
        assert served.services.audit.verify(session).ok


def test_settings_reject_a_zero_lease(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="worker_lease_seconds"):
        Settings(database_url=f"sqlite:///{tmp_path}/s.db", worker_lease_seconds=0)


def test_a_step_finishing_after_its_lease_was_lost_records_nothing(
    clocked: tuple[Served, Clock],
) -> None:
    served, _clock = clocked
    run_id = _create(served, "fenced")
    slow = Worker(served.services, owner="slow")
    assert slow.claim() == run_id
    context, name = slow._start_next_step(run_id)
    served.ok("admin", "break_workflow_lock", workflow_id=run_id, reason="slow worker hung")
    rescuer = Worker(served.services, owner="rescuer")
    assert rescuer.claim() == run_id
    with pytest.raises(LeaseLost):  # the fence: its step's work happened, its record did not
        slow._run_step(context, name, "provision")
    mid = served.ok("ops", "get_workflow", workflow_id=run_id)
    assert (mid["steps"][0]["status"], mid["lock"]["owner"]) == ("running", "rescuer")
    rescuer.execute(run_id)
    done = served.ok("ops", "get_workflow", workflow_id=run_id)
    assert done["status"] == "succeeded"
    assert [s["attempts"] for s in done["steps"]] == [2, 1]
