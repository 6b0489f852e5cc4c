"""`paybill audit verify`: recompute the audit hash chain."""

from __future__ import annotations

import click

from paybill.server.cli.context import CliContext
from paybill.server.domain import audit as audit_log


@click.group("audit")
def audit_group() -> None:
    """Inspect the append-only audit log."""


@audit_group.command("verify")
@click.pass_obj
def verify(obj: CliContext) -> None:
    """Recompute every event's hash; exit 1 and name the first broken event if any."""
    with obj.current_db().session() as session:
        report = audit_log.verify(session)
    if report.ok:
        click.echo(f"Audit chain intact: {report.checked} events verified.")
        return
    click.echo(
        f"Audit chain BROKEN at event {report.first_broken_id}: {report.reason} "
        f"({report.checked} events before it verified).",
        err=True,
    )
    raise SystemExit(1)
