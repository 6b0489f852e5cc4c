"""MCP Inspector 0.15.0's CLI over HTTP. It cannot send headers (tests/e2e/test_inspector.py
shows the 401 it gets), so here it reaches the server through the test's header-adding proxy:
what is exercised is the Inspector's HTTP transports against Paybill's, authenticated."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.auth_proxy import auth_proxy
from tests.support.compat import compat_store, npx, paybill_http

# npx installs into one shared cache: these tests run on one worker, one at a time.
pytestmark = pytest.mark.xdist_group("npx")

INSPECTOR = "@modelcontextprotocol/inspector@0.15.0"
# The Inspector's --transport names for Paybill's transports, and their paths.
TRANSPORTS = {"streamable-http": ("http", "/mcp"), "sse": ("sse", "/sse")}


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_inspector_lists_and_calls_over_http(tmp_path: Path, transport: str) -> None:
    env, key = compat_store(tmp_path)
    name, path = TRANSPORTS[transport]
    with paybill_http(env, transport) as port, auth_proxy(port, key) as base:

        def inspector(*args: str) -> dict:
            done = subprocess.run(
                [npx(), "-y", INSPECTOR, "--cli", f"{base}{path}", "--transport", name, *args],
                capture_output=True,
                text=True,
                timeout=300,
                stdin=subprocess.DEVNULL,
            )
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout)

        listed = inspector("--method", "tools/list")
        called = inspector("--method", "tools/call", "--tool-name", "list_plans")
    assert {"list_plans", "create_tenant", "decide_approval"} <= {
        t["name"] for t in listed["tools"]
    }
    assert [p["id"] for p in called["structuredContent"]["plans"]] == ["free", "pro", "enterprise"]
