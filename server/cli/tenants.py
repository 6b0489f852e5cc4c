"""`paybill tenants migrate`: apply tenant-schema migrations across the fleet."""

from __future__ import annotations

import click

from paybill.server.cli.context import CliContext
from paybill.server.executors.dataplane.credentials import TenantCredentials
from paybill.server.executors.dataplane.engines import Engines
from paybill.server.executors.dataplane.fleet import migrate_fleet


@click.command("migrate")
@click.option(
    "--wave-size",
    default=5,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Targets per wave after the canary.",
)
@click.option("--revision", default="head", show_default=True, help="Tenant-schema revision.")
@click.pass_obj
def tenants_migrate(obj: CliContext, wave_size: int, revision: str) -> None:
    """Migrate every tenant's tables: canary first, then waves; stop at the first failure."""
    db = obj.current_db()
    engines = Engines(obj.settings.database_url, TenantCredentials(obj.settings.data_dir))
    try:
        with db.session() as session:
            reports = migrate_fleet(session, engines, wave_size=wave_size, revision=revision)
    finally:
        engines.dispose()
    if not reports:
        click.echo("No tenant storage to migrate.")
        return
    click.echo(f"{'TARGET':<50} {'STATUS':<9} {'FROM':<6} {'TO':<6} TENANTS")
    for r in reports:
        click.echo(
            f"{r.target:<50} {r.status:<9} {r.before or '-':<6} {r.after or '-':<6} "
            f"{','.join(r.tenants)}"
        )
        if r.error:
            click.echo(f"  error: {r.error}")
    if any(r.status == "failed" for r in reports):
        skipped = sum(r.status == "not_run" for r in reports)
        click.echo(f"Stopped at the first failure; {skipped} target(s) not run.", err=True)
        raise SystemExit(1)
