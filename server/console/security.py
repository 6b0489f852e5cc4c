"""Response headers every console page carries, and the Host/Origin check of each request."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


def local_hosts(host: str, port: int) -> list[str]:
    """The Host values a console bound to ``host:port`` answers (DNS-rebinding protection)."""
    return sorted({f"{h}:{port}" for h in (host, "127.0.0.1", "localhost")})


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
