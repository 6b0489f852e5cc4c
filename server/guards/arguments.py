"""The arguments guard: a tool's own check of its arguments against the tenant's schema.

It runs before the data gates, so a call with bad values is refused as INVALID_INPUT (and
takes none of the tenant's quota) whatever state the tenant is in.
"""

from __future__ import annotations

from paybill.server.guards.call import Call


def check_arguments(call: Call) -> None:
    """Raises: InvalidInput from the tool's ``prepare`` (unknown tables, columns, values)."""
    prepare = call.spec.prepare
    if prepare is not None:
        call.prepared = prepare(call, call.arguments)
