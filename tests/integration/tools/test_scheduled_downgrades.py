"""One scheduled downgrade per tenant (issue 13): a new request replaces the waiting one
(the latest scheduled change wins), sequentially and when requests race; only it executes."""

from __future__ import annotations

import threading

from sqlalchemy import select

from paybill.server.core.vocabulary import RunStatus
from paybill.server.store import Tenant, WorkflowRun
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
    served.ok("ops", "change_plan", tenant="globex", plan="free")
    served.ok("admin", "change_plan", tenant="globex", plan="free")
    latest = served.ok("ops", "change_plan", tenant="globex", plan="free")
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
