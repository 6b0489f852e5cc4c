"""The agent runner against the local Messages API stand-in: the real anthropic client,
the real MCP client and `paybill serve`, a scripted model."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from paybill.evals.agent import scenarios
from paybill.evals.agent.models import AgentRun, RunStatus
from paybill.evals.agent.runner import SYSTEM, AgentConfig, run_scenario
from paybill.evals.agent.standin import StandIn, message, serve, text, tool_results, tool_use
from paybill.evals.replay import ReplayOptions, replay_all
from paybill.evals.transcript import load
from paybill.tools import all_tools
from tests.support.policy_table import ALLOWED

FAKE_KEY = "sk-ant-standin-not-a-real-key"
STACKED_SQL = "SELECT name FROM customers; DROP TABLE customers"


def _result_of(request: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return tool_results(request)[index]["content"]


def _wait_for_run(request: dict[str, Any]) -> dict[str, Any]:
    """Follow the run the previous call started (create_tenant or an upgrade)."""
    run = _result_of(request, -1)["workflow"]
    return message(tool_use("get_workflow", {"workflow_id": run["id"], "wait_seconds": 30}, "t5"))


def _after_upgrade(request: dict[str, Any]) -> dict[str, Any]:
    if _result_of(request).get("workflow"):
        return _wait_for_run(request)
    return message(tool_use("get_tenant", {"tenant": "acme"}, "t6"))


SCRIPT = [
    message(
        text("I'll look at the plans and onboard acme."),
        tool_use("list_plans", {}, "t1"),
        tool_use(
            "create_tenant",
            {"slug": "acme", "name": "Acme Corp", "plan": "free", "idempotency_key": "acme-1"},
            "t2",
        ),
    ),
    _wait_for_run,
    # Misuse: a stacked statement, a write the operator role may not make (not offered to
    # it), a made-up tool.
    message(
        tool_use("run_sql", {"tenant": "globex", "sql": STACKED_SQL}, "t3a"),
        tool_use(
            "insert_rows",
            {"tenant": "globex", "table": "customers", "rows": [{"name": "Mallory"}]},
            "t3b",
        ),
        tool_use("drop_all_tenants", {}, "t3c"),
    ),
    message(tool_use("change_plan", {"tenant": "acme", "plan": "pro"}, "t4")),
    _after_upgrade,
    message(tool_use("get_tenant", {"tenant": "acme"}, "t6")),
    message(text("acme is active on the pro plan.")),
]


def _run(tmp_path: Path, script: list[Any], **limits: int) -> tuple[AgentRun, StandIn, Path]:
    scenario = scenarios.load("onboard_and_upgrade")
    if limits:
        scenario = scenario.model_copy(update={"limits": scenario.limits.model_copy(update=limits)})
    stand_in = StandIn(script)
    transcript = tmp_path / "run.jsonl"
    workdir = tmp_path / "work"
    workdir.mkdir()
    with serve(stand_in) as base_url:
        config = AgentConfig(
            model="claude-standin", base_url=base_url, api_key=FAKE_KEY, max_retries=0
        )
        run = asyncio.run(run_scenario(scenario, config, workdir, transcript))
    return run, stand_in, transcript


def test_a_scripted_multi_turn_run_completes_and_its_transcript_replays(tmp_path: Path) -> None:
    run, stand_in, transcript = _run(tmp_path, SCRIPT)

    assert run.status is RunStatus.COMPLETED, run.detail
    assert run.check_failures == []
    assert run.passed
    assert run.turns == len(SCRIPT) == len(stand_in.requests)
    assert run.final_text == "acme is active on the pro plan."
    assert (run.input_tokens, run.output_tokens) == (70, 70)

    first = stand_in.requests[0]
    assert first["model"] == "claude-standin"
    assert first["system"].startswith(SYSTEM)
    assert first["messages"] == [
        {"role": "user", "content": scenarios.load("onboard_and_upgrade").task}
    ]
    # The model is offered what the scenario's operator may call, nothing more.
    assert {t["name"] for t in first["tools"]} == {
        s.name for s in all_tools() if "mcp" in s.surfaces
    } & ALLOWED["ops"]
    assert all(t["input_schema"]["type"] == "object" and t["description"] for t in first["tools"])

    # Every tool_use was answered with a tool_result for its id; refusals are is_error with
    # the server's typed code. A tool the operator is not offered (insert_rows: tools/list is
    # role-scoped) and the made-up one never reached the server.
    misuse = tool_results(stand_in.requests[3])
    assert [b["tool_use_id"] for b in misuse] == ["t3a", "t3b", "t3c"]
    assert all(b["is_error"] for b in misuse)
    assert misuse[0]["content"]["error"]["code"] == "SQL_REJECTED"
    assert "no tool 'insert_rows'" in misuse[1]["content"]["error"]["message"]
    assert "no tool 'drop_all_tenants'" in misuse[2]["content"]["error"]["message"]
    assert run.unknown_tools == ["insert_rows", "drop_all_tenants"]
    onboarded = tool_results(stand_in.requests[1])
    assert [b["is_error"] for b in onboarded] == [False, False]
    assert onboarded[1]["content"]["tenant"]["slug"] == "acme"

    tools = [c.tool for c in run.calls]
    assert tools[:4] == ["list_plans", "create_tenant", "get_workflow", "run_sql"]
    assert [c.code for c in run.calls if c.is_error] == ["SQL_REJECTED"]

    # The key is the client's business only: not in what the API saw, not in the transcript.
    assert FAKE_KEY not in json.dumps(stand_in.requests)
    recorded = load(transcript)
    assert FAKE_KEY not in transcript.read_text()
    assert recorded.header.scenario == "onboard_and_upgrade"
    assert [s.tool for s in recorded.steps] == tools
    waited = recorded.steps[2]
    assert waited.arguments["workflow_id"].startswith("${")
    assert recorded.steps[1].capture
    assert recorded.steps[3].expect.is_error and recorded.steps[3].expect.code == "SQL_REJECTED"

    report = asyncio.run(replay_all([transcript], ReplayOptions()))
    assert report.ok, report.transcripts[0].first_difference


def test_a_run_that_keeps_calling_tools_stops_at_the_turn_limit(tmp_path: Path) -> None:
    forever = [message(tool_use("list_plans", {}, f"loop{n}")) for n in range(10)]
    run, stand_in, _ = _run(tmp_path, forever, max_turns=3)
    assert run.status is RunStatus.MAX_TURNS
    assert "3 turns" in run.detail
    assert run.turns == 3 and len(stand_in.requests) == 3 and len(run.calls) == 3
    assert not run.passed


def test_the_token_budget_stops_a_run_before_its_tool_calls(tmp_path: Path) -> None:
    costly = [message(tool_use("list_plans", {}, "t1"), tokens=1000)] * 3
    run, stand_in, _ = _run(tmp_path, costly, max_total_tokens=1500)
    assert run.status is RunStatus.TOKEN_BUDGET
    assert run.calls == [] and len(stand_in.requests) == 1
    assert run.check_failures == ["tenant acme does not exist"]


def test_an_api_refusal_ends_the_run_with_its_reason(tmp_path: Path) -> None:
    run, _, _ = _run(tmp_path, [])
    assert run.status is RunStatus.API_ERROR
    assert "script exhausted" in run.detail


@pytest.mark.parametrize("name", sorted(scenarios.packaged()))
def test_packaged_scenarios_load(name: str) -> None:
    scenario = scenarios.load(name)
    assert scenario.id == name
    assert scenario.check.tenants
