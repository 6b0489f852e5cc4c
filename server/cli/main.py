"""Entry point of the `paybill` console script."""

from __future__ import annotations

import sys

import click
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from paybill.server import __version__
from paybill.server.bootstrap import initialise
from paybill.server.cli.audit import audit_group
from paybill.server.cli.context import CliContext
from paybill.server.cli.demo import demo
from paybill.server.cli.eval import eval_group
from paybill.server.cli.listing import plan_group, tenant_group
from paybill.server.cli.principal import principal_group
from paybill.server.cli.serve import serve
from paybill.server.cli.tenants import tenants_migrate
from paybill.server.cli.worker import worker
from paybill.server.errors import PaybillError
from paybill.server.settings import Settings
from paybill.server.store import migrate as store_migrate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="paybill")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Paybill: an MCP control plane that lets AI agents operate multi-tenant SaaS safely.

    Configuration comes from PAYBILL_* environment variables; PAYBILL_DATABASE_URL selects
    the store (default: a SQLite file in your user data directory).
    """
    ctx.obj = CliContext(Settings())


@cli.command()
@click.pass_obj
def init(obj: CliContext) -> None:
    """Create or migrate the store and load the plan catalogue (safe to run again)."""
    report = initialise(obj.db, obj.settings.policies_dir)
    if not report.changed:
        click.echo(f"Store is up to date (revision {report.revision_after}); nothing changed.")
        return
    click.echo(f"Store migrated: {report.revision_before or 'empty'} -> {report.revision_after}.")
    if report.plans_changed:
        click.echo(f"Plans loaded: {', '.join(report.plans_changed)}.")


@cli.command()
@click.pass_obj
def migrate(obj: CliContext) -> None:
    """Apply pending control-plane store migrations."""
    before = store_migrate.current_revision(obj.db.engine)
    store_migrate.upgrade(obj.db.engine)
    after = store_migrate.current_revision(obj.db.engine)
    if before == after:
        click.echo(f"Store is at revision {after}; no migrations pending.")
    else:
        click.echo(f"Store migrated: {before or 'empty'} -> {after}.")


cli.add_command(principal_group)
tenant_group.add_command(tenants_migrate)
cli.add_command(tenant_group)
cli.add_command(tenant_group, name="tenants")
cli.add_command(plan_group)
cli.add_command(serve)
cli.add_command(audit_group)
cli.add_command(demo)
cli.add_command(eval_group)
cli.add_command(worker)


def _one_line(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}" for err in exc.errors()
    )


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; expected failures become one line on stderr and exit code 1."""
    try:
        cli.main(args=argv, prog_name="paybill", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except PaybillError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
    except ValidationError as exc:
        click.echo(f"error: invalid configuration: {_one_line(exc)}", err=True)
        sys.exit(1)
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        click.echo(f"error: store unavailable: {str(reason).splitlines()[0]}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
