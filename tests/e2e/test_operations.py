"""A running `paybill serve` as operations see it: Prometheus metrics on their own port,
OTLP traces received by a collector stand-in (the OTLP/HTTP protobuf the exporter sends),
and one JSON log line per call."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.served import Served
from tests.support.serving import PAYBILL, free_port


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """Metrics, traces and logs are the same on either store."""
    return str(request.param)


@contextmanager
def _collector() -> Iterator[tuple[str, list[Any]]]:
    """Accepts OTLP/HTTP trace exports and keeps every span."""
    spans: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    spans.extend(scope.spans)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", spans
    finally:
        server.shutdown()
        server.server_close()


def _roots(spans: list[Any]) -> dict[str, Any]:
    """The exported spans of tool calls, by name (a call's root span)."""
    return {span.name: span for span in list(spans) if span.name.startswith("tools/call")}


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx2.get(url, timeout=2)
            return
        except httpx2.TransportError:
            time.sleep(0.1)
    pytest.fail(f"{url} never answered")


def _calls(base: str, key: str) -> list[bool]:
    async def main() -> list[bool]:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"})
        async with Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client:
            ok = await client.call_tool("get_tenant", {"tenant": "acme"})
            refused = await client.call_tool(
                "suspend_tenant", {"tenant": "acme", "reason": "not mine"}
            )
            return [ok.is_error, refused.is_error]

    return asyncio.run(main())


def test_metrics_traces_and_call_logs(served: Served) -> None:
    port, metrics_port = free_port(), free_port()
    with _collector() as (collector, spans):
        env = {
            **served.env(),
            "PAYBILL_METRICS_PORT": str(metrics_port),
            "PAYBILL_OTLP_ENDPOINT": collector,
            "PAYBILL_LOG_FORMAT": "json",
        }
        proc = subprocess.Popen(
            [PAYBILL, "serve", "--transport", "streamable-http", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for(f"http://127.0.0.1:{port}/healthz")
            assert _calls(f"http://127.0.0.1:{port}", served.keys["acme-bot"]) == [False, True]
            scraped = httpx2.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
            deadline = time.monotonic() + 15
            # Both calls' root spans: stage spans may be exported first, in any batch.
            while len(_roots(spans)) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)  # the batch processor exports every 0.5 s
        finally:
            proc.terminate()
            _out, stderr = proc.communicate(timeout=15)

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scraped)
        for s in family.samples
    }
    ok = (
        "paybill_tool_calls_total",
        (("code", "ok"), ("decision", "allowed"), ("tool", "get_tenant")),
    )
    denied = (
        "paybill_tool_calls_total",
        (("code", "DENIED"), ("decision", "denied"), ("tool", "suspend_tenant")),
    )
    calls_seen = {k: v for k, v in samples.items() if k[0] == "paybill_tool_calls_total"}
    assert samples.get(ok) == 1 and samples.get(denied) == 1, calls_seen
    stages = {dict(labels).get("stage") for name, labels in samples if "stage_seconds" in name}
    assert {"authenticate", "authorise", "handler", "audit"} <= stages
    assert ("paybill_approvals_pending", ()) in samples
    assert ("paybill_worker_lag_seconds", ()) in samples
    assert any(name == "paybill_workflow_runs" for name, _labels in samples)

    roots = _roots(spans)
    assert set(roots) == {"tools/call get_tenant", "tools/call suspend_tenant"}
    root = roots["tools/call get_tenant"]
    children = [s.name for s in spans if s.parent_span_id == root.span_id]
    assert "guard authenticate" in children and "guard handler" in children
    attributes = {a.key: a.value.string_value for a in root.attributes}
    assert attributes["paybill.code"] == "ok" and attributes["paybill.principal"] == "acme-bot"

    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    calls = [line for line in lines if line["logger"] == "paybill.calls"]
    assert [(c["tool"], c["decision"], c["code"]) for c in calls] == [
        ("get_tenant", "allowed", "ok"),
        ("suspend_tenant", "denied", "DENIED"),
    ]
    assert calls[0]["principal"] == "acme-bot" and calls[0]["duration_ms"] > 0
    assert len({c["request_id"] for c in calls}) == 2
    assert served.keys["acme-bot"] not in stderr
