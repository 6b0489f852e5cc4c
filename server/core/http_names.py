"""The Host and Origin values this server answers to: DNS-rebinding protection that still
works behind a reverse proxy (``PAYBILL_PUBLIC_URL``, ``PAYBILL_ALLOWED_HOSTS``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from paybill.server.core.settings import Settings

LOCAL_NAMES = ("127.0.0.1", "localhost")


def allowed_hosts(settings: Settings, host: str, port: int) -> list[str]:
    """The bind address and the loopback names on ``port``, the public URL's host, and the
    configured extras."""
    names = {f"{name}:{port}" for name in (host, *LOCAL_NAMES)}
    if settings.public_url:
        names.add(urlsplit(settings.public_url).netloc)
    return sorted({*names, *settings.allowed_hosts})


def allowed_origins(settings: Settings, host: str, port: int) -> list[str]:
    """Pages of these origins may call the MCP endpoint from a browser."""
    origins = {f"http://{name}:{port}" for name in (host, *LOCAL_NAMES)}
    if settings.public_url:
        public = urlsplit(settings.public_url)
        origins.add(f"{public.scheme}://{public.netloc}")
    return sorted({*origins, *settings.allowed_origins})
