"""What every data-plane tool does before touching rows: state, quota, visibility, route."""

from __future__ import annotations

from paybill.server.core.errors import InvalidTransition
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.executors.dataplane.visibility import VisibleSchema, visible_schema
from paybill.server.guards.call import Call

READ_STATES = ("active", "updating", "archived")
WRITE_STATES = ("active",)


def open_for(call: Call, *, write: bool) -> TenantRoute:
    """Check the tenant serves this kind of call and take one call from its plan's quota.

    Raises:
        InvalidTransition: the tenant's lifecycle state does not serve data (writes).
        QuotaExceeded: the tenant used its plan's queries per minute.
    """
    tenant = call.target()
    states = WRITE_STATES if write else READ_STATES
    if tenant.state not in states:
        raise InvalidTransition(
            tenant=tenant.slug,
            state=tenant.state,
            action="write data" if write else "read data",
            allowed=call.services.lifecycle.allowed_actions(tenant.state),
        )
    call.services.tenant_rate.take(f"tenant:{tenant.id}", tenant.plan.queries_per_minute)
    return TenantRoute(tenant.id, tenant.isolation)


def schema_of(call: Call) -> VisibleSchema:
    tenant = call.target()
    return visible_schema(call.caller.role, set(tenant.plan.features))


def may_write(call: Call) -> bool:
    """Writing needs the same grant as insert_rows, and data.write for tenant callers."""
    tenant = call.target()
    if not call.services.acl.allowed(call.caller.name, tenant.id, "insert_rows"):
        return False
    return call.caller.tenant_id is None or "data.write" in tenant.plan.features
