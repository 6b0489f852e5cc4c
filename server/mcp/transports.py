"""The MCP server on stdio, SSE and streamable HTTP, from the SDK's public transport pieces.

The low-level server drives one connection over a pair of streams; this module connects those
streams to the process's stdio or to HTTP, on the paths clients already use (``/sse`` with
``/messages/``, and ``/mcp``). Authentication and Host/Origin checks are ``http``'s concern.
"""

from __future__ import annotations

import anyio
from mcp.server.sse import SseServerTransport
from mcp.server.stdio import stdio_server
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from paybill.server.mcp.adapter import ToolServer

SSE_PATH = "/sse"
MESSAGES_PATH = "/messages/"
STREAMABLE_HTTP_PATH = "/mcp"


def serve_stdio(server: ToolServer) -> None:
    """Serve one client on stdin/stdout until it closes them."""
    anyio.run(_serve_stdio, server, backend_options=loop_options())


def loop_options() -> dict[str, bool]:
    """uvloop where it is installed (a dependency, but not on Windows): the event loop's own
    work per call (callbacks, the wake-up from the pipeline's worker thread, socket and pipe
    writes) costs less on it; uvicorn picks it by itself for HTTP."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return {}
    return {"use_uvloop": True}


async def _serve_stdio(server: ToolServer) -> None:
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def streamable_http_app(
    server: ToolServer, security: TransportSecuritySettings, host: str
) -> Starlette:
    """Streamable HTTP at ``/mcp``; the app's lifespan runs the session manager."""
    return server.streamable_http_app(
        streamable_http_path=STREAMABLE_HTTP_PATH, transport_security=security, host=host
    )


class _SseConnection:
    """An ASGI app for ``GET /sse``: the event stream of one MCP session, whose client posts
    its messages to ``/messages/``."""

    def __init__(self, server: ToolServer, transport: SseServerTransport) -> None:
        self.server = server
        self.transport = transport

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with self.transport.connect_sse(scope, receive, send) as (read_stream, write_stream):
            await self.server.run(
                read_stream, write_stream, self.server.create_initialization_options()
            )


def sse_app(server: ToolServer, security: TransportSecuritySettings) -> Starlette:
    """The (superseded) SSE transport, for clients that have not moved to streamable HTTP."""
    transport = SseServerTransport(MESSAGES_PATH, security_settings=security)
    return Starlette(
        routes=[
            Route(SSE_PATH, endpoint=_SseConnection(server, transport), methods=["GET"]),
            Mount(MESSAGES_PATH, app=transport.handle_post_message),
        ]
    )
