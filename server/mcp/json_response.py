"""The one way Paybill's raw ASGI endpoints (bearer refusals, probes, webhooks) answer JSON."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Send


async def send_json(
    send: Send,
    status: int,
    body: dict[str, Any],
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    head: bool = False,
) -> None:
    """``body`` as a JSON response; ``head``: the headers only (a HEAD request)."""
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), *(headers or [])],
    }
    await send(start)
    await send({"type": "http.response.body", "body": b"" if head else json.dumps(body).encode()})
