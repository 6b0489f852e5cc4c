"""`paybill tenant list` and `paybill plan list`: read-only views of the store."""

from __future__ import annotations

import json
from typing import Any

import click
from sqlalchemy import select

from paybill.server.cli.context import CliContext
from paybill.server.domain.tenants import list_tenants
from paybill.server.store import Plan


def _print(rows: list[dict[str, Any]], columns: list[tuple[str, int]], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(" ".join(f"{name.upper():<{width}}" for name, width in columns).rstrip())
    for row in rows:
        click.echo(" ".join(f"{row[name]!s:<{width}}" for name, width in columns).rstrip())


@click.group("tenant")
def tenant_group() -> None:
    """List tenants and migrate their tables (create and change them through MCP tools)."""


@tenant_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def tenant_list(obj: CliContext, as_json: bool) -> None:
    """List tenants with plan, isolation and lifecycle state."""
    with obj.current_db().session() as session:
        rows = [
            {
                "slug": t.slug,
                "name": t.name,
                "plan": t.plan_id,
                "isolation": t.isolation.value,
                "state": t.state,
                "cloud": t.cloud.value,
            }
            for t in list_tenants(session)
        ]
    if not rows and not as_json:
        click.echo("No tenants yet.")
        return
    _print(
        rows,
        [("slug", 24), ("name", 24), ("plan", 12), ("isolation", 10), ("state", 13), ("cloud", 6)],
        as_json,
    )


@click.group("plan")
def plan_group() -> None:
    """Inspect the plan catalogue loaded by `paybill init`."""


@plan_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def plan_list(obj: CliContext, as_json: bool) -> None:
    """List plans with price, isolation model and limits."""
    with obj.current_db().session() as session:
        rows = [
            {
                "id": p.id,
                "name": p.name,
                "price": f"{p.price_cents / 100:.2f} {p.currency}",
                "isolation": p.isolation.value,
                "seats": p.max_seats,
                "rows": p.max_rows,
                "qpm": p.queries_per_minute,
                "features": ",".join(p.features),
            }
            for p in session.scalars(select(Plan).order_by(Plan.tier))
        ]
    _print(
        rows,
        [
            ("id", 12),
            ("name", 12),
            ("price", 12),
            ("isolation", 10),
            ("seats", 6),
            ("rows", 10),
            ("qpm", 6),
            ("features", 0),
        ],
        as_json,
    )


def _add_fleet_commands() -> None:
    from paybill.server.cli.tenants import tenants_migrate

    tenant_group.add_command(tenants_migrate)


_add_fleet_commands()
