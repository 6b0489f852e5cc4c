"""tools/list shows each principal the tools it may call; hidden tools still answer through
the pipeline (refused, audited); read-only mode serves only tools that change nothing."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client
from sqlalchemy import select

from paybill.server.app import build_server
from paybill.server.store import AuditEvent
from paybill.tools import all_tools
from tests.support import REPO
from tests.support.policy_table import ALLOWED
from tests.support.served import Served

MCP_TOOLS = {spec.name for spec in all_tools() if "mcp" in spec.surfaces}
READ_ONLY = {spec.name for spec in all_tools() if "mcp" in spec.surfaces and spec.read_only}


@pytest.fixture
def served(shared_served: Served) -> Served:
    return shared_served


def _listed(served: Served, principal: str, read_only: bool = False) -> set[str]:
    server = build_server(served.services, lambda _ctx: principal, read_only=read_only)

    async def main() -> set[str]:
        async with Client(server) as client:
            return {tool.name for tool in (await client.list_tools()).tools}

    return anyio.run(main)


@pytest.mark.parametrize("principal", sorted(ALLOWED))
def test_each_principal_sees_exactly_what_it_may_call(served: Served, principal: str) -> None:
    # ALLOWED is the hand-written policy table every call is checked against.
    assert _listed(served, principal) == ALLOWED[principal] & MCP_TOOLS


def test_unknown_principals_see_no_tools(served: Served) -> None:
    assert _listed(served, "nobody") == set()


def _call(served: Served, principal: str, tool: str, arguments: dict[str, Any], **kw: Any) -> Any:
    server = build_server(served.services, lambda _ctx: principal, **kw)

    async def main() -> Any:
        async with Client(server) as client:
            return await client.call_tool(tool, arguments)

    return anyio.run(main)


def test_a_hidden_tool_is_still_refused_by_the_pipeline_and_audited(served: Served) -> None:
    assert "suspend_tenant" not in _listed(served, "acme-bot")
    result = _call(served, "acme-bot", "suspend_tenant", {"tenant": "acme", "reason": "try"})
    assert result.is_error and result.structured_content["error"]["code"] == "DENIED"
    with served.services.db.session() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.tool == "suspend_tenant")).one()
    assert (event.principal, event.decision) == ("acme-bot", "denied")


def test_read_only_mode_serves_only_reads(served: Served) -> None:
    assert _listed(served, "admin", read_only=True) == READ_ONLY
    refused = _call(
        served,
        "admin",
        "create_tenant",
        {"slug": "sneaky", "name": "S", "plan": "free"},
        read_only=True,
    )
    assert refused.is_error and refused.structured_content["error"]["code"] == "NOT_FOUND"
    assert not _call(served, "admin", "get_tenant", {"tenant": "acme"}, read_only=True).is_error


def test_the_readme_says_how_many_a_tenant_agent_sees() -> None:
    seen, total = len(ALLOWED["acme-bot"] & MCP_TOOLS), len(MCP_TOOLS)
    assert f"sees {seen} tools of {total}" in (REPO / "README.md").read_text()
