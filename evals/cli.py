"""`paybill eval ...`: replay recorded transcripts against fresh stores (evals/README.md)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import click

from paybill.evals.agent.cli import agent_command
from paybill.evals.replay import TRANSPORTS, ReplayOptions, replay_all
from paybill.evals.report import table
from paybill.evals.transcript import TranscriptError


def _expand(paths: tuple[Path, ...]) -> list[Path]:
    """Files as given; directories become their *.jsonl files, sorted."""
    found: list[Path] = []
    for path in paths:
        found += sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    return found


@click.group("eval")
def eval_group() -> None:
    """Evaluate Paybill with recorded agent sessions (transcripts)."""


@eval_group.command("replay")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--transport", type=click.Choice(TRANSPORTS), default="stdio", show_default=True)
@click.option(
    "--database-url",
    "pg_admin_url",
    help="PostgreSQL admin URL for transcripts with backend postgresql: a throw-away "
    "database is created (and dropped) under it per transcript.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("eval-report.json"),
    show_default=True,
    help="Where to write the JSON report.",
)
@click.option(
    "--jobs",
    default=2,
    show_default=True,
    type=click.IntRange(1, 16),
    help="Transcripts replayed at once, each with its own store and servers.",
)
@click.option(
    "--no-preload",
    is_flag=True,
    help="Start every server as a plain `paybill serve` process (slower; see evals/README.md, "
    "'How servers start').",
)
def replay(
    paths: tuple[Path, ...],
    transport: str,
    pg_admin_url: str | None,
    report_path: Path,
    jobs: int,
    no_preload: bool,
) -> None:
    """Replay transcripts (files or directories of *.jsonl) through the MCP client; exit 1
    if any step differs from its expectation."""
    files = _expand(paths)
    if not files:
        raise click.UsageError("no transcripts found")
    options = ReplayOptions(
        transport=transport, pg_admin_url=pg_admin_url, preload=not no_preload, jobs=jobs
    )
    started = time.monotonic()
    try:
        report = asyncio.run(replay_all(files, options))
    except TranscriptError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(table(report))
    written = {
        **report.model_dump(mode="json"),
        "duration_seconds": round(time.monotonic() - started, 1),
    }
    report_path.write_text(json.dumps(written, indent=2) + "\n")
    click.echo(f"Report written to {report_path}.")
    if not report.ok:
        raise SystemExit(1)


eval_group.add_command(agent_command)
