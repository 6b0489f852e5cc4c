"""Approvals expire on time on both engines (voided at their expiry, nobody touching them),
and on Temporal each pending approval waits as a workflow: a ``decided`` signal ends it, a
timer at the expiry voids the approval. A decision after a kill -9 of the worker still runs
the approved call and ends the approval's workflow (real dev server, worker processes)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio.client import Client, WorkflowExecutionStatus

from paybill.server.core.vocabulary import ApprovalStatus
from paybill.server.store import Approval, AuditEvent
from paybill.server.workflows.engine.approval_expiry import EXPIRY_TOOL
from paybill.server.workflows.engine.worker import embedded_worker
from paybill.server.workflows.temporal import names
from tests.support.served import Served
from tests.support.temporal import BOUND_SECONDS, TemporalEngine, on_temporal, wait_finished

OFFBOARD = {"tenant": "acme", "confirm_slug": "acme", "reason": "contract ended"}
SHORT_TTL = 2  # seconds: the approval expires while the test waits for it


@contextmanager
def engine_for(served: Served, engine: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """``served`` on ``engine`` with its worker running in the background."""
    if engine == "embedded":
        with embedded_worker(served.services, poll_seconds=0.2):
            yield None
        return
    with on_temporal(served, request.getfixturevalue("temporal_server")) as temporal:
        yield temporal


def _short_ttl(served: Served) -> None:
    settings = served.services.settings
    served.services.settings = settings.model_copy(update={"approval_ttl_seconds": SHORT_TTL})


def _approval(served: Served, approval_id: str) -> Approval:
    with served.services.db.session() as session:
        approval = session.get(Approval, approval_id)
        assert approval is not None
        return approval


def _wait_status(served: Served, approval_id: str, status: ApprovalStatus) -> Approval:
    deadline = time.monotonic() + BOUND_SECONDS
    while (approval := _approval(served, approval_id)).status is not status:
        if time.monotonic() > deadline:
            pytest.fail(f"approval {approval_id} stayed {approval.status}")
        time.sleep(0.2)
    return approval


def _expiries(served: Served) -> int:
    with served.services.db.session() as session:
        return session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.tool == EXPIRY_TOOL)
        )


def _workflow(temporal: TemporalEngine, approval_id: str) -> tuple[WorkflowExecutionStatus, Any]:
    """The approval workflow once it has ended (waited for): its status and result."""
    settings = temporal.served.services.settings
    workflow_id = names.approval_id_of(settings.temporal_task_queue, approval_id)

    async def ended() -> tuple[WorkflowExecutionStatus, Any]:
        client = await Client.connect(settings.temporal_address)
        handle = client.get_workflow_handle(workflow_id)
        result = await asyncio.wait_for(handle.result(), BOUND_SECONDS)
        status = (await handle.describe()).status
        assert status is not None
        return status, result

    return asyncio.run(ended())


def _waiting_on_timer(temporal: TemporalEngine, approval_id: str) -> None:
    """Wait until the approval's workflow has started its expiry timer."""
    settings = temporal.served.services.settings
    workflow_id = names.approval_id_of(settings.temporal_task_queue, approval_id)

    async def timer_started() -> bool:
        client = await Client.connect(settings.temporal_address)
        try:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
        except Exception:
            return False  # not started yet
        return any(e.HasField("timer_started_event_attributes") for e in history.events)

    deadline = time.monotonic() + BOUND_SECONDS
    while not asyncio.run(timer_started()):
        if time.monotonic() > deadline:
            pytest.fail(f"approval {approval_id}'s workflow never waited on its timer")
        time.sleep(0.2)


@pytest.mark.parametrize("engine", ["embedded", "temporal"])
def test_an_approval_is_voided_at_its_expiry_without_anyone_touching_it(
    served: Served, engine: str, request: pytest.FixtureRequest
) -> None:
    _short_ttl(served)
    with engine_for(served, engine, request) as temporal:
        approval_id = served.error("ops", "offboard_tenant", **OFFBOARD)["details"]["approval_id"]
        approval = _wait_status(served, approval_id, ApprovalStatus.VOID)
        assert approval.reason == "expired before a decision"
        if temporal is not None:
            assert _workflow(temporal, approval_id) == (
                WorkflowExecutionStatus.COMPLETED,
                "expired",
            )
        assert _expiries(served) == 1
        late = served.error(
            "boss", "decide_approval", approval_id=approval_id, decision="approve", reason="late"
        )
        assert late["code"] == "CONFLICT"  # already void: nothing runs, nothing voided again
    assert _expiries(served) == 1
    assert served.ok("ops", "get_tenant", tenant="acme")["state"] == "active"
    with served.services.db.session() as session:
        assert served.services.audit.verify(session).ok


def test_a_decision_after_the_worker_is_killed_runs_and_ends_the_approval_workflow(
    served: Served, temporal_server: str
) -> None:
    with on_temporal(served, temporal_server) as temporal:
        approval_id = served.error("ops", "offboard_tenant", **OFFBOARD)["details"]["approval_id"]
        _waiting_on_timer(temporal, approval_id)
        temporal.kill(temporal.workers[0])  # kill -9 while the approval waits
        temporal.start_worker()
        decided = served.ok(
            "boss",
            "decide_approval",
            approval_id=approval_id,
            decision="approve",
            reason="confirmed",
        )
        assert decided["approval"]["status"] == "executed"
        run_id = decided["result"]["workflow"]["id"]
        assert wait_finished(served.services, run_id)[run_id].value == "succeeded"
        assert _workflow(temporal, approval_id) == (WorkflowExecutionStatus.COMPLETED, "decided")
    approval = _approval(served, approval_id)
    assert approval.status is ApprovalStatus.EXECUTED
    assert _expiries(served) == 0
    assert served.ok("ops", "get_tenant", tenant="acme")["state"] == "archived"


def test_a_decided_approval_workflow_ends_and_no_void_follows_at_the_old_expiry(
    served: Served, temporal_server: str
) -> None:
    _short_ttl(served)
    with on_temporal(served, temporal_server) as temporal:
        approval_id = served.error("ops", "offboard_tenant", **OFFBOARD)["details"]["approval_id"]
        served.ok(
            "boss", "decide_approval", approval_id=approval_id, decision="reject", reason="not now"
        )
        # Ended by the signal, not by its timer: no expiry left to fire.
        assert _workflow(temporal, approval_id) == (WorkflowExecutionStatus.COMPLETED, "decided")
        # Past the old expiry (the worker sweeps each second): nothing pending, nothing voided.
        _wait_past(_approval(served, approval_id).expires_at, served)
    approval = _approval(served, approval_id)
    assert (approval.status, approval.reason) == (ApprovalStatus.REJECTED, "not now")
    assert _expiries(served) == 0


def _wait_past(moment: Any, served: Served) -> None:
    while served.services.clock() <= moment:
        time.sleep(0.2)
