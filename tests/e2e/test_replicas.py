"""Two `paybill serve` processes on one PostgreSQL store, called in turn by official MCP
clients: the principal's rate limit holds in total, not once per process."""

from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.support.served import Served
from tests.support.serving import paybill_http

RATE = 2  # a call every 30 s: refills are rare while the calls run, and counted below
CALLS = 3 * RATE

pytestmark = pytest.mark.postgres_only


def test_the_principals_rate_holds_across_two_server_processes(served: Served) -> None:
    env = {**served.env(), "PAYBILL_RATE_PER_MINUTE": str(RATE)}
    headers = {"Authorization": f"Bearer {served.keys['ops']}"}

    async def calls(ports: list[int]) -> tuple[list[str], float]:
        async with (
            Client(_target(ports[0], headers)) as first,
            Client(_target(ports[1], headers)) as second,
        ):
            codes = []
            started = time.monotonic()
            for i in range(CALLS):
                result = await (first, second)[i % 2].call_tool("list_plans", {})
                error = result.structured_content.get("error") if result.is_error else None
                codes.append(error["code"] if error else "ok")
            return codes, time.monotonic() - started

    with ExitStack() as servers:
        ports = [servers.enter_context(paybill_http(env, "streamable-http")) for _ in range(2)]
        codes, elapsed = asyncio.run(calls(ports))
    allowed = codes.count("ok")
    assert set(codes) <= {"ok", "QUOTA_EXCEEDED"}, codes
    # The bucket holds RATE calls, plus what refilled while the calls ran; each process
    # keeping its own would have allowed 2 * RATE.
    assert RATE <= allowed <= RATE + int(elapsed * RATE / 60), (codes, elapsed)
    assert codes[:RATE] == ["ok"] * RATE


def _target(port: int, headers: dict[str, str]):
    url = f"http://127.0.0.1:{port}/mcp"
    return streamable_http_client(url, http_client=httpx2.AsyncClient(headers=headers))
