"""Calls per second of 8 concurrent streamable-HTTP sessions, one server process each."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

SESSIONS = 8


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def http_process(command: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``command`` (an HTTP server on ``port``) until the block ends; yields its /mcp URL."""
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)  # noqa: S603
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server {command[0]} did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def echo_http(port: int) -> list[str]:
    return [sys.executable, str(Path(__file__).with_name("echo_server.py")), "--port", str(port)]


@asynccontextmanager
async def sessions(url: str, key: str | None, count: int = SESSIONS) -> AsyncIterator[list[Client]]:
    """``count`` initialised client sessions on one server."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(count):
            http = await stack.enter_async_context(httpx2.AsyncClient(headers=headers))
            target = streamable_http_client(url, http_client=http)
            clients.append(await stack.enter_async_context(Client(target)))
        yield clients


async def burst(clients: list[Client], tool: str, arguments: dict[str, Any], calls: int) -> float:
    """Every session makes ``calls`` calls back to back, all sessions at once: calls/s."""
    failures: list[Any] = []

    async def run(client: Client) -> None:
        for _ in range(calls):
            result = await client.call_tool(tool, arguments)
            if result.is_error:
                failures.append(result.structured_content)

    start = time.perf_counter()
    async with anyio.create_task_group() as group:
        for client in clients:
            group.start_soon(run, client)
    elapsed = time.perf_counter() - start
    if failures:
        raise SystemExit(f"{tool} failed over HTTP: {failures[0]}")
    return len(clients) * calls / elapsed
