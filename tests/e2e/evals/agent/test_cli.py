"""`paybill eval agent`: registered in the eval group, real client against the stand-in."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from paybill.evals.agent.standin import StandIn, message, serve, text
from paybill.evals.transcript import load
from paybill.server.cli.main import cli


def test_a_run_that_leaves_the_task_undone_exits_1_with_the_check_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-standin-not-a-real-key")
    transcript = tmp_path / "run.jsonl"
    with serve(StandIn([message(text("Nothing to do."))])) as base_url:
        result = CliRunner().invoke(
            cli,
            [
                "eval",
                "agent",
                "onboard_and_upgrade",
                "--base-url",
                base_url,
                "--transcript",
                str(transcript),
                "--keep",
                str(tmp_path / "store"),
            ],
        )
    assert result.exit_code == 1, result.output
    assert "onboard_and_upgrade: completed after 1 turn(s)" in result.output
    assert "check failed: tenant acme does not exist" in result.output
    assert "sk-ant-" not in result.output
    assert load(transcript).steps == []


def test_the_real_api_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("PAYBILL_EVAL_BASE_URL", raising=False)
    result = CliRunner().invoke(cli, ["eval", "agent", "onboard_and_upgrade"])
    assert result.exit_code != 0
    assert "ANTHROPIC_API_KEY" in result.output


def test_without_the_anthropic_sdk_the_error_names_the_evals_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "paybill.evals.agent.runner", raising=False)
    monkeypatch.setitem(sys.modules, "anthropic", None)  # `import anthropic` fails as if absent
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)  # the SDK is reported first
    result = CliRunner().invoke(cli, ["eval", "agent", "onboard_and_upgrade"])
    assert result.exit_code == 1
    assert "pip install 'paybill[evals]'" in result.output
    assert "Traceback" not in result.output


def test_an_unknown_scenario_names_the_packaged_ones() -> None:
    result = CliRunner().invoke(cli, ["eval", "agent", "nope"])
    assert result.exit_code != 0
    assert "onboard_and_upgrade" in result.output
