"""A PostgreSQL store that cannot be reached (a restart) gets typed answers, never a bare 500:
HTTP authentication answers 503 with ``Retry-After``; calls (stdio, or HTTP past
authentication) answer INTERNAL with ``reason: unavailable`` and a retry hint."""

from __future__ import annotations

import asyncio

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from sqlalchemy.engine import make_url

from tests.support.faults import unreachable
from tests.support.served import Served
from tests.support.serving import PAYBILL, http_server

pg = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def _database(served: Served) -> str:
    name = make_url(served.services.settings.database_url).database
    assert name
    return name


@pg
def test_http_answers_503_while_the_store_is_unreachable(served: Served, postgres) -> None:
    headers = {"Authorization": f"Bearer {served.keys['ops']}", "Accept": "application/json"}
    with http_server(served, "streamable-http") as base:
        with unreachable(postgres.admin, _database(served)):
            response = httpx2.post(f"{base}/mcp", headers=headers, json={}, timeout=30)
        assert response.status_code == 503
        assert int(response.headers["retry-after"]) > 0
        error = response.json()["error"]
        assert error["code"] == "INTERNAL"
        assert error["details"]["reason"] == "unavailable"
        assert "Retry in" in error["message"]
        # Reachable again: the next request is authenticated (a wrong key is a 401 again).
        wrong = httpx2.post(f"{base}/mcp", headers={"Authorization": "Bearer pb_x"}, json={})
        assert wrong.status_code == 401


@pg
def test_a_call_answers_typed_while_the_store_is_unreachable(served: Served, postgres) -> None:
    with unreachable(postgres.admin, _database(served)):
        outcome = served.call("ops", "list_tenants")
    assert outcome.is_error
    error = outcome.payload["error"]
    assert error["code"] == "INTERNAL"
    assert error["details"] == {"reason": "unavailable", "retry_after_seconds": 5}
    assert not served.call("ops", "list_tenants").is_error


@pg
def test_stdio_answers_typed_while_the_store_is_unreachable(served: Served, postgres) -> None:
    params = StdioServerParameters(
        command=PAYBILL, args=["serve", "--principal", "ops"], env=served.env()
    )

    async def main() -> None:
        async with Client(params) as client:
            assert not (await client.call_tool("list_tenants", {})).is_error
            with unreachable(postgres.admin, _database(served)):
                down = await client.call_tool("list_tenants", {})
            assert down.is_error
            error = down.structured_content["error"]
            assert (error["code"], error["details"]["reason"]) == ("INTERNAL", "unavailable")
            assert not (await client.call_tool("list_tenants", {})).is_error

    asyncio.run(main())
