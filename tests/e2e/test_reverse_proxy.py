"""`paybill serve` behind a real nginx running the README's `location` block: the official
MCP client connects through the proxy by the public URL, and the Host check still refuses
names that are not the server's."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.support.readme import blocks
from tests.support.served import Served
from tests.support.serving import free_port, paybill_http

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """Hosts, origins, forwarded addresses and probes are the HTTP layer's, the same on
    either store: one backend keeps these server starts cheap."""
    return str(request.param)


def _readme_location(upstream: int) -> str:
    """The README's nginx `location` block, pointed at the test's server."""
    config = next(b.body for b in blocks() if b.lang == "nginx")
    found = re.search(r"^    location / \{\n.*?^    \}\n", config, re.DOTALL | re.MULTILINE)
    assert found, "the README's nginx example lost its location block"
    return found[0].replace("http://127.0.0.1:8000", f"http://127.0.0.1:{upstream}")


@contextmanager
def _nginx(tmp_path: Path, listen: int, upstream: int) -> Iterator[None]:
    if not Path(NGINX).exists():
        pytest.fail("nginx is missing: apt-get install -y nginx (scripts/test.sh installs it)")
    temp = tmp_path / "nginx"
    temp.mkdir()
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = temp / "nginx.conf"
    conf.write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {temp}/nginx.pid;\n"
        f"error_log {temp}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n"
        f"  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
        f"  server {{\n    listen 127.0.0.1:{listen};\n{_readme_location(upstream)}  }}\n}}\n"
    )
    proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(temp)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", listen)) == 0:
                    break
            if proc.poll() is not None:
                pytest.fail(f"nginx exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_an_mcp_client_works_through_nginx(served: Served, tmp_path: Path) -> None:
    listen = free_port()
    public = f"http://127.0.0.1:{listen}"
    env = {
        **served.env(),
        "PAYBILL_PUBLIC_URL": public,
        "PAYBILL_FORWARDED_ALLOW_IPS": json.dumps(["127.0.0.1"]),
    }
    headers = {"Authorization": f"Bearer {served.keys['ops']}"}
    with paybill_http(env, "streamable-http") as upstream, _nginx(tmp_path, listen, upstream):

        async def main() -> dict:
            target = streamable_http_client(
                f"{public}/mcp", http_client=httpx2.AsyncClient(headers=headers)
            )
            async with Client(target) as client:
                listed = await client.list_tools()
                assert "get_tenant" in {tool.name for tool in listed.tools}
                result = await client.call_tool("get_tenant", {"tenant": "acme"})
                assert not result.is_error and result.structured_content is not None
                return result.structured_content

        assert asyncio.run(main())["slug"] == "acme"
        with httpx2.Client(base_url=public, timeout=30) as proxy:
            assert proxy.get("/readyz").json()["status"] == "ready"
            misdirected = proxy.post("/mcp", json={}, headers={**headers, "Host": "evil.example"})
            assert misdirected.status_code == 421
