"""The MCP adapter through the official client: tools advertise the models' own schemas,
arguments reach the pipeline unvalidated by the SDK, and a wait reports progress on the wire."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from sqlalchemy import select

from paybill.server.app import build_server
from paybill.server.mcp.adapter import annotations_of
from paybill.server.store import AuditEvent
from paybill.tools import all_tools
from tests.support.served import Served
from tests.support.serving import paybill_http

# What is tested is the MCP layer; the store's backend makes no difference to it.
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

PAYBILL = str(Path(sys.executable).parent / "paybill")
# What MCP clients are offered: console-only tools (ToolSpec.surfaces) are not.
SPECS = {spec.name: spec for spec in all_tools() if "mcp" in spec.surfaces}
CONSOLE_ONLY = [spec.name for spec in all_tools() if "mcp" not in spec.surfaces]
MODES = ["auto", "legacy"]  # the 2026-07-28 protocol, and the initialize handshake


@pytest.mark.parametrize("mode", MODES)
def test_tools_advertise_the_models_own_schemas(served: Served, mode: str) -> None:
    # The platform admin is shown every tool (tools/list is role-scoped: test_tool_lists).
    async def listed() -> list[Any]:
        async with Client(build_server(served.services, lambda _ctx: "admin"), mode=mode) as client:
            return (await client.list_tools()).tools

    tools = anyio.run(listed)
    assert [t.name for t in tools] == list(SPECS)
    for tool in tools:
        spec = SPECS[tool.name]
        assert tool.input_schema == spec.input_model.model_json_schema(), tool.name
        assert tool.output_schema == spec.output_model.model_json_schema(), tool.name
        assert (tool.title, tool.description) == (spec.title, spec.description)
        assert tool.annotations == annotations_of(spec)


# Arguments the SDK would refuse, or rewrite, if it validated them against the schema.
BAD_ARGUMENTS = {
    "unknown argument": ("get_tenant", {"tenant": "acme", "bogus": 1}, "bogus"),
    "wrong type": ("get_tenant", {"tenant": 7}, "tenant"),
    "missing argument": ("get_tenant", {}, "tenant"),
    # A JSON string where a list belongs: MCPServer would have parsed it into the list.
    "list as JSON text": (
        "insert_rows",
        {"tenant": "acme", "table": "customers", "rows": '[{"name": "Ada"}]'},
        "rows",
    ),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", sorted(BAD_ARGUMENTS))
def test_bad_arguments_are_the_pipelines_typed_error(served: Served, mode: str, case: str) -> None:
    tool, arguments, field = BAD_ARGUMENTS[case]

    async def call() -> Any:
        async with Client(build_server(served.services, lambda _ctx: "ops"), mode=mode) as client:
            # A JSON-RPC error would raise here instead of returning a result.
            return await client.call_tool(tool, arguments)

    result = anyio.run(call)
    assert result.is_error
    error = result.structured_content["error"]
    assert error["code"] == "INVALID_INPUT"
    assert [p["field"] for p in error["details"]["problems"]] == [field]
    assert result.content[0].text.startswith('{"error":{"code":"INVALID_INPUT"')
    assert served.ok("ops", "query_table", tenant="acme", table="customers")["rows"] == []


def test_the_text_is_the_structured_content_as_json(served: Served) -> None:
    """Clients that show the model only ``content`` get every field: one text block, the
    structured content's own JSON, with non-ASCII text left as it is."""
    rows = [{"name": "Zoë Ünal", "country": "DE"}]
    served.ok("admin", "insert_rows", tenant="acme", table="customers", rows=rows)

    async def call() -> Any:
        async with Client(build_server(served.services, lambda _ctx: "ops")) as client:
            # The client validates the structured content against the advertised schema.
            return await client.call_tool("query_table", {"tenant": "acme", "table": "customers"})

    result = anyio.run(call)
    assert not result.is_error
    [block] = result.content
    assert json.loads(block.text) == result.structured_content
    assert "Zoë Ünal" in block.text
    assert result.structured_content["rows"][0][1] == "Zoë Ünal"


