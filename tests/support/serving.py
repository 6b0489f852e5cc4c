"""`paybill serve` over HTTP on a free port, for the tests that talk to a real server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.served import Served

PAYBILL = str(Path(sys.executable).parent / "paybill")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def paybill_http(env: dict[str, str], transport: str) -> Iterator[int]:
    """`paybill serve --transport TRANSPORT` on a free port; yields the port once it listens."""
    port = free_port()
    proc = subprocess.Popen(
        [PAYBILL, "serve", "--transport", transport, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None:
                pytest.fail(f"server exited: {proc.stderr.read().decode()}")
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def http_server(served: Served, transport: str) -> Iterator[str]:
    """The base URL of `paybill serve` over HTTP on ``served``'s store."""
    with paybill_http(served.env(), transport) as port:
        yield f"http://127.0.0.1:{port}"


# A raw MCP initialize request, for tests of what the HTTP layer answers before any session.
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "paybill-tests", "version": "1"},
    },
}
