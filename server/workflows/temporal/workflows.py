"""The Temporal workflows: deterministic and small; every read and write of the store is an
activity (``activities``), named by string so this module imports nothing but the names.

    paybill.tenant     one per tenant (id ``<queue>:tenant-<tenant id>``), fed by
                       signal-with-start: runs the tenant's runs one at a time, in the
                       order they were submitted, each as a child ``paybill.run``; ends
                       when idle
    paybill.run        one per run (id ``<queue>:run-<run id>``): begin, then one
                       activity per step
    paybill.scheduled  a run with ``not_before`` (id ``<queue>:scheduled-<run id>``): a
                       durable timer until then, re-read on a ``reschedule`` signal; then
                       the run goes to its tenant's queue
    paybill.billing_tick  the billing policy, started by a Temporal Schedule
    paybill.approval   one per pending approval (id ``<queue>:approval-<approval id>``):
                       waits for a ``decided`` signal or a durable timer at its expiry;
                       at the expiry the approval is voided if still pending

``<queue>`` is the task queue (``names``). Versioning: a change to what a workflow does
between activities goes behind ``workflow.patched("<change id>")`` (docs/temporal.md,
"Deploying a new version").
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from paybill.server.workflows.temporal import names
    from paybill.server.workflows.temporal.names import ApprovalRef, RunRef, TenantQueue, Timing

# The tenant workflow ends after this long without a run; the next run starts a new one.
IDLE = timedelta(minutes=10)
# Runs per tenant workflow execution before it continues as new (bounded history).
RUNS_PER_EXECUTION = 100
STORE_CALL = timedelta(minutes=2)


def _retry(timing: Timing) -> RetryPolicy:
    # No maximum: a step gives up on its own (transient faults, step_attempts) and records
    # the failure; what is retried here is a worker that died or a store that is down.
    return RetryPolicy(
        initial_interval=timedelta(seconds=timing.retry_seconds),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=timing.retry_max_seconds),
    )


@workflow.defn(name=names.RUN_WORKFLOW)
class RunWorkflow:
    @workflow.run
    async def run(self, ref: RunRef) -> str:
        timing = ref.timing
        status: str = await workflow.execute_activity(
            names.BEGIN,
            ref.run_id,
            start_to_close_timeout=STORE_CALL,
            retry_policy=_retry(timing),
            result_type=str,
        )
        while status == "running":
            # One activity per step: the next unfinished step, recorded exactly once.
            status = await workflow.execute_activity(
                names.ADVANCE,
                args=[ref.run_id, timing],
                start_to_close_timeout=timedelta(seconds=timing.step_seconds),
                heartbeat_timeout=timedelta(seconds=timing.heartbeat_seconds),
                retry_policy=_retry(timing),
                result_type=str,
            )
        return status


@workflow.defn(name=names.TENANT_WORKFLOW)
class TenantWorkflow:
    """One run per tenant at a time, without a lock: this workflow is the tenant's queue."""

    def __init__(self) -> None:
        self.queue: list[str] = []
        self.seen: set[str] = set()

    @workflow.signal(name=names.SUBMIT)
    def submit(self, run_id: str) -> None:
        # A run submitted twice (the starter and the sweep) is queued once.
        if run_id not in self.seen:
            self.seen.add(run_id)
            self.queue.append(run_id)

    @workflow.run
    async def run(self, queue: TenantQueue) -> None:
        for run_id in queue.queued:
            self.submit(run_id)
        done = 0
        while True:
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: bool(self.queue), timeout=IDLE)
            if not self.queue:
                return
            run_id = self.queue.pop(0)
            try:
                await workflow.execute_child_workflow(
                    names.RUN_WORKFLOW,
                    RunRef(run_id, queue.timing),
                    id=names.run_id_of(queue.queue, run_id),
                    result_type=str,
                )
            except ChildWorkflowError:
                workflow.logger.exception("run %s ended abnormally", run_id)
            except Exception:  # already started elsewhere: it is running or done
                workflow.logger.exception("run %s could not be started as a child", run_id)
            done += 1
            if done >= RUNS_PER_EXECUTION or workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(
                    TenantQueue(queue.queue, queue.tenant_id, queue.timing, list(self.queue))
                )


@workflow.defn(name=names.SCHEDULED_WORKFLOW)
class ScheduledWorkflow:
    def __init__(self) -> None:
        self.changed = False

    @workflow.signal(name=names.RESCHEDULE)
    def reschedule(self) -> None:
        self.changed = True

    @workflow.run
    async def run(self, ref: RunRef) -> str:
        while True:
            self.changed = False
            # Seconds until the run is due, by the store's clock; None: not pending any more.
            wait: float | None = await workflow.execute_activity(
                names.SCHEDULE_OF,
                ref.run_id,
                start_to_close_timeout=STORE_CALL,
                retry_policy=_retry(ref.timing),
                result_type=float | None,  # type: ignore[arg-type]
            )
            if wait is None:
                return "gone"
            if wait <= 0:
                await workflow.execute_activity(
                    names.HAND_OVER,
                    ref.run_id,
                    start_to_close_timeout=STORE_CALL,
                    retry_policy=_retry(ref.timing),
                )
                return "handed over"
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self.changed, timeout=timedelta(seconds=wait))


@workflow.defn(name=names.APPROVAL_WORKFLOW)
class ApprovalWorkflow:
    """The approval's wait: the decision itself runs in ``decide_approval`` (the approved call
    is re-derived and executed there), so nothing here holds the tenant's run slot."""

    def __init__(self) -> None:
        self.decided = False

    @workflow.signal(name=names.DECIDED)
    def decide(self) -> None:
        self.decided = True

    @workflow.run
    async def run(self, ref: ApprovalRef) -> str:
        while True:
            self.decided = False
            # Seconds until its expiry by the store's clock; None: it is not pending any more.
            wait: float | None = await workflow.execute_activity(
                names.APPROVAL_EXPIRY,
                ref.approval_id,
                start_to_close_timeout=STORE_CALL,
                retry_policy=_retry(ref.timing),
                result_type=float | None,  # type: ignore[arg-type]
            )
            if wait is None:
                return "decided"
            if wait <= 0:
                expired: bool = await workflow.execute_activity(
                    names.EXPIRE_APPROVAL,
                    ref.approval_id,
                    start_to_close_timeout=STORE_CALL,
                    retry_policy=_retry(ref.timing),
                    result_type=bool,
                )
                if expired:
                    return "expired"
                # Locked by a decision in progress: the next look sees its outcome.
                wait = ref.timing.retry_seconds
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self.decided, timeout=timedelta(seconds=wait))


@workflow.defn(name=names.BILLING_WORKFLOW)
class BillingTickWorkflow:
    @workflow.run
    async def run(self) -> int:
        changed: int = await workflow.execute_activity(
            names.BILLING_TICK,
            start_to_close_timeout=timedelta(minutes=30),
            retry_policy=RetryPolicy(maximum_attempts=1),  # the next tick retries
            result_type=int,
        )
        return changed


WORKFLOWS = [RunWorkflow, TenantWorkflow, ScheduledWorkflow, BillingTickWorkflow, ApprovalWorkflow]
