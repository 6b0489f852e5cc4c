"""`paybill audit verify`: recompute the keyed audit chain and check it against its checkpoint."""

from __future__ import annotations

import click

from paybill.server.cli.context import CliContext
from paybill.server.domain.audit import VerifyReport
from paybill.server.domain.audit_log import AuditLog


@click.group("audit")
def audit_group() -> None:
    """Inspect the append-only audit log."""


def describe(report: VerifyReport) -> str:
    """What was checked: the events by kind, the key, and the checkpoint."""
    kinds = f"{report.keyed} keyed with {report.key_id}"
    if report.unkeyed:
        kinds += f", {report.unkeyed} unkeyed (written before the chain was keyed)"
    if report.unsealed:
        kinds += f"; {report.unsealed} not yet sealed into the chain, each matching its MAC"
    if report.checkpoint == "matched":
        where = f"checkpoint matched ({report.checkpoint_count} events)"
    elif report.checkpoint == "none":
        where = "no checkpoint yet (deleting the newest events would go unnoticed)"
    else:
        where = "checkpoint NOT matched"
    return f"{kinds}; {where}"


@audit_group.command("verify")
@click.pass_obj
def verify(obj: CliContext) -> None:
    """Recompute every event's MAC and check the log reaches its checkpoint; exit 1 naming the
    first broken event (or the missing ones) if any. A passing log gets a new checkpoint."""
    log = AuditLog.open(obj.settings, create=False)
    with obj.current_db().session() as session:
        report = log.verify(session)
    if report.ok:
        click.echo(f"Audit chain intact: {report.checked} events verified ({describe(report)}).")
        return
    where = f"at event {report.first_broken_id}" if report.first_broken_id else "at its end"
    click.echo(
        f"Audit chain BROKEN {where}: {report.reason} "
        f"({report.checked} events before it verified; {describe(report)}).",
        err=True,
    )
    raise SystemExit(1)
