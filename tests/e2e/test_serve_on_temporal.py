"""`paybill serve` with PAYBILL_WORKFLOW_ENGINE=temporal: a run recorded by an MCP call over
streamable HTTP (the official client) is started on Temporal by the server process itself
and executed by a `paybill worker --engine temporal` process."""

from __future__ import annotations

import asyncio

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from temporalio.client import Client as TemporalClient

from paybill.server.workflows.temporal import names
from tests.support.served import Served
from tests.support.serving import paybill_http
from tests.support.temporal import on_temporal, wait_finished


@pytest.fixture(params=["postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_serve_starts_runs_on_temporal(served: Served, temporal_server: str) -> None:
    # No worker yet (its sweep would start the run too): the server must have started it.
    with on_temporal(served, temporal_server, workers=0) as engine:
        env = engine.env
        headers = {"Authorization": f"Bearer {served.keys['ops']}"}
        with paybill_http(env, "streamable-http") as port:

            async def create() -> dict:
                target = streamable_http_client(
                    f"http://127.0.0.1:{port}/mcp", http_client=httpx2.AsyncClient(headers=headers)
                )
                async with Client(target) as client:
                    result = await client.call_tool(
                        "create_tenant", {"slug": "remote", "name": "R", "plan": "free"}
                    )
                    assert not result.is_error, result.structured_content
                    return result.structured_content

            created = asyncio.run(create())
            run_id, tenant_id = created["workflow"]["id"], created["tenant"]["id"]
            queue = served.services.settings.temporal_task_queue
            started = _describe(temporal_server, names.tenant_id_of(queue, tenant_id))
            assert started == "RUNNING"
            engine.start_worker()
            wait_finished(served.services, run_id)
    run = served.ok("ops", "get_workflow", workflow_id=run_id)
    assert run["status"] == "succeeded"
    assert served.ok("ops", "get_tenant", tenant="remote")["state"] == "active"


def _describe(address: str, workflow_id: str) -> str:
    async def go() -> str:
        client = await TemporalClient.connect(address)
        described = await client.get_workflow_handle(workflow_id).describe()
        assert described.status is not None
        return described.status.name

    return asyncio.run(go())