@pytest.mark.parametrize("mode", MODES)
def test_an_unknown_tool_is_an_error_result(served: Served, mode: str) -> None:
    async def call() -> Any:
        async with Client(build_server(served.services, lambda _ctx: "ops"), mode=mode) as client:
            return await client.call_tool("drop_everything", {})

    result = anyio.run(call)
    assert result.is_error
    error = result.structured_content["error"]
    assert (error["code"], error["details"]) == ("NOT_FOUND", {"tool": "drop_everything"})
    assert "tools/list" in error["message"]
    assert result.content[0].text.startswith('{"error":{"code":"NOT_FOUND"')
    with served.services.db.session() as session:
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (event.tool, event.principal, event.decision.value, event.rule) == (
        "<unknown>",
        "ops",
        "denied",
        "validate:NOT_FOUND",
    )


@pytest.mark.parametrize("tool", CONSOLE_ONLY)
def test_a_console_only_tool_answers_as_an_unknown_tool(served: Served, tool: str) -> None:
    """Even for the platform admin it may run for in the console: not listed, and its call
    is refused and audited exactly as a call of a tool that does not exist."""

    async def call(name: str) -> Any:
        async with Client(build_server(served.services, lambda _ctx: "admin")) as client:
            listed = [t.name for t in (await client.list_tools()).tools]
            return listed, await client.call_tool(name, {"name": "ops"})

    listed, result = anyio.run(call, tool)
    _, unknown = anyio.run(call, "no_such_tool")
    assert tool not in listed
    assert result.is_error
    expected = unknown.structured_content["error"]
    assert result.structured_content["error"] == {
        **expected,
        "message": expected["message"].replace("no_such_tool", tool),
        "details": {"tool": tool},
    }
    with served.services.db.session() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(2))
        assert [(e.tool, e.arguments) for e in events] == [
            ("<unknown>", {"tool": "no_such_tool"}),
            ("<unknown>", {"tool": tool}),
        ]
    # Nothing ran: the principal it named is still active with its key.
    assert served.ok("ops", "list_plans")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("transport", ["stdio", "streamable-http"])
def test_a_wait_reports_progress_while_it_waits(served: Served, transport: str, mode: str) -> None:
    """The run is executed (by this test) only once the first progress report has arrived,
    so that report went out during the wait, and the last one says the run is done."""
    run_id = served.ok("ops", "create_tenant", slug="watched", name="W", plan="free")["workflow"][
        "id"
    ]
    env = {**served.env(), "PAYBILL_EMBEDDED_WORKER": "false"}
    reports: list[tuple[float, float | None, str | None]] = []
    first = anyio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reports.append((progress, total, message))
        first.set()

    async def follow(client: Client) -> dict[str, Any]:
        result: dict[str, Any] = {}

        async def wait() -> None:
            called = await client.call_tool(
                "get_workflow",
                {"workflow_id": run_id, "wait_seconds": 60},
                progress_callback=on_progress,
            )
            assert not called.is_error, called.structured_content
            result.update(called.structured_content)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(wait)
            with anyio.fail_after(30):
                await first.wait()
            assert not result, "the call returned before the run was executed"
            assert await anyio.to_thread.run_sync(served.drain) == 1
        return result

    async def main() -> dict[str, Any]:
        if transport == "stdio":
            params = StdioServerParameters(
                command=PAYBILL, args=["serve", "--principal", "ops"], env=env
            )
            async with Client(params, mode=mode) as client:
                return await follow(client)
        with paybill_http(env, transport) as port:
            http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {served.keys['ops']}"})
            target = streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http)
            async with Client(target, mode=mode) as client:
                return await follow(client)

    run = anyio.run(main)
    assert run["status"] == "succeeded"
    assert reports[0][:2] == (0, 2)
    assert reports[-1][:2] == (2, 2)
    assert all(isinstance(message, str) and message for _, _, message in reports)
