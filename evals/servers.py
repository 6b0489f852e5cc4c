"""Running `paybill serve` for a replay and calling it through the official MCP client.

stdio binds one principal per server, so each principal of a transcript gets its own stdio
server (started on first use, reused for every later step). Streamable HTTP runs one server
per transcript and one client per principal, each sending that principal's API key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from paybill.evals.preload import LAUNCHER

CALL_TIMEOUT_SECONDS = 120.0
START_TIMEOUT_SECONDS = 60.0
SERVE = ["-m", "paybill.server.cli.main", "serve"]


class ServerError(RuntimeError):
    """A server did not start or stopped answering."""


class Launcher:
    """Starts server processes: plainly (``python -m paybill...``) or forked from a
    preloader (see paybill.evals.preload) when ``preload`` is true."""

    def __init__(self, workdir: Path, *, preload: bool = True) -> None:
        self.socket_path = str(workdir / "preload.sock")
        self._preloader: subprocess.Popen[bytes] | None = None
        if preload:
            self._preloader = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "paybill.evals.preload", self.socket_path],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
            self._wait_for_preloader()

    def _wait_for_preloader(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._preloader is not None and self._preloader.poll() is not None:
                raise ServerError("the preloader exited while starting")
            with socket.socket(socket.AF_UNIX) as probe:
                if probe.connect_ex(self.socket_path) == 0:
                    return
            time.sleep(0.05)
        raise ServerError("the preloader did not start in time")

    def stdio(self, principal: str, env: dict[str, str]) -> StdioServerParameters:
        argv = ["serve", "--principal", principal]
        if self._preloader is None:
            return StdioServerParameters(command=sys.executable, args=[*SERVE[:2], *argv], env=env)
        args = ["-I", "-S", "-c", LAUNCHER, self.socket_path, *argv]
        return StdioServerParameters(command=sys.executable, args=args, env=env)

    @contextmanager
    def http(self, env: dict[str, str], log: Path) -> Iterator[str]:
        """A streamable HTTP server on a free local port; yields its /mcp URL."""
        port = _free_port()
        argv = ["serve", "--transport", "streamable-http", "--port", str(port)]
        with open(log, "ab") as err, self._spawn(argv, env, err) as alive:
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while not _listening(port):
                if not alive() or time.monotonic() > deadline:
                    raise ServerError(f"HTTP server did not start; see {log}")
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port}/mcp"

    @contextmanager
    def _spawn(self, argv: list[str], env: dict[str, str], err: Any) -> Iterator[Any]:
        if self._preloader is None:
            proc = subprocess.Popen(  # noqa: S603
                [sys.executable, *SERVE[:2], *argv],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
            try:
                yield lambda: proc.poll() is None
            finally:
                proc.terminate()
                proc.wait(timeout=15)
            return
        with socket.socket(socket.AF_UNIX) as conn, open(os.devnull, "rb+") as null:
            conn.connect(self.socket_path)
            payload = json.dumps({"argv": argv, "env": env}).encode()
            socket.send_fds(conn, [payload], [null.fileno(), null.fileno(), err.fileno()])
            pid = int(_read_line(conn).removeprefix("pid "))
            try:
                yield lambda: _alive(pid)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                conn.settimeout(15)
                try:
                    _read_line(conn)
                except (TimeoutError, OSError):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)

    def close(self) -> None:
        if self._preloader is not None:
            self._preloader.terminate()
            self._preloader.wait(timeout=15)
            self._preloader = None


def _read_line(conn: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(1)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Connections:
    """One MCP client per principal, opened on first use and closed together."""

    def __init__(self, stack: AsyncExitStack, open_client: Any) -> None:
        self._stack, self._open, self._clients = stack, open_client, {}

    async def call(self, principal: str, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        client = self._clients.get(principal)
        if client is None:
            client = await self._stack.enter_async_context(self._open(principal))
            self._clients[principal] = client
        return await asyncio.wait_for(
            client.call_tool(tool, arguments), timeout=CALL_TIMEOUT_SECONDS
        )


@asynccontextmanager
async def connect(
    launcher: Launcher, transport: str, env: dict[str, str], keys: dict[str, str], log: Path
) -> AsyncIterator[Connections]:
    """Clients for ``transport`` ("stdio" or "streamable-http") against a store's env."""
    async with AsyncExitStack() as stack:
        if transport == "stdio":

            def open_stdio(principal: str) -> Client:
                return Client(launcher.stdio(principal, env))

            yield Connections(stack, open_stdio)
            return
        url = stack.enter_context(launcher.http(env, log))

        def open_http(principal: str) -> Client:
            headers = {"Authorization": f"Bearer {keys[principal]}"}
            http = httpx2.AsyncClient(headers=headers, timeout=CALL_TIMEOUT_SECONDS)
            return Client(streamable_http_client(url, http_client=http))

        yield Connections(stack, open_http)
