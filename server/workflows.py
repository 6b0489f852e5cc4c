"""Workflow runs: named steps executed in order, each recorded with its outcome."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from paybill.server.domain import RunStatus, StepStatus
from paybill.server.errors import PaybillError
from paybill.server.store import Tenant, WorkflowRun, WorkflowStep

StepFn = Callable[[], dict[str, Any]]


def run_workflow(
    session: Session,
    *,
    tenant: Tenant,
    kind: str,
    created_by: str,
    input: dict[str, Any],
    steps: list[tuple[str, StepFn]],
    clock: Callable[[], datetime],
) -> WorkflowRun:
    """Record a run with all its steps, then execute them in order.

    A step raising a ``PaybillError`` fails the run (later steps stay pending) and the run is
    returned for the caller to report; anything else propagates and rolls back.
    """
    run = WorkflowRun(
        tenant_id=tenant.id, kind=kind, status=RunStatus.RUNNING, input=input, created_by=created_by
    )
    run.steps = [
        WorkflowStep(position=i, name=name, status=StepStatus.PENDING)
        for i, (name, _) in enumerate(steps)
    ]
    session.add(run)
    session.flush()
    for record, (_, step) in zip(run.steps, steps, strict=True):
        record.status, record.started_at = StepStatus.RUNNING, clock()
        session.flush()
        try:
            record.output = step()
        except PaybillError as exc:
            record.status, record.error, record.finished_at = (
                StepStatus.FAILED,
                exc.message,
                clock(),
            )
            run.status, run.error = RunStatus.FAILED, exc.to_payload()["error"]
            session.flush()
            return run
        record.status, record.finished_at = StepStatus.SUCCEEDED, clock()
    run.status = RunStatus.SUCCEEDED
    session.flush()
    return run
