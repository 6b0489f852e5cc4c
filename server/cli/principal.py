"""`paybill principal ...`: manage who may call the server."""

from __future__ import annotations

import json

import click

from paybill.server.cli.context import CliContext
from paybill.server.core.vocabulary import Role
from paybill.server.domain.principals import add_principal, list_principals, parse_role


@click.group("principal")
def principal_group() -> None:
    """Manage principals (callers) and their API keys."""


@principal_group.command("add")
@click.argument("name")
@click.option(
    "--role",
    required=True,
    help=f"One of: {', '.join(r.value for r in Role)}.",
)
@click.option("--tenant", "tenant_slug", help="Tenant slug, required for tenant-scoped roles.")
@click.pass_obj
def add(obj: CliContext, name: str, role: str, tenant_slug: str | None) -> None:
    """Create principal NAME and print its API key (shown once, stored only as a hash)."""
    with obj.current_db().session() as session:
        principal, key = add_principal(session, name, parse_role(role), tenant_slug)
        scope = f" for tenant {tenant_slug}" if tenant_slug else ""
        click.echo(f"Created principal {principal.name} ({principal.role.value}{scope}).")
    click.echo(f"API key (shown once, store it now): {key.plaintext}")


@principal_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def list_(obj: CliContext, as_json: bool) -> None:
    """List principals and their roles (never keys)."""
    with obj.current_db().session() as session:
        rows = [
            {
                "name": p.name,
                "role": p.role.value,
                "tenant_id": p.tenant_id,
                "disabled": p.disabled,
                "created_at": p.created_at.isoformat(),
            }
            for p in list_principals(session)
        ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No principals yet; add one with `paybill principal add NAME --role ROLE`.")
        return
    click.echo(f"{'NAME':<24} {'ROLE':<16} {'TENANT':<36} DISABLED")
    for r in rows:
        click.echo(f"{r['name']:<24} {r['role']:<16} {r['tenant_id'] or '-':<36} {r['disabled']}")
