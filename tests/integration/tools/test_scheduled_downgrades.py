"""One scheduled downgrade per tenant (issue 13): a new request replaces the waiting one
(the latest scheduled change wins), sequentially and when requests race; only it executes."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from paybill.server.core.vocabulary import RunStatus
from paybill.server.store import Tenant, WorkflowRun
from paybill.server.workflows.kinds import billing_runs
from paybill.server.workflows.kinds.billing_runs import CHECK
from tests.support.served import Clock, Served

KIND = "scheduled_downgrade"


def _waiting(served: Served, slug: str) -> list[WorkflowRun]:
    with served.services.db.session() as session:
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == slug))
        return list(
            session.scalars(
                select(WorkflowRun).where(
                    WorkflowRun.tenant_id == tenant_id,
                    WorkflowRun.kind == KIND,
                    WorkflowRun.status == RunStatus.PENDING,
                )
            )
        )


def test_a_new_downgrade_request_replaces_the_waiting_one(clocked: tuple[Served, Clock]) -> None:
    served, clock = clocked
    for n, principal in enumerate(("ops", "admin", "ops")):  # new keys: no replays
        latest = served.ok(
            principal, "change_plan", tenant="globex", plan="free", idempotency_key=f"k{n}"
        )
    [waiting] = _waiting(served, "globex")
    assert waiting.id == latest["workflow"]["id"]
    assert waiting.input["to_plan"] == "free"

    clock.advance(31 * 86_400)
    assert served.drain() == 1  # one run executes: the tenant is updated once
    tenant = served.ok("ops", "get_tenant", tenant="globex")
    assert (tenant["plan"], tenant["state"]) == ("free", "active")
    assert tenant["subscription"]["scheduled_plan"] is None


def test_the_latest_target_plan_wins(clocked: tuple[Served, Clock]) -> None:
    served, clock = clocked
    with served.services.db.session() as session:  # globex on enterprise, pooled
        tenant = session.scalar(select(Tenant).where(Tenant.slug == "globex"))
        tenant.plan_id = tenant.subscription.plan_id = "enterprise"
    first = served.ok("ops", "change_plan", tenant="globex", plan="free", migrate_isolation=False)
    second = served.ok("ops", "change_plan", tenant="globex", plan="pro", migrate_isolation=False)
    assert first["workflow"]["id"] == second["workflow"]["id"]
    [waiting] = _waiting(served, "globex")
    assert waiting.input["to_plan"] == "pro"
    clock.advance(31 * 86_400)
    assert served.drain() == 1
    assert served.ok("ops", "get_tenant", tenant="globex")["plan"] == "pro"


def test_racing_downgrade_requests_leave_one_schedule(served: Served) -> None:
    # Each request counts the tenant's rows: room for all eight beside the default
    # per-tenant cap of 4 concurrent statements, which would refuse the rest at once.
    served.services.tenant_slots.limit = 8
    barrier = threading.Barrier(8)
    errors: list[dict] = []

    def request() -> None:
        barrier.wait(timeout=10)
        outcome = served.call("ops", "change_plan", tenant="globex", plan="free")
        if outcome.is_error:
            errors.append(outcome.payload["error"])

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []  # they take turns on the tenant's row: each replaces the one before
    assert len(_waiting(served, "globex")) == 1


class _Dropped(Exception):
    sqlstate = "57P01"  # admin_shutdown: what a terminated backend reports


def test_a_downgrade_failed_by_faults_is_retried_and_applied(
    clocked: tuple[Served, Clock], monkeypatch: pytest.MonkeyPatch
) -> None:
    served, clock = clocked
    settings = served.services.settings
    settings.step_attempts, settings.step_retry_backoff_seconds = 2, 0.01
    run_id = served.ok("ops", "change_plan", tenant="globex", plan="free")["workflow"]["id"]

    def dropped(*_args: object, **_kwargs: object) -> dict[str, int]:
        raise OperationalError("SELECT count(*)", {}, _Dropped("terminated"))

    monkeypatch.setattr(billing_runs, "row_counts", dropped)
    clock.advance(31 * 86_400)
    served.drain()
    monkeypatch.undo()
    failed = served.ok("ops", "get_workflow", workflow_id=run_id)
    assert (failed["status"], failed["error"]["step"]) == ("failed", CHECK)
    assert failed["steps"][0]["attempts"] == 2
    tenant = served.ok("ops", "get_tenant", tenant="globex")
    assert (tenant["plan"], tenant["state"]) == ("pro", "active")

    retried = served.ok("ops", "retry_workflow", workflow_id=run_id)["workflow"]
    assert (retried["kind"], retried["status"]) == (KIND, "pending")
    assert served.drain() == 1
    assert served.ok("ops", "get_workflow", workflow_id=retried["id"])["status"] == "succeeded"
    tenant = served.ok("ops", "get_tenant", tenant="globex")
    assert (tenant["plan"], tenant["state"]) == ("free", "active")
