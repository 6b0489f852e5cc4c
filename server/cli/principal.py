"""`paybill principal ...`: manage who may call the server."""

from __future__ import annotations

import json

import click
from sqlalchemy import select

from paybill.server.cli.context import CliContext
from paybill.server.cli.operator_audit import operator_action
from paybill.server.core.vocabulary import Role
from paybill.server.domain.principals import (
    add_principal,
    disable_principal,
    list_principals,
    parse_role,
    rotate_key,
)
from paybill.server.store import Tenant


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
        slugs = {tid: slug for tid, slug in session.execute(select(Tenant.id, Tenant.slug))}
        rows = [
            {
                "name": p.name,
                "role": p.role.value,
                "tenant": slugs.get(p.tenant_id) if p.tenant_id else None,
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
    click.echo(f"{'NAME':<24} {'ROLE':<16} {'TENANT':<24} DISABLED")
    for r in rows:
        click.echo(f"{r['name']:<24} {r['role']:<16} {r['tenant'] or '-':<24} {r['disabled']}")


@principal_group.command("disable")
@click.argument("name")
@click.pass_obj
def disable(obj: CliContext, name: str) -> None:
    """Disable principal NAME and revoke its keys (it can no longer call; idempotent)."""
    with operator_action(obj, "principal.disable", name) as session:
        disable_principal(session, name)
    click.echo(f"Principal {name} is disabled; its API keys are revoked.")


@principal_group.command("rotate-key")
@click.argument("name")
@click.pass_obj
def rotate(obj: CliContext, name: str) -> None:
    """Revoke every API key of NAME and print a new one (shown once, stored only as a hash)."""
    with operator_action(obj, "principal.rotate_key", name) as session:
        key = rotate_key(session, name)
    click.echo(f"Revoked the old API keys of {name}.")
    click.echo(f"New API key (shown once, store it now): {key.plaintext}")
