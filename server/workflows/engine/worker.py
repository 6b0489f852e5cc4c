"""The workflow worker: claims runs, holds the tenant's run lock, executes steps durably.

    claim   one transaction: an eligible run (pending, or running with an expired lease),
            ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so several workers share one store, and
            the tenant's run lock (one run per tenant at a time)
    step    committed as running (attempts + 1) before it executes; executed without holding
            a store transaction; its success committed together with its store changes, only
            while this worker still holds the lease (a fence: a broken or expired lease means
            another worker owns the run now, and this one backs off); a transient database
            fault (``transient.is_transient``) runs it again after a capped exponential
            backoff, up to ``step_attempts`` times in a row, before it fails the run
    fail    the failure (code, message, failed step) committed on the run first; then the
            kind's ``on_failure`` compensates and the run finishes as failed in one
            transaction, so a kill while compensating leaves the failure on record and the
            worker that resumes the run compensates again
    finish  the run succeeded or failed, the lock is released and the outcome audited

The step, fail and finish parts are ``engine.steps`` (the Temporal engine runs the same);
this module adds claims, leases and the tenant run lock.

A worker that dies leaves its lease to expire; whichever worker claims the run next resumes
it at the step that did not finish, so every step must converge when run again.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paybill.server.core.vocabulary import RunStatus
from paybill.server.store import TenantRunLock, WorkflowRun
from paybill.server.store.database import updated_rows
from paybill.server.workflows.engine import plan_files
from paybill.server.workflows.engine.approval_expiry import expire_due
from paybill.server.workflows.engine.billing_tick import BillingTicker
from paybill.server.workflows.engine.runs import TEMPORAL_OWNER, UNFINISHED
from paybill.server.workflows.engine.steps import (
    DONE,
    Compensate,
    LeaseLost,
    Steps,
    beating,
    tenant_facts,
)
from paybill.server.workflows.engine.transient import backoff

if TYPE_CHECKING:
    from paybill.server.workflows.engine.services import Services

log = logging.getLogger("paybill.worker")
__all__ = ["DONE", "Compensate", "LeaseLost", "Worker", "embedded_worker", "tenant_facts"]


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker(Steps):
    def __init__(
        self, services: Services, *, owner: str | None = None, lease_seconds: float | None = None
    ) -> None:
        self.services = services
        self.owner = owner or default_owner()
        seconds = lease_seconds or services.settings.worker_lease_seconds
        self.lease = timedelta(seconds=seconds)

    # -- claiming ------------------------------------------------------------------------

    def claim(self) -> str | None:
        """Claim one eligible run for this worker; return its id, or None when idle."""
        now = self._now()
        query = (
            select(WorkflowRun)
            .where(
                WorkflowRun.status.in_(UNFINISHED),
                # A run of a kind this version does not know waits for a worker that does.
                WorkflowRun.kind.in_(self.services.kinds.names()),
                or_(WorkflowRun.not_before.is_(None), WorkflowRun.not_before <= now),
                or_(WorkflowRun.locked_until.is_(None), WorkflowRun.locked_until < now),
                or_(WorkflowRun.locked_by.is_(None), WorkflowRun.locked_by != TEMPORAL_OWNER),
            )
            .order_by(WorkflowRun.created_at, WorkflowRun.id)
            .limit(20)
        )
        if self.services.db.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=WorkflowRun)
        with self._session() as session, session.begin():
            for run in session.scalars(query).all():
                if self._take_tenant_lock(session, run, now):
                    run.status = RunStatus.RUNNING
                    run.locked_by, run.locked_until = self.owner, now + self.lease
                    session.flush()
                    return run.id
        return None

    def _take_tenant_lock(self, session: Session, run: WorkflowRun, now: datetime) -> bool:
        if run.tenant_id is None:
            return True
        lock = session.get(TenantRunLock, run.tenant_id, with_for_update=True)
        if lock is not None and lock.run_id != run.id and lock.expires_at >= now:
            return False  # another run of this tenant is being executed
        if self._other_run_started(session, run):
            # Its worker died or its lock was broken: it resumes first, whatever is older.
            return False
        if lock is None:
            try:
                with session.begin_nested():
                    session.add(
                        TenantRunLock(
                            tenant_id=run.tenant_id,
                            run_id=run.id,
                            owner=self.owner,
                            acquired_at=now,
                            expires_at=now + self.lease,
                        )
                    )
            except IntegrityError:
                return False  # a concurrent worker took it first
            return True
        lock.run_id, lock.owner = run.id, self.owner
        lock.acquired_at, lock.expires_at = now, now + self.lease
        return True

    @staticmethod
    def _other_run_started(session: Session, run: WorkflowRun) -> bool:
        started = session.scalar(
            select(WorkflowRun.id)
            .where(
                WorkflowRun.tenant_id == run.tenant_id,
                WorkflowRun.status == RunStatus.RUNNING,
                WorkflowRun.id != run.id,
            )
            .limit(1)
        )
        return started is not None

    # -- leases --------------------------------------------------------------------------

    def _owns(self, run: WorkflowRun) -> bool:
        return run.locked_by == self.owner

    def _renew(self, session: Session, run_id: str, tenant_id: str | None) -> None:
        """Extend this worker's lease; Raises: LeaseLost when another owns the run now."""
        until = self._now() + self.lease
        renewed = updated_rows(
            session.execute(
                update(WorkflowRun)
                .where(WorkflowRun.id == run_id, WorkflowRun.locked_by == self.owner)
                .values(locked_until=until)
                .execution_options(synchronize_session=False)
            )
        )
        if tenant_id is not None:
            renewed = renewed and updated_rows(
                session.execute(
                    update(TenantRunLock)
                    .where(
                        TenantRunLock.tenant_id == tenant_id,
                        TenantRunLock.run_id == run_id,
                        TenantRunLock.owner == self.owner,
                    )
                    .values(expires_at=until)
                    .execution_options(synchronize_session=False)
                )
            )
        if not renewed:
            raise LeaseLost(run_id)

    def _heartbeat(self, run_id: str, tenant_id: str | None) -> AbstractContextManager[None]:
        """Keep the lease alive while a long step (a Terraform apply) runs."""

        def renew() -> bool:
            try:
                with self._session() as session, session.begin():
                    self._renew(session, run_id, tenant_id)
            except LeaseLost:
                return False
            except Exception:
                log.warning("lease renewal of run %s failed", run_id, exc_info=True)
            return True

        return beating(self.lease.total_seconds() / 3, renew, f"lease-{run_id[:8]}")

    # -- executing -----------------------------------------------------------------------

    def execute(self, run_id: str) -> RunStatus | None:
        """Execute ``run_id``'s remaining steps; return its final status, or None when this
        worker lost the run to another."""
        settings = self.services.settings
        try:
            kind = self._kind(run_id)  # a run's kind never changes: read it once
            faults = 0  # transient faults in a row of the step being run
            while True:
                started = self._start_next_step(run_id)
                if isinstance(started, RunStatus):
                    return started
                if isinstance(started, Compensate):
                    self._compensate(run_id, started.failure)
                    continue
                context, name = started
                last_try = faults + 1 >= settings.step_attempts
                if self._run_step(context, name, kind, last_try=last_try):
                    faults = 0
                    continue
                faults += 1
                wait = backoff(
                    faults,
                    settings.step_retry_backoff_seconds,
                    settings.step_retry_backoff_max_seconds,
                )
                log.warning(
                    "step %s of run %s hit a transient database fault (%d in a row); "
                    "running it again in %.1f s",
                    name,
                    run_id,
                    faults,
                    wait,
                )
                time.sleep(wait)
        except LeaseLost:
            log.warning("worker %s lost run %s; another worker resumes it", self.owner, run_id)
            return None

    def _kind(self, run_id: str) -> str:
        with self._session() as session:
            kind = session.scalar(select(WorkflowRun.kind).where(WorkflowRun.id == run_id))
        if kind is None:
            raise LeaseLost(run_id)
        return kind

    def sweep_stale_plans(self) -> int:
        """At start: remove the Terraform plan files left by killed runs (``plan_files``)."""
        return plan_files.sweep_idle_tenants(self.services, self._now())

    # -- loops ---------------------------------------------------------------------------

    def run_once(self) -> bool:
        """Claim and execute one run; False when nothing was eligible."""
        run_id = self.claim()
        if run_id is None:
            return False
        self.execute(run_id)
        return True

    def run_pending(self, limit: int = 10_000) -> int:
        """Execute eligible runs until none is left (tests, ``paybill worker --once``)."""
        done = 0
        while done < limit and self.run_once():
            done += 1
        return done

    def serve(self, stop: threading.Event, poll_seconds: float = 1.0) -> None:
        """Work until ``stop`` is set, sleeping ``poll_seconds`` when idle; apply the billing
        policy every ``check_every_seconds`` of ``policies/billing.yaml``; void the pending
        approvals past their expiry each tick (``approval_expiry``)."""
        billing = BillingTicker(self.services)
        try:
            self.sweep_stale_plans()
        except Exception:  # the store may be down at start: the loop below waits for it
            log.exception("worker %s: sweeping stale plan files failed", self.owner)
        while not stop.is_set():
            billing.maybe_run()
            # Audit events whose calls' sealer attempts found the lock busy, or whose
            # process died before sealing; cheap when there are none.
            self.services.audit.seal(self.services.db.engine)
            try:
                # Expired approvals voided on time, not when a call next touches them.
                expire_due(self.services, f"worker:{self.owner}")
                busy = self.run_once()
            except Exception:
                log.exception("worker %s: claiming or running a workflow failed", self.owner)
                busy = False
            if not busy:
                stop.wait(poll_seconds)


@contextmanager
def embedded_worker(services: Services, poll_seconds: float = 1.0) -> Iterator[Worker]:
    """A worker thread for the life of a server process (``paybill serve``)."""
    worker = Worker(services)
    stop = threading.Event()
    thread = threading.Thread(
        target=worker.serve, args=(stop, poll_seconds), name="paybill-worker", daemon=True
    )
    thread.start()
    try:
        yield worker
    finally:
        stop.set()
        thread.join(timeout=30)
