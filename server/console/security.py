"""Response headers every console page carries, and the Host/Origin check of each request."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paybill.server.core.http_names import allowed_hosts
from paybill.server.core.settings import Settings

CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
}


class SecurityHeaders:
    """Sets ``HEADERS`` on every response, errors and static files included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def console_hosts(settings: Settings, host: str, port: int) -> list[str]:
    """The Host values a console bound to ``host:port`` answers (DNS-rebinding protection):
    the server's (``core.http_names``) and ``PAYBILL_CONSOLE_HOSTS``."""
    return sorted({*allowed_hosts(settings, host, port), *settings.console_hosts})


class HostCheck:
    """Answers 421 to a request naming a Host the console does not serve: a page read
    through a rebinding DNS name never reaches a route."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str] | None) -> None:
        self.app = app
        self.allowed = None if allowed_hosts is None else {h.encode() for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.allowed is not None:
            host = dict(scope["headers"]).get(b"host", b"")
            if host not in self.allowed:
                response = PlainTextResponse(
                    "MISDIRECTED: this console does not serve that host name.", status_code=421
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def same_origin(request: Request, allowed_hosts: Iterable[str] | None) -> bool:
    """The request names an allowed Host and did not come from another site.

    Browsers say where a request came from in ``Sec-Fetch-Site``; ``Origin`` is checked when
    it names an origin (under ``Referrer-Policy: no-referrer`` Chromium sends ``null`` on
    form posts). Clients that send neither still need the session's CSRF token."""
    host = request.headers.get("host", "")
    if allowed_hosts is not None and host not in allowed_hosts:
        return False
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    return origin in (f"http://{host}", f"https://{host}")
