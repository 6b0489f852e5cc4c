"""HTTP transports (streamable HTTP, SSE): bearer API keys and DNS-rebinding protection."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable
from typing import Any, Literal

import anyio
import uvicorn
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from paybill.server.core.errors import InternalError, PaybillError, Unauthenticated, Unavailable
from paybill.server.core.http_names import allowed_hosts, allowed_origins
from paybill.server.core.settings import Settings
from paybill.server.domain.principals import authenticate
from paybill.server.mcp.adapter import ToolServer
from paybill.server.mcp.health import HealthChecks
from paybill.server.mcp.http_audit import RefusalRecorder
from paybill.server.mcp.transports import sse_app, streamable_http_app
from paybill.server.store.database import Database
from paybill.server.store.outage import unavailable
from paybill.server.workflows.engine.services import Services

log = logging.getLogger("paybill.http")

HttpTransport = Literal["streamable-http", "sse"]


class BearerAuth:
    """Refuses any HTTP request without a valid ``Authorization: Bearer <api key>`` (401).

    The authenticated principal is handed to the SDK as the request's user, so tools read it
    with ``get_access_token()`` and a session stays bound to the principal that opened it.
    """

    def __init__(self, app: ASGIApp, db: Database, refusals: RefusalRecorder) -> None:
        self.app = AuthContextMiddleware(app)
        self.db = db
        self.refusals = refusals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        key = header[7:].strip() if header.lower().startswith("bearer ") else ""
        try:
            principal = await anyio.to_thread.run_sync(self._principal_for, key) if key else None
        except Exception as exc:
            # Never the server's bare 500: the store is down (503, retry) or something broke.
            log.exception("authenticating an HTTP request failed")
            await _failed(send, unavailable(exc) or InternalError())
            return
        if principal is None:
            client = scope.get("client") or ("unknown", 0)
            await anyio.to_thread.run_sync(
                self.refusals.record, str(client[0]), str(scope.get("path", "")), key
            )
            await _unauthorised(send)
            return
        # The token field carries the key's public prefix only, never the secret.
        token = AccessToken(token=key[:15], client_id=principal, scopes=[])
        scope["user"] = AuthenticatedUser(token)
        await self.app(scope, receive, send)

    def _principal_for(self, key: str) -> str | None:
        try:
            with self.db.session() as session:
                return authenticate(session, key).name
        except Unauthenticated:
            return None


async def _unauthorised(send: Send) -> None:
    error = Unauthenticated(
        "Send 'Authorization: Bearer <api key>'; create a key with `paybill principal add`."
    )
    await _answer(send, 401, error, [(b"www-authenticate", b'Bearer realm="paybill"')])


async def _failed(send: Send, error: PaybillError) -> None:
    """503 with ``Retry-After`` while the store is unreachable; 500 for anything else."""
    if isinstance(error, Unavailable):
        retry = str(error.details["retry_after_seconds"]).encode()
        await _answer(send, 503, error, [(b"retry-after", retry)])
    else:
        await _answer(send, 500, error, [])


async def _answer(
    send: Send, status: int, error: PaybillError, headers: list[tuple[bytes, bytes]]
) -> None:
    body = json.dumps(error.to_payload()).encode()
    start: dict[str, Any] = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), *headers],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body})


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
    security = transport_security(services.settings, host, port)
    if transport == "sse":
        inner = sse_app(server, security)
    else:
        inner = streamable_http_app(server, security, host)
    authenticated = BearerAuth(inner, services.db, RefusalRecorder(services.db, services.audit))
    return HealthChecks(authenticated, services.db)


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
