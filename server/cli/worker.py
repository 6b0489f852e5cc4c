"""`paybill worker`: execute workflow runs in a process of its own."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import click

from paybill.server.app import build_services, run_temporal_worker, serve_operations
from paybill.server.cli import logs
from paybill.server.cli.context import CliContext
from paybill.server.domain.notifications import webhook_target
from paybill.server.executors.webhooks import Deliverer, notification_thread
from paybill.server.workflows.engine.billing_tick import apply_billing_policies
from paybill.server.workflows.engine.services import Services
from paybill.server.workflows.engine.worker import Worker


@click.command()
@click.option(
    "--once",
    is_flag=True,
    help="Apply the billing policy once, execute every eligible run, then exit.",
)
@click.option(
    "--engine",
    type=click.Choice(["embedded", "temporal"]),
    default=None,
    help="Which engine's runs to execute; default: PAYBILL_WORKFLOW_ENGINE (embedded).",
)
@click.pass_obj
def worker(obj: CliContext, once: bool, engine: str | None) -> None:
    """Claim and execute workflow runs (provisioning, plan changes, offboarding).

    Several workers (and servers with their embedded worker) may share one PostgreSQL
    store: each run is claimed by exactly one of them, and a run whose worker died is
    resumed by another once its lease (PAYBILL_WORKER_LEASE_SECONDS) expires.

    With --engine temporal it polls PAYBILL_TEMPORAL_TASK_QUEUE of the cluster at
    PAYBILL_TEMPORAL_ADDRESS instead (docs/temporal.md); a run whose worker died is resumed
    by another once its activity heartbeat (PAYBILL_WORKER_LEASE_SECONDS) times out.
    """
    logs.configure(
        verbose=obj.verbose, paybill_level=logging.INFO, log_format=obj.settings.log_format
    )
    settings = obj.settings
    if engine is not None and engine != settings.workflow_engine:
        # Both engines on one store would execute the same runs: the choice is the
        # deployment's, made once in PAYBILL_WORKFLOW_ENGINE for every process.
        raise click.UsageError(
            f"--engine {engine} but PAYBILL_WORKFLOW_ENGINE is {settings.workflow_engine}; "
            f"set PAYBILL_WORKFLOW_ENGINE={engine} for every paybill process of this store."
        )
    services = build_services(settings)
    serve_operations(services)  # metrics, when PAYBILL_METRICS_PORT is set
    if settings.workflow_engine == "temporal":
        if once:
            raise click.UsageError("--once runs the embedded engine's runs; not with temporal.")
        _serve_temporal(services)
        return
    runner = Worker(services)
    if once:
        runner.sweep_stale_plans()
        report = apply_billing_policies(services)
        done = runner.run_pending()
        sent = _notify_once(services)
        services.audit.checkpoint(services.reader)
        notified = "" if sent is None else f"; delivered {sent} approval notification(s)"
        click.echo(
            f"Executed {done} run(s); applied {len(report.changes)} billing change(s){notified}."
        )
        return
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo(f"Worker {runner.owner} started.", err=True)
    poll = obj.settings.worker_poll_seconds
    with notification_thread(services.db, obj.settings, poll):
        runner.serve(stop, poll)
    services.audit.checkpoint(services.reader)  # the audit log's tip at shutdown


def _serve_temporal(services: Services) -> None:
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    settings = services.settings
    click.echo(
        f"Temporal worker on {settings.temporal_address} (namespace "
        f"{settings.temporal_namespace}, task queue {settings.temporal_task_queue}) started.",
        err=True,
    )
    with notification_thread(services.db, settings, settings.worker_poll_seconds):
        run_temporal_worker(services, stop)
    services.audit.checkpoint(services.reader)


def _notify_once(services: Services) -> int | None:
    """One pass of the approval-notification deliverer; None when notifications are off."""
    target = webhook_target(services.settings)
    if target is None:
        return None
    deliverer = Deliverer(services.db, services.settings, target)
    try:
        return deliverer.deliver_due()
    finally:
        deliverer.close()
