"""Starting recorded runs on Temporal: after the recording transaction commits
(``engine.started``), and by a sweep of the pending runs that never were (the process that
recorded them died first). Starting is idempotent: workflow ids derive from run and tenant
ids, the tenant workflow queues a run once, and a run's activities do nothing to a run the
store says is finished.

Approvals alike: a pending approval's workflow is started (``USE_EXISTING``: once), a
decided one's is signalled ``decided`` (it re-reads the approval and ends); the sweep starts
the workflows of pending approvals that have none (a process that died after the commit, a
worker restart).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from paybill.server.core.vocabulary import ApprovalStatus, RunStatus
from paybill.server.store import Approval, WorkflowRun
from paybill.server.workflows.engine import started
from paybill.server.workflows.engine.runs import TEMPORAL_OWNER
from paybill.server.workflows.engine.services import Services
from paybill.server.workflows.temporal import names
from paybill.server.workflows.temporal.connect import connect
from paybill.server.workflows.temporal.names import ApprovalRef, RunRef, TenantQueue, Timing

log = logging.getLogger("paybill.worker")
START_TIMEOUT = 5.0  # seconds a committing call waits for Temporal; then the sweep starts the run


def timing_of(services: Services) -> Timing:
    settings = services.settings
    return Timing(
        heartbeat_seconds=settings.worker_lease_seconds,
        step_seconds=6 * 3600,  # the longest Terraform apply; the heartbeat catches a death
        retry_seconds=settings.step_retry_backoff_seconds,
        retry_max_seconds=settings.step_retry_backoff_max_seconds,
    )


class RunStarter:
    """Starts runs on ``client``, from the event loop that owns it or from any thread."""

    def __init__(self, services: Services, client: Client, loop: asyncio.AbstractEventLoop) -> None:
        self.services = services
        self.client = client
        self.loop = loop
        self.queue = services.settings.temporal_task_queue

    def __call__(self, run_ids: list[str]) -> None:
        """The ``engine.started`` hook: called in the thread that committed."""
        self._dispatch(self.start(run_ids))

    def approvals(self, approval_ids: list[str]) -> None:
        """The ``engine.started`` hook for approvals requested or decided."""
        self._dispatch(self.tell_approvals(approval_ids))

    def _dispatch(self, coroutine: Coroutine[Any, Any, None]) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.loop.create_task(coroutine)
            return
        asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(START_TIMEOUT)

    async def start(self, run_ids: list[str]) -> None:
        for run_id in run_ids:
            await self.submit(run_id)

    async def submit(self, run_id: str) -> None:
        """A pending run to its workflow: the tenant's queue when due, else its timer."""
        # Store reads in a thread: this loop also runs the worker's workflow tasks.
        pending = await asyncio.to_thread(self._pending, run_id)
        if pending is None:
            return  # rolled back (a savepoint), finished, or begun by the other engine
        tenant_id, not_before = pending
        timing = timing_of(self.services)
        ref = RunRef(run_id, timing)
        if not_before is not None and not_before > self.services.clock():
            await self.client.start_workflow(
                names.SCHEDULED_WORKFLOW,
                ref,
                id=names.scheduled_id_of(self.queue, run_id),
                task_queue=self.queue,
                start_signal=names.RESCHEDULE,
            )
        elif tenant_id is None:
            await self.client.start_workflow(
                names.RUN_WORKFLOW,
                ref,
                id=names.run_id_of(self.queue, run_id),
                task_queue=self.queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
        else:
            await self.client.start_workflow(
                names.TENANT_WORKFLOW,
                TenantQueue(self.queue, tenant_id, timing, []),
                id=names.tenant_id_of(self.queue, tenant_id),
                task_queue=self.queue,
                start_signal=names.SUBMIT,
                start_signal_args=[run_id],
            )

    async def tell_approvals(self, approval_ids: list[str]) -> None:
        for approval_id in approval_ids:
            await self.tell_approval(approval_id)

    async def tell_approval(self, approval_id: str) -> None:
        """A pending approval to its workflow (started once); a decided one's workflow told."""
        status = await asyncio.to_thread(self._approval_status, approval_id)
        workflow_id = names.approval_id_of(self.queue, approval_id)
        if status is None:
            return  # rolled back with its call
        if status == ApprovalStatus.PENDING:
            await self.client.start_workflow(
                names.APPROVAL_WORKFLOW,
                ApprovalRef(approval_id, timing_of(self.services)),
                id=workflow_id,
                task_queue=self.queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
            return
        try:
            await self.client.get_workflow_handle(workflow_id).signal(names.DECIDED)
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise  # not found: never started (the sweep had not run), or ended already

    def _approval_status(self, approval_id: str) -> ApprovalStatus | None:
        with Session(self.services.reader) as session:
            return session.scalar(select(Approval.status).where(Approval.id == approval_id))

    def _pending_approvals(self) -> list[str]:
        with Session(self.services.reader) as session:
            return list(
                session.scalars(
                    select(Approval.id)
                    .where(Approval.status == ApprovalStatus.PENDING)
                    .order_by(Approval.created_at, Approval.id)
                )
            )

    def _pending(self, run_id: str) -> tuple[str | None, datetime | None] | None:
        """The tenant and moment of a run to start; None when there is none to start."""
        with Session(self.services.reader) as session:
            run = session.get(WorkflowRun, run_id)
            if run is None or not _to_start(run.status, run.locked_by):
                return None
            if run.status == RunStatus.RUNNING:
                return run.tenant_id, None  # begun: it resumes now, whatever its moment was
            return run.tenant_id, run.not_before

    def _all_pending(self) -> list[str]:
        with Session(self.services.reader) as session:
            return list(
                session.scalars(
                    select(WorkflowRun.id)
                    .where(
                        or_(
                            WorkflowRun.status == RunStatus.PENDING,
                            and_(
                                WorkflowRun.status == RunStatus.RUNNING,
                                WorkflowRun.locked_by == TEMPORAL_OWNER,
                            ),
                        )
                    )
                    .order_by(WorkflowRun.created_at, WorkflowRun.id)
                )
            )

    async def sweep(self) -> int:
        """Start every pending run and resume every begun one (idempotent); how many."""
        pending = await asyncio.to_thread(self._all_pending)
        for run_id in pending:
            try:
                await self.submit(run_id)
            except Exception:
                log.exception("starting pending run %s failed; the next sweep retries", run_id)
        # Pending approvals whose workflow never started (USE_EXISTING: a no-op for the rest).
        for approval_id in await asyncio.to_thread(self._pending_approvals):
            try:
                await self.tell_approval(approval_id)
            except Exception:
                log.exception("starting approval %s's workflow failed; retrying", approval_id)
        return len(pending)


def _to_start(status: RunStatus, locked_by: str | None) -> bool:
    """Pending, or begun on Temporal: a begun run whose workflow was terminated (an operator,
    a namespace reset) resumes at its unfinished step; one whose workflow is alive is queued
    once by its tenant workflow, and its activities do nothing to a finished run."""
    return status == RunStatus.PENDING or (
        status == RunStatus.RUNNING and locked_by == TEMPORAL_OWNER
    )


@contextmanager
def temporal_starts(services: Services) -> Iterator[RunStarter]:
    """For ``paybill serve``: a thread with its own event loop and client; runs recorded by
    this process are started on Temporal once their transaction commits."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="paybill-temporal", daemon=True)
    thread.start()
    try:
        connecting = connect(services.settings, lazy=True)
        client = asyncio.run_coroutine_threadsafe(connecting, loop).result(60)
        starter = RunStarter(services, client, loop)
        started.install(services.db.engine, starter)
        try:
            yield starter
        finally:
            started.uninstall(services.db.engine)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
