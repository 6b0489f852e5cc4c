"""Bounded execution: argument size (the call rate is a ``core.ratelimit.RateLimiter``)."""

from __future__ import annotations

import json
from typing import Any

from paybill.server.core.errors import InvalidInput


def check_argument_size(raw: dict[str, Any], limit_bytes: int) -> None:
    """Raises: InvalidInput when the JSON-encoded arguments exceed ``limit_bytes``."""
    size = len(json.dumps(raw, default=str).encode())
    if size > limit_bytes:
        raise InvalidInput(
            f"Arguments are {size} bytes; the limit is {limit_bytes}. Send less data per call.",
            size=size,
            limit=limit_bytes,
        )
