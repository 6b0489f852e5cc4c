"""`paybill demo`: the scripted agent session (see paybill.server.cli.demo_session)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import click

from paybill.server.cli.demo_session import run_demo


@click.command()
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo store in this new (or empty) folder instead of a temporary one.",
)
def demo(keep: Path | None) -> None:
    """Drive a fresh embedded store through the real MCP client: plans, onboarding, an
    upgrade, a denied call, an approval-gated offboarding, then the verified audit trail."""
    if keep is not None:
        if keep.exists() and any(keep.iterdir()):
            raise click.UsageError(
                f"--keep needs a new or empty folder; {keep} already has files (an earlier "
                "demo's store?). Pass another folder, or delete that one first."
            )
        keep.mkdir(parents=True, exist_ok=True)
        ok = asyncio.run(run_demo(keep, click.echo))
    else:
        with tempfile.TemporaryDirectory(prefix="paybill-demo-") as tmp:
            ok = asyncio.run(run_demo(Path(tmp), click.echo))
    if not ok:
        raise SystemExit(1)
