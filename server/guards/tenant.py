"""Which tenant the call targets, found by the tool's ``tenant_of`` resolver."""

from __future__ import annotations

from paybill.server.guards.call import Call


def resolve_tenant(call: Call) -> None:
    """Raises: whatever the resolver refuses with; tenant-scoped callers get the ACL's
    refusal for any tenant but their own (``tools.resolve.scoped``), so refusals never reveal
    which tenants exist."""
    if call.spec.tenant_of is None:
        return
    call.tenant = call.spec.tenant_of(call, call.arguments)
    call.tenant_id = call.tenant.id if call.tenant is not None else None
