"""Operations: Prometheus metrics, OpenTelemetry traces and the JSON call log, all fed by the
pipeline's call records (``guards.observe``); ``observers_for`` picks what the settings turn
on."""

from __future__ import annotations

from paybill.server.core.settings import Settings
from paybill.server.guards.observe import CallObserver, Observers
from paybill.server.observability.call_log import CallLog
from paybill.server.observability.metrics import CallMetrics
from paybill.server.observability.tracing import CallSpans, tracer_for

__all__ = ["observers_for"]


def observers_for(settings: Settings) -> Observers:
    """Metrics are always counted (cheap; served only on ``PAYBILL_METRICS_PORT``); the
    call log and traces when turned on."""
    observers: list[CallObserver] = [CallMetrics(), CallLog()]
    tracer = tracer_for(settings)
    if tracer is not None:
        observers.append(CallSpans(tracer))
    return Observers(observers)
