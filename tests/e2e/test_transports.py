"""The official MCP client over stdio, streamable HTTP and SSE against `paybill serve`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2
import jsonschema
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from sqlalchemy import select

from paybill.server.domain.audit_checkpoint import read_checkpoint
from paybill.server.store import AuditEvent
from paybill.tools import all_tools
from tests.support.served import Served
from tests.support.serving import INITIALIZE, http_server

PAYBILL = str(Path(sys.executable).parent / "paybill")
# What MCP clients are offered: console-only tools (ToolSpec.surfaces) are not.
SPECS = {spec.name: spec for spec in all_tools() if "mcp" in spec.surfaces}


def _arguments(served: Served) -> dict[str, dict[str, Any]]:
    """Valid arguments for every tool, against the populated store."""
    run = served.ok("ops", "create_tenant", slug="initech", name="Initech", plan="free")
    served.drain()
    approval = served.error(
        "ops", "offboard_tenant", tenant="globex", confirm_slug="globex", reason="transport"
    )["details"]["approval_id"]
    return {
        "list_plans": {},
        "create_tenant": {"slug": "hooli", "name": "Hooli", "plan": "free"},
        "get_tenant": {"tenant": "acme"},
        "list_tenants": {"limit": 2},
        "change_plan": {"tenant": "acme", "plan": "pro", "dry_run": True},
        "suspend_tenant": {"tenant": "initech", "reason": "transport test"},
        "resume_tenant": {"tenant": "initech", "reason": "transport test"},
        "offboard_tenant": {"tenant": "acme", "confirm_slug": "acme", "reason": "transport"},
        "get_workflow": {"workflow_id": run["workflow"]["id"]},
        "list_approvals": {},
        "get_approval": {"approval_id": approval},
        "decide_approval": {
            "approval_id": approval,
            "decision": "approve",
            "reason": "looks right",
            "dry_run": True,
        },
        "get_audit_log": {"limit": 5},
        "describe_schema": {"tenant": "acme"},
        "query_table": {"tenant": "acme", "table": "customers"},
        "run_sql": {"tenant": "acme", "sql": "SELECT name FROM customers"},
        "insert_rows": {"tenant": "acme", "table": "customers", "rows": [{"name": "Ada"}]},
        "update_rows": {
            "tenant": "acme",
            "table": "customers",
            "values": {"country": "DE"},
            "filters": [{"column": "name", "op": "eq", "value": "Ada"}],
        },
        "delete_rows": {
            "tenant": "acme",
            "table": "customers",
            "filters": [{"column": "name", "op": "eq", "value": "nobody"}],
        },
        "get_usage": {"tenant": "acme"},
        "set_billing_state": {"tenant": "acme", "status": "active", "event_id": "evt_t"},
        "retry_workflow": {"workflow_id": run["workflow"]["id"], "dry_run": True},
        "break_workflow_lock": {"workflow_id": run["workflow"]["id"], "reason": "transport"},
    }


# Valid calls that are refused by design against this store.
EXPECTED_ERRORS = {
    "offboard_tenant": "APPROVAL_REQUIRED",
    "retry_workflow": "INVALID_INPUT",  # the run succeeded
    "break_workflow_lock": "INVALID_INPUT",  # a finished run holds no lock
}


async def _exercise(client: Client, arguments: dict[str, dict[str, Any]]) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == set(SPECS)
    for name, tool in tools.items():
        spec = SPECS[name]
        assert tool.input_schema["additionalProperties"] is False
        assert tool.output_schema == spec.output_model.model_json_schema()
        assert tool.annotations.read_only_hint is spec.read_only
        assert tool.annotations.destructive_hint is spec.destructive
    for name in tools:
        result = await client.call_tool(name, arguments[name])
        if name in EXPECTED_ERRORS:
            assert result.is_error
            assert result.structured_content["error"]["code"] == EXPECTED_ERRORS[name]
            continue
        assert not result.is_error, (name, result.structured_content)
        jsonschema.validate(result.structured_content, tools[name].output_schema)
    bad = await client.call_tool("get_tenant", {"tenant": 7})
    assert bad.is_error and bad.structured_content["error"]["code"] == "INVALID_INPUT"


def test_stdio(served: Served) -> None:
    params = StdioServerParameters(
        command=PAYBILL, args=["serve", "--principal", "admin"], env=served.env()
    )
    arguments = _arguments(served)

    async def main() -> None:
        async with Client(params) as client:
            await _exercise(client, arguments)

    asyncio.run(main())
    # The server checkpointed the audit log's tip when its client closed stdin.
    audit_log = served.services.audit
    checkpoint = read_checkpoint(audit_log.checkpoint_path, audit_log.key)
    assert checkpoint is not None and checkpoint.last_id == _events_since(served, 0)[-1].id


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_http_transports(served: Served, transport: str) -> None:
    arguments = _arguments(served)
    headers = {"Authorization": f"Bearer {served.keys['admin']}"}
    with http_server(served, transport) as base:

        async def main() -> None:
            if transport == "sse":
                target = sse_client(f"{base}/sse", headers=headers)
            else:
                target = streamable_http_client(
                    f"{base}/mcp", http_client=httpx2.AsyncClient(headers=headers)
                )
            async with Client(target) as client:
                await _exercise(client, arguments)

        asyncio.run(main())


JSON_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def test_http_requires_a_valid_key_and_a_local_origin(served: Served) -> None:
    with http_server(served, "streamable-http") as base:
        url = f"{base}/mcp"
        good = {"Authorization": f"Bearer {served.keys['ops']}"}
        cases = [
            ({}, 401),
            ({"Authorization": "Bearer pb_AAAAAAAAAAAA_" + "A" * 43}, 401),
            ({"Authorization": served.keys["ops"]}, 401),
            ({**good, "Origin": "http://evil.example"}, 403),
            ({**good, "Host": "evil.example"}, 421),
            (good, 200),
        ]
        for extra, status in cases:
            response = httpx2.post(url, json=INITIALIZE, headers={**JSON_HEADERS, **extra})
            assert response.status_code == status, (extra, response.text)
        unauthorised = httpx2.post(url, json=INITIALIZE, headers=JSON_HEADERS)
        assert unauthorised.json()["error"]["code"] == "UNAUTHENTICATED"
        assert "Bearer" in unauthorised.headers["www-authenticate"]


def test_a_key_disabled_or_rotated_by_another_process_is_refused_at_once(served: Served) -> None:
    """A key's last use is written at most once a minute, but the key and its principal are
    read on every request: a change made by the CLI holds from the very next one."""
    with http_server(served, "streamable-http") as base:
        url = f"{base}/mcp"

        def status(principal: str) -> int:
            headers = {**JSON_HEADERS, "Authorization": f"Bearer {served.keys[principal]}"}
            return httpx2.post(url, json=INITIALIZE, headers=headers).status_code

        assert (status("acme-bot"), status("ops")) == (200, 200)
        for command in (["disable", "acme-bot"], ["rotate-key", "ops"]):
            done = subprocess.run(
                [PAYBILL, "principal", *command], env=served.env(), capture_output=True, check=False
            )
            assert done.returncode == 0, done.stderr
        assert (status("acme-bot"), status("ops")) == (401, 401)
        assert status("admin") == 200


def _events_since(served: Served, after: int) -> list[AuditEvent]:
    with served.services.db.session() as session:
        query = select(AuditEvent).where(AuditEvent.id > after).order_by(AuditEvent.id)
        return list(session.scalars(query))


def test_refused_authentication_and_unknown_tools_are_audited(served: Served) -> None:
    """Every 401 is on record (up to the per-client budget of 10 a minute), with a digest of
    the key, never the key; an unknown tool is the typed NOT_FOUND, audited; at shutdown the
    checkpoint records the tip."""
    tip = _events_since(served, 0)[-1].id
    wrong_key = "pb_AAAAAAAAAAAA_" + "Z" * 43
    headers = {"Authorization": f"Bearer {served.keys['ops']}"}
    with http_server(served, "streamable-http") as base:
        url = f"{base}/mcp"
        for i in range(12):
            key = {"Authorization": f"Bearer {wrong_key}"} if i % 2 else {}
            refused = httpx2.post(url, json=INITIALIZE, headers={**JSON_HEADERS, **key})
            assert refused.status_code == 401

        async def main() -> Any:
            client_ = httpx2.AsyncClient(headers=headers)
            async with Client(streamable_http_client(url, http_client=client_)) as client:
                return await client.call_tool("drop_everything", {"x": 1})

        unknown = asyncio.run(main())
    events = _events_since(served, tip)
    refusals = [e for e in events if e.tool == "<http>"]
    assert len(refusals) == 10
    assert {(e.principal, e.decision.value, e.rule, e.error_code) for e in refusals} == {
        ("<anonymous>", "denied", "http:UNAUTHENTICATED", "UNAUTHENTICATED")
    }
    assert {e.arguments["client"] for e in refusals} == {"127.0.0.1"}
    assert [e.arguments["key_sha256"] is None for e in refusals[:2]] == [True, False]
    assert wrong_key[3:15] not in json.dumps([e.arguments for e in events])
    assert unknown.is_error
    assert unknown.structured_content["error"]["code"] == "NOT_FOUND"
    (called,) = [e for e in events if e.tool == "<unknown>"]
    assert (called.principal, called.rule, called.arguments) == (
        "ops",
        "validate:NOT_FOUND",
        {"tool": "drop_everything"},
    )
    with served.services.db.session() as session:
        report = served.services.audit.verify(session)
    assert report.ok and report.checkpoint == "matched"
    assert report.checkpoint_count == report.checked  # written at shutdown


def test_a_session_stays_bound_to_its_principal(served: Served) -> None:
    with http_server(served, "streamable-http") as base:
        url = f"{base}/mcp"
        opened = httpx2.post(
            url,
            json=INITIALIZE,
            headers={**JSON_HEADERS, "Authorization": f"Bearer {served.keys['acme-bot']}"},
        )
        session = opened.headers["mcp-session-id"]
        hijack = httpx2.post(
            url,
            json={"jsonrpc": "2.0", "id": 2, "method": "ping"},
            headers={
                **JSON_HEADERS,
                "Authorization": f"Bearer {served.keys['admin']}",
                "mcp-session-id": session,
                "mcp-protocol-version": "2025-11-25",
            },
        )
        assert hijack.status_code == 404


def test_stdio_refuses_an_unknown_principal(served: Served) -> None:
    result = subprocess.run(
        [PAYBILL, "serve", "--principal", "mallory"],
        env=served.env(),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1
    assert "mallory" in result.stderr and "Traceback" not in result.stderr
