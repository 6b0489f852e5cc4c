"""Bounded execution: argument size, and calls per minute per principal."""

from __future__ import annotations

import json
from typing import Any

from paybill.server.core.errors import InvalidInput
from paybill.server.guards.call import Call
from paybill.server.guards.confirm import take


def check_argument_size(raw: dict[str, Any], limit_bytes: int) -> None:
    """Raises: InvalidInput when the JSON-encoded arguments exceed ``limit_bytes``."""
    size = len(json.dumps(raw, default=str).encode())
    if size > limit_bytes:
        raise InvalidInput(
            f"Arguments are {size} bytes; the limit is {limit_bytes}. Send less data per call.",
            size=size,
            limit=limit_bytes,
        )


def check_limits(call: Call) -> None:
    """Raises: InvalidInput (arguments too large), QuotaExceeded (the principal's rate)."""
    check_argument_size(call.raw_arguments, call.services.settings.max_argument_bytes)
    take(call, call.services.rate_limiter, call.caller.name)
