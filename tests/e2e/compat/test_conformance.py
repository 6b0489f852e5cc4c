"""The MCP conformance suite (server scenarios) against `paybill serve --transport
streamable-http`.

0.1.13 is the newest release that runs on Node 20 (0.1.14 and later import ``fs.globSync``,
Node 22). Its runner cannot send headers, so it reaches Paybill through the test's
header-adding proxy; without the proxy every scenario stops at the 401 (checked below).
The README ("Client compatibility") explains each scenario that does not pass.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.auth_proxy import auth_proxy
from tests.support.compat import compat_store, npx, paybill_http

# npx installs into one shared cache: these tests run on one worker, one at a time.
pytestmark = pytest.mark.xdist_group("npx")

CONFORMANCE = "@modelcontextprotocol/conformance@0.1.13"
PASSING = {
    "server-initialize",
    "ping",
    "tools-list",
    "tools-call-simple-text",  # passes on the error text for the suite's missing fixture tool
    "tools-call-error",  # a tool error is an isError result, not a JSON-RPC error
    "server-sse-multiple-streams",
    "resources-list",  # empty: Paybill has no resources
    "prompts-list",  # empty: Paybill has no prompts
    "dns-rebinding-protection",
}
# The suite's fixture tools, resources and prompts (an "everything" server), or MCP features
# Paybill does not offer (logging, completions, subscriptions, sampling, elicitation).
NOT_PASSING = {
    "logging-set-level",
    "completion-complete",
    "tools-call-image",
    "tools-call-audio",
    "tools-call-embedded-resource",
    "tools-call-mixed-content",
    "tools-call-with-logging",
    "tools-call-with-progress",
    "tools-call-sampling",
    "tools-call-elicitation",
    "elicitation-sep1034-defaults",
    "elicitation-sep1330-enums",
    "resources-read-text",
    "resources-read-binary",
    "resources-templates-read",
    "resources-subscribe",
    "resources-unsubscribe",
    "prompts-get-simple",
    "prompts-get-with-args",
    "prompts-get-embedded-resource",
    "prompts-get-with-image",
}
_RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T")


def _conformance(url: str, out: Path, *args: str) -> dict[str, list[dict]]:
    """Run the suite; scenario -> its checks, read from the result files it saves."""
    subprocess.run(
        [npx(), "-y", CONFORMANCE, "server", "--url", url, "-o", str(out), *args],
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    results = {}
    for folder in sorted(out.iterdir()):
        found = _RESULT_DIR.match(folder.name)
        if found:
            results[found["scenario"]] = json.loads((folder / "checks.json").read_text())
    return results


def _passed(checks: list[dict]) -> bool:
    return bool(checks) and all(c["status"] in {"SUCCESS", "INFO"} for c in checks)


def test_conformance_scenarios(tmp_path: Path) -> None:
    env, key = compat_store(tmp_path)
    with paybill_http(env, "streamable-http") as port:
        direct = f"http://127.0.0.1:{port}/mcp"
        refused = _conformance(direct, tmp_path / "direct", "--scenario", "server-initialize")
        with auth_proxy(port, key) as base:
            results = _conformance(f"{base}/mcp", tmp_path / "proxied")

    assert not _passed(refused["server-initialize"])
    assert "UNAUTHENTICATED" in json.dumps(refused["server-initialize"])
    assert set(results) == PASSING | NOT_PASSING, "the suite's scenarios changed: update README"
    failing = {s: results[s] for s in sorted(PASSING) if not _passed(results[s])}
    assert not failing, json.dumps(failing, indent=1)[:4000]
