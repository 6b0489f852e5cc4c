"""HTTP transports (streamable HTTP, SSE): who is calling (``bearer``), DNS-rebinding
protection, probes, OAuth resource metadata, and the uvicorn server."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Literal

import anyio
import uvicorn
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp

from paybill.server.core.http_names import allowed_hosts, allowed_origins
from paybill.server.core.settings import Settings
from paybill.server.mcp.adapter import ToolServer
from paybill.server.mcp.bearer import BearerAuth
from paybill.server.mcp.health import HealthChecks
from paybill.server.mcp.http_audit import RefusalRecorder
from paybill.server.mcp.oauth import JwtVerifier
from paybill.server.mcp.resource_metadata import (
    ProtectedResourceMetadata,
    metadata_url_of,
    resource_url,
)
from paybill.server.mcp.transports import sse_app, streamable_http_app
from paybill.server.workflows.engine.services import Services

log = logging.getLogger("paybill.http")

HttpTransport = Literal["streamable-http", "sse"]


def transport_security(settings: Settings, host: str, port: int) -> TransportSecuritySettings:
    """Only this server's own Host and Origin are accepted, whatever address it binds: its
    local names, its public URL and the configured extras (``core.http_names``)."""
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=allowed_hosts(settings, host, port),
        allowed_origins=allowed_origins(settings, host, port),
    )


def http_app(
    server: ToolServer, services: Services, transport: HttpTransport, host: str, port: int
) -> ASGIApp:
    settings = services.settings
    security = transport_security(settings, host, port)
    if transport == "sse":
        inner = sse_app(server, security)
    else:
        inner = streamable_http_app(server, security, host)
    resource = resource_url(settings, host, port, transport)
    verifier, metadata_url = None, None
    if settings.oauth_issuer is not None:
        verifier = JwtVerifier(settings, settings.oauth_audience or resource)
        metadata_url = metadata_url_of(resource)
    refusals = RefusalRecorder(services.db, services.audit)
    authenticated = BearerAuth(inner, services.db, refusals, settings, verifier, metadata_url)
    app: ASGIApp = HealthChecks(authenticated, services.db)
    if settings.oauth_issuer is not None:
        app = ProtectedResourceMetadata(app, resource, settings.oauth_issuer, settings)
    return app


class _Server(uvicorn.Server):
    """uvicorn re-raises the SIGTERM or SIGINT that stopped it once it has shut down, so no
    code after ``run`` executes: the shutdown work runs at the end of its own shutdown."""

    def __init__(self, config: uvicorn.Config, on_shutdown: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_shutdown = on_shutdown

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        await anyio.to_thread.run_sync(self.on_shutdown)


def serve_http(
    server: ToolServer,
    services: Services,
    transport: HttpTransport,
    host: str,
    port: int,
    wrap: Callable[[ASGIApp], ASGIApp] | None = None,
) -> None:
    """``wrap``: puts another app beside the MCP one (the console at /console)."""
    app = http_app(server, services, transport, host, port)
    serve_asgi(wrap(app) if wrap else app, services, host, port)


def serve_asgi(app: ASGIApp, services: Services, host: str, port: int) -> None:
    """Run ``app`` with uvicorn until stopped; the audit log's tip is checkpointed then."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        # X-Forwarded-For/-Proto only from the proxies named (uvicorn would trust 127.0.0.1).
        proxy_headers=True,
        forwarded_allow_ips=services.settings.forwarded_allow_ips,
    )
    _Server(config, lambda: services.audit.checkpoint(services.reader)).run()
