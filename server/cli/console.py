"""`paybill console`: the operator console, a web UI for humans, on 127.0.0.1 by default."""

from __future__ import annotations

import click

from paybill.server.app import build_pipeline, build_services, serve_operations
from paybill.server.cli import logs
from paybill.server.cli.context import CliContext

# What `paybill serve` runs beside its server (the embedded worker, approval notifications)
# and its port check: the console runs the same.
from paybill.server.cli.serve import _background, _require_free_port
from paybill.server.console.app import console_app
from paybill.server.console.security import console_hosts
from paybill.server.mcp.http import serve_asgi


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Bind address.")
@click.option("--port", default=8700, show_default=True, type=click.IntRange(1, 65535))
@click.pass_obj
def console(obj: CliContext, host: str, port: int) -> None:
    """Serve the operator console: a web UI for humans over the same guards.

    Tenants, runs, approvals, the audit log and principals. Log in with a principal's API
    key; every page and action runs through the same guards as an MCP call, as that
    principal, and is audited. Binds 127.0.0.1 unless --host says otherwise.
    """
    logs.configure(verbose=obj.verbose, log_format=obj.settings.log_format)
    settings = obj.settings
    services = build_services(settings)
    serve_operations(services)  # metrics, when PAYBILL_METRICS_PORT is set
    hosts = console_hosts(settings, host, port)
    app = console_app(build_pipeline(services), allowed_hosts=hosts)
    _require_free_port(host, port)
    click.echo(f"Paybill console on http://{host}:{port}/", err=True)
    with _background(services):  # serve_asgi checkpoints the audit log when it stops
        serve_asgi(app, services, host, port)
