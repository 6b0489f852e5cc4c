"""The activities: every store read and write of a Temporal run, through the same step
functions the embedded worker uses (``engine.steps``)."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from paybill.server.core.vocabulary import ApprovalStatus, RunStatus
from paybill.server.store import Approval, WorkflowRun
from paybill.server.workflows.engine.approval_expiry import expire_due
from paybill.server.workflows.engine.billing_tick import apply_billing_policies
from paybill.server.workflows.engine.runs import TEMPORAL_OWNER, UNFINISHED
from paybill.server.workflows.engine.services import Services
from paybill.server.workflows.engine.steps import Compensate
from paybill.server.workflows.temporal import names
from paybill.server.workflows.temporal.names import Timing
from paybill.server.workflows.temporal.starter import RunStarter
from paybill.server.workflows.temporal.steps import TemporalSteps

log = logging.getLogger("paybill.worker")
GONE = "gone"


class Activities:
    def __init__(self, services: Services, starter: RunStarter) -> None:
        self.services = services
        self.starter = starter
        self.owner = f"temporal:{socket.gethostname()}:{os.getpid()}"

    def _session(self) -> Session:
        return Session(self.services.db.engine, expire_on_commit=False)

    @activity.defn(name=names.BEGIN)
    def begin_run(self, run_id: str) -> str:
        """The run as running (get_workflow shows it started); its status, or ``gone``."""
        with self._session() as session, session.begin():
            run = session.get(WorkflowRun, run_id, with_for_update=True)
            if run is None:
                return GONE  # recorded in a transaction that was rolled back
            if run.kind not in self.services.kinds.names():
                raise ApplicationError(f"this worker does not run {run.kind!r} runs")
            if run.status == RunStatus.PENDING:
                run.status, run.locked_by = RunStatus.RUNNING, TEMPORAL_OWNER
            return "running" if run.status in UNFINISHED else run.status.value

    @activity.defn(name=names.ADVANCE)
    def advance_run(self, run_id: str, timing: Timing) -> str:
        """Run the next unfinished step; ``running`` while steps remain, else the final
        status. A transient store fault raises, and Temporal's retry policy runs the step
        again, up to ``step_attempts`` (then the run fails as on the embedded engine)."""
        steps = TemporalSteps(self.services, self.owner, timing.heartbeat_seconds)
        started = steps._start_next_step(run_id)
        if isinstance(started, RunStatus):
            return started.value
        if isinstance(started, Compensate):
            steps._compensate(run_id, started.failure)
            return RunStatus.FAILED.value
        context, name = started
        last_try = activity.info().attempt >= self.services.settings.step_attempts
        if not steps._run_step(context, name, self._kind(run_id), last_try=last_try):
            raise ApplicationError(f"step {name} of run {run_id} hit a transient store fault")
        return "running"

    def _kind(self, run_id: str) -> str:
        with self._session() as session:
            kind = session.scalar(select(WorkflowRun.kind).where(WorkflowRun.id == run_id))
        if kind is None:
            raise ApplicationError(f"run {run_id} vanished", non_retryable=True)
        return kind

    @activity.defn(name=names.SCHEDULE_OF)
    def schedule_of(self, run_id: str) -> float | None:
        """Seconds until a scheduled run is due by the store's clock; None when it is no
        longer pending (replaced, or already handed over and running)."""
        with self._session() as session:
            run = session.get(WorkflowRun, run_id)
            if run is None or run.status != RunStatus.PENDING:
                return None
            if run.not_before is None:
                return 0.0
            return (run.not_before - self.services.clock()).total_seconds()

    @activity.defn(name=names.HAND_OVER)
    async def hand_over(self, run_id: str) -> None:
        """A due scheduled run joins its tenant's queue."""
        await self.starter.submit(run_id)

    @activity.defn(name=names.BILLING_TICK)
    def billing_tick(self) -> int:
        report = apply_billing_policies(self.services)
        self.services.audit.seal(self.services.db.engine)
        return len(report.changes)

    @activity.defn(name=names.APPROVAL_EXPIRY)
    def approval_expiry(self, approval_id: str) -> float | None:
        """Seconds until a pending approval expires by the store's clock; None when it is
        not pending (decided, voided, or never committed)."""
        with self._session() as session:
            approval = session.get(Approval, approval_id)
            if approval is None or approval.status != ApprovalStatus.PENDING:
                return None
            return (approval.expires_at - self.services.clock()).total_seconds()

    @activity.defn(name=names.EXPIRE_APPROVAL)
    def expire_approval(self, approval_id: str) -> bool:
        """Void the approval if it is still pending and expired (audited once); whether it
        is not pending any more (voided now, or decided meanwhile)."""
        if expire_due(self.services, f"worker:{self.owner}", approval_id):
            self.services.audit.seal(self.services.db.engine)
            return True
        return self.approval_expiry(approval_id) is None

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.begin_run,
            self.advance_run,
            self.schedule_of,
            self.hand_over,
            self.billing_tick,
            self.approval_expiry,
            self.expire_approval,
        ]
