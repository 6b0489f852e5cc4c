"""``paybill worker --engine temporal``: poll the task queue, run workflows and activities,
start pending runs (at boot and every ``temporal_sweep_seconds``), keep the billing Schedule."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.worker import Worker

from paybill.server.workflows.engine import started
from paybill.server.workflows.engine.services import Services
from paybill.server.workflows.temporal import names
from paybill.server.workflows.temporal.activities import Activities
from paybill.server.workflows.temporal.connect import connect
from paybill.server.workflows.temporal.starter import RunStarter
from paybill.server.workflows.temporal.workflows import WORKFLOWS

log = logging.getLogger("paybill.worker")
ACTIVITY_THREADS = 8


async def ensure_billing_schedule(services: Services, client: Client) -> None:
    """The billing policy tick as a Temporal Schedule (one per namespace; never overlapping)."""
    every = timedelta(seconds=services.billing.check_every_seconds)
    schedule_id = names.billing_schedule_of(services.settings.temporal_task_queue)
    with contextlib.suppress(ScheduleAlreadyRunningError):
        await client.create_schedule(
            schedule_id,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    names.BILLING_WORKFLOW,
                    id=schedule_id,
                    task_queue=services.settings.temporal_task_queue,
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            ),
        )


async def serve(services: Services, stop: threading.Event) -> None:
    """Work until ``stop`` is set."""
    settings = services.settings
    client = await connect(settings)
    starter = RunStarter(services, client, asyncio.get_running_loop())
    # Runs recorded by steps here (a downgrade handing over to a migration) start as well.
    started.install(services.db.engine, starter)
    activities = Activities(services, starter)
    with ThreadPoolExecutor(ACTIVITY_THREADS, thread_name_prefix="paybill-activity") as pool:
        worker = Worker(
            client,
            task_queue=settings.temporal_task_queue,
            workflows=WORKFLOWS,
            activities=activities.all(),
            activity_executor=pool,
            max_concurrent_activities=ACTIVITY_THREADS,
        )
        try:
            await ensure_billing_schedule(services, client)
            async with worker:
                while not stop.is_set():
                    try:
                        await starter.sweep()
                        # Audit events whose sealing was left over (as the embedded worker).
                        await asyncio.to_thread(services.audit.seal, services.db.engine)
                    except Exception:
                        log.exception("sweeping pending runs failed; retrying")
                    await _wait(stop, settings.temporal_sweep_seconds)
        finally:
            started.uninstall(services.db.engine)


async def _wait(stop: threading.Event, seconds: float) -> None:
    step = 0.2
    waited = 0.0
    while waited < seconds and not stop.is_set():
        await asyncio.sleep(step)
        waited += step


def run_worker(services: Services, stop: threading.Event) -> None:
    asyncio.run(serve(services, stop))
