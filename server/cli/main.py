"""Entry point of the `paybill` console script."""

from __future__ import annotations

import importlib
import sys
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import click

from paybill.server import __version__
from paybill.server.cli.context import CliContext

# Only click is imported up front: `paybill --help` lists commands without loading pydantic,
# SQLAlchemy or the MCP SDK; each command imports what it uses.

# Subcommands and the modules that define them, imported only when used: `paybill init` or
# `paybill principal add` need not load the MCP SDK or sqlglot. Commands of other packages
# (`paybill eval`, from paybill.evals) come from the `paybill.commands` entry point group, so
# the server never imports them.
LAZY_COMMANDS = {
    "principal": "paybill.server.cli.principal:principal_group",
    "approvals": "paybill.server.cli.approvals:approvals_group",
    "tenant": "paybill.server.cli.listing:tenant_group",
    "tenants": "paybill.server.cli.listing:tenant_group",
    "plan": "paybill.server.cli.listing:plan_group",
    "serve": "paybill.server.cli.serve:serve",
    "console": "paybill.server.cli.console:console",
    "worker": "paybill.server.cli.worker:worker",
    "audit": "paybill.server.cli.audit:audit_group",
    "demo": "paybill.server.cli.demo:demo",
}


# What `paybill --help` prints for each lazy command, so listing them imports none (a test
# keeps each equal to the command's own short help).
SUMMARIES = {
    "approvals": "List, show and decide approvals (as a named principal, through the same...",
    "principal": "Manage principals (callers) and their API keys.",
    "tenant": "List tenants and migrate their tables (create and change them through MCP...",
    "tenants": "List tenants and migrate their tables (create and change them through MCP...",
    "plan": "Inspect the plan catalogue loaded by `paybill init`.",
    "serve": "Serve Paybill's tools to MCP clients.",
    "console": "Serve the operator console: a web UI for humans over the same guards.",
    "worker": "Claim and execute workflow runs (provisioning, plan changes, offboarding).",
    "audit": "Inspect the append-only audit log.",
    "demo": "Drive a fresh embedded store through the real MCP client: plans, onboarding,...",
}

PLUGIN_GROUP = "paybill.commands"


def _plugins() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=PLUGIN_GROUP)}


class LazyGroup(click.Group):
    """A click group whose listed subcommands and plugins are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS, *_plugins()})

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``--help``, from ``SUMMARIES`` where it can (importing every
        subcommand for its one line cost seconds), from the command itself otherwise."""
        plugins = _plugins()
        rows = []
        for name in self.list_commands(ctx):
            summary = SUMMARIES.get(name)
            if summary is None and name in plugins and name not in LAZY_COMMANDS:
                dist = plugins[name].dist
                summary = f"(a command of the {dist.name if dist else 'plugin'} package)"
            if summary is None:
                command = self.get_command(ctx, name)
                if command is None or command.hidden:
                    continue
                summary = command.get_short_help_str(limit=formatter.width - 6 - len(name))
            rows.append((name, summary))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        # Paybill's own commands first: a plugin cannot replace `init` or `serve`.
        builtin = super().get_command(ctx, cmd_name)
        if builtin is not None:
            return builtin
        target = LAZY_COMMANDS.get(cmd_name)
        if target is not None:
            module, attribute = target.split(":")
            command: click.Command = getattr(importlib.import_module(module), attribute)
            return command
        plugin = _plugins().get(cmd_name)
        if plugin is None:
            return None
        loaded: click.Command = plugin.load()
        return loaded


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="paybill")
@click.option(
    "-v", "--verbose", is_flag=True, help="Log more to stderr (INFO, libraries included)."
)
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Paybill: an MCP control plane that lets AI agents operate multi-tenant SaaS safely.

    Configuration comes from PAYBILL_* environment variables; PAYBILL_DATABASE_URL selects
    the store (default: a SQLite file in your user data directory).
    """
    ctx.obj = CliContext(verbose=verbose)


@cli.command()
@click.pass_obj
def init(obj: CliContext) -> None:
    """Create or migrate the store and load the plan catalogue (safe to run again)."""
    from sqlalchemy.engine import make_url

    from paybill.server.cli.policies import check_policies, describe_policies
    from paybill.server.domain.audit_key import ensure_key
    from paybill.server.domain.audit_log import AuditLog
    from paybill.server.domain.bootstrap import initialise

    policies = obj.settings.policies_dir
    check_policies(policies)  # all of them, before the store is touched
    where = make_url(obj.settings.database_url).render_as_string(hide_password=True)
    click.echo(f"Store: {where}")
    click.echo(f"Policies: {describe_policies(policies)}")
    report = initialise(obj.db, obj.settings.policies_dir)
    key_path = obj.settings.audit_key_path
    if ensure_key(key_path)[1]:
        # The path only: the key itself is never printed or logged.
        click.echo(f"Audit key created at {key_path} (mode 0600); every replica needs it.")
    AuditLog.open(obj.settings).ensure_checkpoint(obj.db.engine)
    if not report.changed:
        click.echo(f"Store is up to date (revision {report.revision_after}); nothing changed.")
        return
    click.echo(f"Store migrated: {report.revision_before or 'empty'} -> {report.revision_after}.")
    if report.plans_changed:
        click.echo(f"Plans loaded: {', '.join(report.plans_changed)}.")


@cli.command()
@click.pass_obj
def migrate(obj: CliContext) -> None:
    """Apply pending store migrations only (`paybill init` also loads plans and policies:
    use init to set a store up)."""
    from paybill.server.store import migrate as store_migrate

    before = store_migrate.current_revision(obj.db.engine)
    store_migrate.upgrade(obj.db.engine)
    after = store_migrate.current_revision(obj.db.engine)
    if before == after:
        click.echo(f"Store is at revision {after}; no migrations pending.")
    else:
        click.echo(f"Store migrated: {before or 'empty'} -> {after}.")


def _one_line(exc: Any) -> str:
    """A pydantic ValidationError's errors on one line."""
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
    except Exception as exc:
        message = _expected(exc)
        if message is None:
            raise
        click.echo(f"error: {message}", err=True)
        sys.exit(1)


def _expected(exc: Exception) -> str | None:
    """The one line for a failure a user can act on; None for anything else (a bug)."""
    from pydantic import ValidationError
    from sqlalchemy.exc import SQLAlchemyError

    from paybill.server.core.errors import PaybillError

    if isinstance(exc, PaybillError):
        return exc.message
    if isinstance(exc, ValidationError):
        return f"invalid configuration: {_one_line(exc)}"
    if isinstance(exc, SQLAlchemyError):
        reason = getattr(exc, "orig", None) or exc
        return f"store unavailable: {str(reason).splitlines()[0]}"
    return None


if __name__ == "__main__":
    main()
