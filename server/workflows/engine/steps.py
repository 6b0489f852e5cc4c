"""Executing a run's steps, shared by both engines (``worker`` and ``workflows.temporal``).

    start   the next unfinished step committed as running (attempts + 1) with the context
            it runs in; a run already failed is compensated first
    step    the step's ``act`` executed without holding a store transaction; its success
            committed with its store changes only while the engine still owns the run (the
            engine's fence) and while the step record is still this execution's (running,
            same attempt number; a failure too): a step outcome is recorded once however
            often it ran
    fail    the failure committed on the run first; then ``on_failure`` compensates and the
            run finishes as failed in one transaction
    finish  the outcome recorded, the tenant's plan files swept, the run audited once (the
            finishing transaction is the one that moves the run out of pending/running)

An engine says what owning a run means (``_owns``, ``_renew``) and how a long step shows it is
alive (``_heartbeat``, ``_progress``): a lease renewed in the store for the embedded worker,
the Temporal activity heartbeat for the Temporal engine.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from paybill.server.core.errors import InternalError, PaybillError, TransientFaultsExhausted
from paybill.server.core.vocabulary import Decision, RunStatus, StepStatus
from paybill.server.domain import audit
from paybill.server.executors.provisioner import TenantFacts
from paybill.server.store import Tenant, TenantRunLock, WorkflowRun, WorkflowStep
from paybill.server.store.outage import is_transient
from paybill.server.workflows.engine import plan_files
from paybill.server.workflows.engine.definitions import StepContext
from paybill.server.workflows.engine.runs import UNFINISHED

if TYPE_CHECKING:
    from paybill.server.workflows.engine.services import Services

log = logging.getLogger("paybill.worker")
DONE = (StepStatus.SUCCEEDED, StepStatus.SKIPPED)


@dataclass(frozen=True)
class Compensate:
    """The run failed (``failure`` is on its record) and is still to be compensated."""

    failure: dict[str, Any]


class LeaseLost(Exception):
    """This engine no longer owns the run (its lease expired or was broken, or a later
    execution of the step took over)."""


def tenant_facts(tenant: Tenant) -> TenantFacts:
    return TenantFacts(
        id=tenant.id,
        slug=tenant.slug,
        plan=tenant.plan_id,
        tier=tenant.plan.tier,
        isolation=tenant.isolation,
        cloud=tenant.cloud,
        region=tenant.region,
    )


@contextmanager
def beating(every_seconds: float, beat: Callable[[], bool], name: str) -> Iterator[None]:
    """Call ``beat`` every ``every_seconds`` in a thread of its own while the block runs (a
    long step's sign of life); a beat that returns False ends the beating."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_seconds):
            if not beat():
                return

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class Steps:
    """The per-step machinery; subclasses supply ownership and liveness."""

    services: Services
    owner: str  # recorded as the auditing rule (``worker:<owner>``)

    def _session(self) -> Session:
        return Session(self.services.db.engine, expire_on_commit=False)

    def _now(self) -> datetime:
        return self.services.clock()

    # -- what an engine supplies ---------------------------------------------------------

    def _owns(self, run: WorkflowRun) -> bool:
        raise NotImplementedError

    def _renew(self, session: Session, run_id: str, tenant_id: str | None) -> None:
        """Raises: LeaseLost when this engine does not own ``run_id`` any more."""
        raise NotImplementedError

    def _heartbeat(self, run_id: str, tenant_id: str | None) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _progress(self, run_id: str, tenant_id: str | None) -> Callable[[str], None]:
        """A step's progress report: a sign of life (``_renew``) and the run's ``progress``."""

        def report(message: str) -> None:
            with self._session() as session, session.begin():
                self._renew(session, run_id, tenant_id)
                session.execute(
                    update(WorkflowRun)
                    .where(WorkflowRun.id == run_id)
                    .values(progress=message[:200])
                    .execution_options(synchronize_session=False)
                )

        return report

    # -- the steps -----------------------------------------------------------------------

    def _start_next_step(self, run_id: str) -> RunStatus | Compensate | tuple[StepContext, str]:
        with self._session() as session, session.begin():
            run = session.get(WorkflowRun, run_id)
            if run is not None and run.status not in UNFINISHED and run.locked_by is None:
                return run.status  # this worker just finished it (a failed step)
            if run is None or not self._owns(run):
                raise LeaseLost(run_id)
            self._renew(session, run.id, run.tenant_id)
            if run.error is not None:
                return Compensate(dict(run.error))  # failed; its worker died compensating
            step = next((s for s in run.steps if s.status not in DONE), None)
            if step is None:
                self._finish(session, run, None)
                return RunStatus.SUCCEEDED
            step.status, step.started_at, step.error = StepStatus.RUNNING, self._now(), None
            step.attempts = (step.attempts or 0) + 1
            run.progress = step.name
            tenant = session.get(Tenant, run.tenant_id) if run.tenant_id else None
            if tenant is None:
                raise RuntimeError(f"run {run.id} has no tenant")
            context = StepContext(
                services=self.services,
                session=self._session(),
                run_id=run.id,
                tenant_id=tenant.id,
                facts=tenant_facts(tenant),
                input=dict(run.input),
                actor=run.created_by,
                progress=self._progress(run.id, tenant.id),
                attempt=step.attempts,
            )
            return context, step.name

    def _run_step(
        self, context: StepContext, name: str, kind: str, *, last_try: bool = True
    ) -> bool:
        """Run one step; False when a transient fault interrupted it and it is to be run
        again (never on ``last_try``: then the run fails)."""
        session = context.session
        try:
            with self._heartbeat(context.run_id, context.tenant_id):
                output = self.services.kinds.of(kind).step(name).act(context)
            self._renew(session, context.run_id, context.tenant_id)  # the fence
            step = self._step(session, context.run_id, name)
            _require_current(step, context)
            step.status, step.output, step.finished_at = StepStatus.SUCCEEDED, output, self._now()
            session.commit()
        except LeaseLost:
            _discard(session)
            raise
        except Exception as error:
            _discard(session)
            if is_transient(error):
                if not last_try:
                    return False
                attempts = self.services.settings.step_attempts
                self._fail(context, name, TransientFaultsExhausted(name, attempts))
            elif isinstance(error, PaybillError):
                self._fail(context, name, error)
            else:
                reference = uuid.uuid4().hex[:12]
                log.exception(
                    "step %s of run %s crashed (reference %s)", name, context.run_id, reference
                )
                self._fail(context, name, InternalError(reference))
        finally:
            session.close()
        return True

    @staticmethod
    def _step(session: Session, run_id: str, name: str) -> WorkflowStep:
        step = session.scalar(
            select(WorkflowStep).where(WorkflowStep.run_id == run_id, WorkflowStep.name == name)
        )
        if step is None:
            raise RuntimeError(f"step {name} of run {run_id} vanished")
        return step

    def _fail(self, context: StepContext, name: str, error: PaybillError) -> None:
        """Record the failure on the run, committed on its own, then compensate: a worker
        killed while compensating leaves the failure on record, and whichever worker resumes
        the run compensates again (``on_failure`` converges) and finishes it as failed."""
        failure = {**error.to_payload()["error"], "step": name}
        with self._session() as session, session.begin():
            self._renew(session, context.run_id, context.tenant_id)
            step = self._step(session, context.run_id, name)
            _require_current(step, context)
            step.status, step.error, step.finished_at = (
                StepStatus.FAILED,
                error.message,
                self._now(),
            )
            run = session.get(WorkflowRun, context.run_id)
            if run is None:
                raise RuntimeError(f"run {context.run_id} vanished")
            run.error, run.progress = failure, "compensating"
        self._compensate(context.run_id, failure)

    def _compensate(self, run_id: str, failure: dict[str, Any]) -> None:
        """The kind's ``on_failure``, then the run finished as failed, in one transaction."""
        with self._session() as session, session.begin():
            run = session.get(WorkflowRun, run_id)
            if run is None:
                raise RuntimeError(f"run {run_id} vanished")
            self._renew(session, run.id, run.tenant_id)
            on_failure = self.services.kinds.of(run.kind).on_failure
            tenant = session.get(Tenant, run.tenant_id) if run.tenant_id else None
            if on_failure is not None and tenant is not None:
                compensating = StepContext(
                    services=self.services,
                    session=session,
                    run_id=run.id,
                    tenant_id=tenant.id,
                    facts=tenant_facts(tenant),
                    input=dict(run.input),
                    actor=run.created_by,
                )
                try:
                    with session.begin_nested():
                        on_failure(compensating, str(failure.get("message", "")))
                except Exception:
                    # The run is recorded as failed whatever happens here: a compensation
                    # that cannot run must not leave it to be re-executed forever.
                    log.exception("compensation of run %s failed", run.id)
            self._finish(session, run, failure)

    def _finish(self, session: Session, run: WorkflowRun, failure: dict[str, Any] | None) -> None:
        run.status = RunStatus.FAILED if failure else RunStatus.SUCCEEDED
        run.error = failure
        run.finished_at, run.progress = self._now(), None
        run.locked_by, run.locked_until = None, None
        if run.tenant_id is not None:
            # Still this run's tenant: plan files in its workspace are of runs that are over.
            plan_files.sweep_tenant(self.services, run.tenant_id, session)
            lock = session.get(TenantRunLock, run.tenant_id)
            if lock is not None and lock.run_id == run.id:
                session.delete(lock)
        self.services.audit.append(
            session,
            audit.AuditEntry(
                principal=run.created_by,
                tool=f"workflow.{run.kind}",
                arguments={"workflow_id": run.id},
                decision=Decision.ALLOWED,
                rule=f"worker:{self.owner}",
                outcome=run.status.value,
                tenant_id=run.tenant_id,
                error_code=str(failure["code"]) if failure else None,
                detail=str(failure["message"])[:1000] if failure else None,
            ),
        )
        session.flush()


def _require_current(step: WorkflowStep, context: StepContext) -> None:
    """Raises: LeaseLost when a later execution of this step took over (an engine re-ran it
    while this one was presumed dead): that one's outcome is recorded, not this one's."""
    if step.status != StepStatus.RUNNING or step.attempts != context.attempt:
        raise LeaseLost(context.run_id)


def _discard(session: Session) -> None:
    """Roll back a step's session; its connection may be the one that just died."""
    try:
        session.rollback()
    except Exception:
        log.warning("rolling back a step's session failed", exc_info=True)
