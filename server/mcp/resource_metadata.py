"""RFC 9728 protected resource metadata: where an MCP client learns which authorization
server issues tokens for this server (``/.well-known/oauth-protected-resource/mcp``),
built with the MCP SDK's own routes."""

from __future__ import annotations

from urllib.parse import urlsplit

from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
from pydantic import AnyHttpUrl
from starlette.routing import Router
from starlette.types import ASGIApp, Receive, Scope, Send

from paybill.server.core.settings import Settings

WELL_KNOWN = "/.well-known/oauth-protected-resource"
ENDPOINTS = {"streamable-http": "/mcp", "sse": "/sse"}


def resource_url(settings: Settings, host: str, port: int, transport: str) -> str:
    """This server's MCP endpoint as clients reach it: the token audience by default."""
    base = settings.public_url or f"http://{host}:{port}"
    return base.rstrip("/") + ENDPOINTS[transport]


def metadata_url_of(resource: str) -> str:
    return str(build_resource_metadata_url(AnyHttpUrl(resource)))


class ProtectedResourceMetadata:
    """Answers the metadata path (no key needed); every other request goes on to ``app``."""

    def __init__(self, app: ASGIApp, resource: str, issuer: str, settings: Settings) -> None:
        self.app = app
        routes = create_protected_resource_routes(
            resource_url=AnyHttpUrl(resource),
            authorization_servers=[AnyHttpUrl(issuer)],
            scopes_supported=list(settings.oauth_required_scopes) or None,
            resource_name="Paybill",
        )
        self.router = Router(routes=routes)
        self.path = urlsplit(metadata_url_of(resource)).path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith(WELL_KNOWN):
            await self.router(scope, receive, send)
            return
        await self.app(scope, receive, send)
