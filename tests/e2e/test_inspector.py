"""The MCP Inspector CLI (a real third-party client, Node) against `paybill serve`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.served import Served
from tests.support.serving import http_server

# npx installs into one shared cache: these tests run on one worker, one at a time.
pytestmark = pytest.mark.xdist_group("npx")

PAYBILL = str(Path(sys.executable).parent / "paybill")
INSPECTOR = "@modelcontextprotocol/inspector@0.15.0"


def _inspector(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    npx = shutil.which("npx")
    if npx is None:
        pytest.fail("npx (Node.js) is required for the client-compatibility tests")
    return subprocess.run(
        [npx, "-y", INSPECTOR, "--cli", *args],
        env=served.env(),
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_inspector_lists_and_calls_over_stdio(served: Served) -> None:
    server = [PAYBILL, "serve", "--principal", "ops"]
    listed = _inspector(served, *server, "--method", "tools/list")
    assert listed.returncode == 0, listed.stderr
    names = {tool["name"] for tool in json.loads(listed.stdout)["tools"]}
    assert {"list_plans", "create_tenant", "get_tenant"} <= names
    assert "decide_approval" not in names  # an operator may not decide: not shown to it
    called = _inspector(served, *server, "--method", "tools/call", "--tool-name", "list_plans")
    assert called.returncode == 0, called.stderr
    result = json.loads(called.stdout)
    assert [p["id"] for p in result["structuredContent"]["plans"]] == ["free", "pro", "enterprise"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_inspector_over_http_is_refused_without_a_key(served: Served) -> None:
    # Inspector 0.15.0's CLI cannot send headers, so over HTTP it can only show the refusal.
    with http_server(served, "streamable-http") as base:
        refused = _inspector(served, f"{base}/mcp", "--method", "tools/list")
    assert refused.returncode != 0
    assert "UNAUTHENTICATED" in refused.stdout + refused.stderr
