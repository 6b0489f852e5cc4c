"""`paybill serve`: run the MCP server over stdio, SSE or streamable HTTP."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import reduce
from typing import Literal

import click
from starlette.types import ASGIApp

from paybill.server.app import (
    build_pipeline,
    build_server,
    build_services,
    run_starts,
    serve_operations,
)
from paybill.server.cli import logs
from paybill.server.cli.context import CliContext
from paybill.server.core.errors import InvalidInput
from paybill.server.domain.principals import get_principal
from paybill.server.executors.webhooks import notification_thread
from paybill.server.mcp.adapter import http_principal
from paybill.server.mcp.http import serve_http
from paybill.server.mcp.transports import serve_stdio
from paybill.server.workflows.engine.services import Services
from paybill.server.workflows.engine.worker import embedded_worker


@contextmanager
def _background(services: Services) -> Iterator[None]:
    """The embedded worker (unless turned off, or runs go to Temporal: then runs recorded
    here are started there) and the approval-notification deliverer."""
    settings = services.settings
    with ExitStack() as stack:
        on_temporal = stack.enter_context(run_starts(services))
        if settings.embedded_worker and not on_temporal:
            stack.enter_context(embedded_worker(services, settings.worker_poll_seconds))
        stack.enter_context(
            notification_thread(services.db, settings, settings.worker_poll_seconds)
        )
        # Calls append their audit events unsealed (PostgreSQL): link them off the call path.
        stack.enter_context(
            services.audit.sealer(
                services.db.engine,
                batch_seconds=settings.audit_seal_seconds,
                idle_seconds=settings.worker_poll_seconds,
            )
        )
        yield


@click.command()
@click.option(
    "--transport",
    type=click.Choice(["stdio", "sse", "streamable-http"]),
    default="stdio",
    show_default=True,
)
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP bind address.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--console",
    "with_console",
    is_flag=True,
    help="HTTP only: also serve the operator console at /console on the same port.",
)
@click.option(
    "--read-only",
    is_flag=True,
    help="Serve only the tools that change nothing (reads); the others are unknown here.",
)
@click.option(
    "--principal",
    help="stdio only: the principal every call runs as (default: PAYBILL_PRINCIPAL).",
)
@click.pass_obj
def serve(
    obj: CliContext,
    transport: Literal["stdio", "sse", "streamable-http"],  # the Choice above
    host: str,
    port: int,
    with_console: bool,
    read_only: bool,
    principal: str | None,
) -> None:
    """Serve Paybill's tools to MCP clients.

    stdio runs as one principal; HTTP transports authenticate each request with
    'Authorization: Bearer <api key>' and bind 127.0.0.1 unless --host says otherwise.
    """
    # stdout carries the stdio protocol: everything else goes to stderr.
    logs.configure(verbose=obj.verbose, log_format=obj.settings.log_format)
    settings = obj.settings
    services = build_services(settings)
    serve_operations(services)  # metrics, when PAYBILL_METRICS_PORT is set
    worker = _background(services)
    if transport == "stdio":
        if with_console:
            raise InvalidInput("--console needs an HTTP transport (streamable-http or sse).")
        name = principal or settings.principal
        if not name:
            raise InvalidInput(
                "stdio needs a principal: pass --principal NAME or set PAYBILL_PRINCIPAL."
            )
        with services.db.session() as session:
            get_principal(session, name)  # fail now, not on the first call
        try:
            with worker:
                serve_stdio(build_server(services, lambda _ctx: name, read_only=read_only))
        finally:
            services.audit.checkpoint(services.reader)  # the tip at shutdown
        return
    if principal:
        raise InvalidInput("--principal is for stdio; HTTP callers authenticate with API keys.")
    _require_free_port(host, port)
    wraps: list[Callable[[ASGIApp], ASGIApp]] = []
    if with_console:
        wraps.append(_console_beside(services, host, port))
        click.echo(f"Paybill console on http://{host}:{port}/console/", err=True)
    if settings.stripe_webhook_secret or settings.stripe_webhook_secret_file:
        wraps.append(_stripe_beside(services))
        click.echo(f"Stripe webhook on http://{host}:{port}/webhooks/stripe", err=True)
    click.echo(f"Paybill MCP server on http://{host}:{port} ({transport})", err=True)
    with worker:  # serve_http checkpoints the audit log when it stops
        serve_http(
            build_server(services, http_principal, read_only=read_only),
            services,
            transport,
            host,
            port,
            wrap=lambda app: reduce(lambda inner, outer: outer(inner), wraps, app),
        )


def _stripe_beside(services: Services) -> Callable[[ASGIApp], ASGIApp]:
    """The Stripe webhook at /webhooks/stripe (the stripe library is imported only then)."""
    from paybill.server.webhooks.stripe_app import stripe_webhook

    webhook = stripe_webhook(build_pipeline(services))
    if webhook is None:  # the secret file holds nothing
        raise InvalidInput("PAYBILL_STRIPE_WEBHOOK_SECRET_FILE is empty.")
    return webhook


def _console_beside(services: Services, host: str, port: int) -> Callable[[ASGIApp], ASGIApp]:
    """The console mounted at /console beside the MCP app (imported only when asked for)."""
    from paybill.server.console.app import console_app
    from paybill.server.console.mount import WithConsole
    from paybill.server.console.security import console_hosts

    hosts = console_hosts(services.settings, host, port)
    console = console_app(build_pipeline(services), allowed_hosts=hosts)
    return lambda mcp: WithConsole(mcp, console)


def _require_free_port(host: str, port: int) -> None:
    """Raises: InvalidInput when nothing can listen on ``host:port`` (checked before the
    server announces itself, so a taken port is one plain line, not a banner and a crash)."""
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise InvalidInput(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}. Another process (an "
            "earlier `paybill serve`?) may hold the port: stop it, or pass --port.",
            host=host,
            port=port,
        ) from None
