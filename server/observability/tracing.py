"""OpenTelemetry traces: one span per tool call with a child span per guard stage, exported
over OTLP/HTTP to ``PAYBILL_OTLP_ENDPOINT`` (unset: no tracer, no cost). Spans are built
after the call from its recorded timings, so the pipeline never waits on the tracer."""

from __future__ import annotations

from opentelemetry import trace as otel
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from paybill.server import __version__
from paybill.server.core.settings import Settings
from paybill.server.guards.observe import CallRecord

_tracers: dict[str, Tracer] = {}


def tracer_for(settings: Settings) -> Tracer | None:
    """A tracer exporting to the configured endpoint (one provider per endpoint and process),
    or None when tracing is off."""
    endpoint = settings.otlp_endpoint
    if endpoint is None:
        return None
    if endpoint not in _tracers:
        # Imported only when tracing is on: the SDK and exporter are the `otel` extra.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create(
            {"service.name": settings.otlp_service_name, "service.version": __version__}
        )
        # The provider flushes what is buffered when the process exits (shutdown_on_exit).
        provider = TracerProvider(resource=resource)
        exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", timeout=5)
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
        _tracers[endpoint] = provider.get_tracer("paybill")
    return _tracers[endpoint]


class CallSpans:
    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer

    def finished(self, record: CallRecord) -> None:
        trace = record.trace
        span = self.tracer.start_span(
            f"tools/call {trace.tool}",
            kind=SpanKind.SERVER,
            start_time=trace.started_wall_ns,
            attributes={
                "paybill.request_id": trace.request_id,
                "paybill.tool": trace.tool,
                "paybill.principal": record.principal,
                "paybill.tenant_id": record.tenant_id or "",
                "paybill.decision": record.decision,
                "paybill.code": record.code,
            },
        )
        if record.code != "ok":
            span.set_status(Status(StatusCode.ERROR, record.code))
        context = otel.set_span_in_context(span)
        for stage, start, end in trace.stages:
            child = self.tracer.start_span(
                f"guard {stage}", context=context, start_time=trace.wall(start)
            )
            child.end(end_time=trace.wall(end))
        span.end(end_time=trace.wall(record.ended_ns))
