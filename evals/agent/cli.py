"""`paybill eval agent SCENARIO`: a live agent run, its store check and its transcript."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import click

from paybill.evals.agent.scenarios import ScenarioError, load


@click.command("agent")
@click.argument("scenario")
@click.option("--model", help="Model id (default: the runner's DEFAULT_MODEL).")
@click.option("--max-turns", type=click.IntRange(1, 100), help="Override the scenario's limit.")
@click.option("--max-tokens", type=click.IntRange(1), help="Token budget for the whole run.")
@click.option(
    "--base-url",
    envvar="PAYBILL_EVAL_BASE_URL",
    help="Messages API base URL (a stand-in); default: the real API.",
)
@click.option(
    "--transcript",
    "transcript_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the replayable transcript (default: <scenario>.agent.jsonl).",
)
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the run's store in this directory instead of a temporary one.",
)
def agent_command(
    scenario: str,
    model: str | None,
    max_turns: int | None,
    max_tokens: int | None,
    base_url: str | None,
    transcript_path: Path | None,
    keep: Path | None,
) -> None:
    """Let Claude carry out SCENARIO (a packaged scenario id or a YAML file) with Paybill's
    tools on a fresh store; exit 1 unless it finished and the store check passed.

    Needs ANTHROPIC_API_KEY for the real API. The transcript it writes replays with
    `paybill eval replay`.
    """
    try:
        chosen = load(scenario)
    except ScenarioError as exc:
        raise click.ClickException(str(exc)) from None
    # Imported here: only this command needs the anthropic SDK (the `evals` extra); checked
    # before the API key, which is no use without it.
    try:
        from paybill.evals.agent.runner import DEFAULT_MODEL, AgentConfig, run_scenario
    except ModuleNotFoundError as exc:
        if exc.name != "anthropic":
            raise
        raise click.ClickException(
            "the agent runner needs the anthropic SDK: pip install 'paybill[evals]'"
        ) from None
    if base_url is None and not os.environ.get("ANTHROPIC_API_KEY"):
        raise click.ClickException("set ANTHROPIC_API_KEY (or --base-url for a stand-in)")
    limits = chosen.limits.model_copy(
        update={
            k: v
            for k, v in {"max_turns": max_turns, "max_total_tokens": max_tokens}.items()
            if v is not None
        }
    )
    chosen = chosen.model_copy(update={"limits": limits})

    config = AgentConfig(model=model or DEFAULT_MODEL, base_url=base_url)
    target = transcript_path or Path(f"{chosen.id}.agent.jsonl")
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        run = asyncio.run(run_scenario(chosen, config, keep, target, click.echo))
    else:
        with tempfile.TemporaryDirectory(prefix="paybill-agent-") as tmp:
            run = asyncio.run(run_scenario(chosen, config, Path(tmp), target, click.echo))
    click.echo(
        f"\n{run.scenario}: {run.status.value} after {run.turns} turn(s), "
        f"{run.input_tokens} input + {run.output_tokens} output tokens, "
        f"{len(run.calls)} tool call(s) ({sum(c.is_error for c in run.calls)} refused)."
    )
    if run.detail:
        click.echo(f"  stopped: {run.detail}")
    for failure in run.check_failures:
        click.echo(f"  check failed: {failure}")
    click.echo(f"Transcript written to {target} (replay: paybill eval replay {target}).")
    if not run.passed:
        raise SystemExit(1)
