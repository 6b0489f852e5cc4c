"""Prometheus metrics (``prometheus-client``) in Paybill's own registry, served on
``PAYBILL_METRICS_PORT`` (``serve_metrics``): tool calls by tool, decision and code, call
latency and guard stage timings (histograms), and, read from the store at each scrape, workflow
runs by kind and status, the worker lag and the approval queue depth."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from paybill.server.core.vocabulary import ApprovalStatus, RunStatus
from paybill.server.guards.observe import CallRecord
from paybill.server.store import Approval, WorkflowRun
from paybill.server.store.database import Database

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
# Tool calls take 1 ms to several seconds (a Terraform plan inside a call).
LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
STAGE = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1)
CALLS = Counter(
    "paybill_tool_calls",
    "Tool calls by tool, decision (allowed/denied) and code (ok or the error code).",
    ["tool", "decision", "code"],
    registry=REGISTRY,
)
CALL_SECONDS = Histogram(
    "paybill_tool_call_seconds",
    "Time in the guard pipeline per call, handler and tenant work included.",
    ["tool"],
    buckets=LATENCY,
    registry=REGISTRY,
)
STAGE_SECONDS = Histogram(
    "paybill_guard_stage_seconds",
    "Time per guard stage (authenticate, limits, validate, authorise, ..., handler, audit).",
    ["stage"],
    buckets=STAGE,
    registry=REGISTRY,
)
log = logging.getLogger("paybill.metrics")


class CallMetrics:
    """Each labelled child is looked up once (``labels`` validates the values and takes the
    metric's lock every time); the label sets are few: tools, stages, codes."""

    def __init__(self) -> None:
        self._calls: dict[tuple[str, str, str], Counter] = {}
        self._seconds: dict[str, Histogram] = {}
        self._stages: dict[str, Histogram] = {}

    def finished(self, record: CallRecord) -> None:
        tool = record.trace.tool
        key = (tool, record.decision, record.code)
        calls = self._calls.get(key) or self._calls.setdefault(key, CALLS.labels(*key))
        calls.inc()
        seconds = self._seconds.get(tool) or self._seconds.setdefault(
            tool, CALL_SECONDS.labels(tool)
        )
        seconds.observe(record.duration_seconds)
        for stage, took in record.stage_seconds().items():
            child = self._stages.get(stage) or self._stages.setdefault(
                stage, STAGE_SECONDS.labels(stage)
            )
            child.observe(took)


class StoreCollector(Collector):
    """Read at each scrape, in one short transaction: what is queued and how late."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        runs = GaugeMetricFamily(
            "paybill_workflow_runs", "Workflow runs by kind and status.", labels=["kind", "status"]
        )
        lag = GaugeMetricFamily(
            "paybill_worker_lag_seconds",
            "How long the oldest runnable pending run has waited (0: none waits).",
        )
        pending = GaugeMetricFamily(
            "paybill_approvals_pending", "Approvals waiting for a decision."
        )
        try:
            with self.db.session() as session:
                for kind, status, count in session.execute(
                    select(WorkflowRun.kind, WorkflowRun.status, func.count()).group_by(
                        WorkflowRun.kind, WorkflowRun.status
                    )
                ):
                    runs.add_metric([kind, str(getattr(status, "value", status))], count)
                now = datetime.now(UTC)
                oldest = session.scalar(
                    select(func.min(func.coalesce(WorkflowRun.not_before, WorkflowRun.created_at)))
                    .where(WorkflowRun.status == RunStatus.PENDING)
                    .where((WorkflowRun.not_before.is_(None)) | (WorkflowRun.not_before <= now))
                )
                lag.add_metric([], max((now - _aware(oldest)).total_seconds(), 0) if oldest else 0)
                pending.add_metric(
                    [],
                    session.scalar(
                        select(func.count())
                        .select_from(Approval)
                        .where(Approval.status == ApprovalStatus.PENDING)
                    )
                    or 0,
                )
        except Exception:
            log.warning("metrics: the store could not be read", exc_info=True)
            return
        yield runs
        yield lag
        yield pending


def _aware(moment: datetime | str) -> datetime:
    # func.min/coalesce bypasses the column type: SQLite hands back naive UTC text.
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_served: set[int] = set()


def serve_metrics(db: Database, host: str, port: int) -> None:
    """``/metrics`` on ``host:port`` in a daemon thread (once per process and port)."""
    if port in _served:
        return
    REGISTRY.register(StoreCollector(db))
    start_http_server(port, addr=host, registry=REGISTRY)
    _served.add(port)
