"""`paybill serve --transport streamable-http --console`: the console at /console beside
the MCP endpoint on one port; each keeps its own authentication."""

from __future__ import annotations

import re
import subprocess

import httpx2
import pytest

from tests.support.console import csrf_of, paybill_console
from tests.support.served import Served
from tests.support.serving import PAYBILL

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def test_the_console_is_mounted_beside_the_mcp_endpoint(served: Served) -> None:
    serve = ("serve", "--transport", "streamable-http", "--console")
    with paybill_console(served.env(), *serve) as base, httpx2.Client(base_url=base) as http:
        assert http.post("/mcp", json={}).status_code == 401  # MCP still wants a bearer key
        assert http.get("/console").headers["location"] == "/console/login"
        page = http.get("/console/login")
        assert page.status_code == 200 and 'action="/console/login"' in page.text
        assert "/console/static/console.css" in page.text
        assert http.get("/console/static/console.css").status_code == 200
        answer = http.post(
            "/console/login",
            data={"api_key": served.keys["boss"], "csrf": csrf_of(page.text)},
            headers={"origin": base},
        )
        assert (answer.status_code, answer.headers["location"]) == (303, "/console/approvals")
        cookie = answer.headers["set-cookie"]
        assert re.search(r"[Pp]ath=/console(;|$)", cookie), cookie
        approvals = http.get("/console/approvals")
        assert approvals.status_code == 200 and "boss" in approvals.text
        assert approvals.headers["content-security-policy"].startswith("default-src 'none'")
        # The console's cookie is no bearer key for the MCP endpoint.
        assert http.post("/mcp", json={}).status_code == 401


def test_console_refuses_stdio(served: Served) -> None:
    done = subprocess.run(
        [PAYBILL, "serve", "--console"], env=served.env(), capture_output=True, text=True
    )
    assert done.returncode != 0 and "--console needs an HTTP transport" in done.stderr
