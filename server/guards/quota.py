"""The per-tenant quota: data calls against the plan's queries per minute."""

from __future__ import annotations

from paybill.server.guards import confirm
from paybill.server.guards.call import Call


def take(call: Call) -> None:
    """Count one data call against the tenant's plan.

    Raises:
        QuotaExceeded: the tenant used its plan's queries per minute.
    """
    tenant = call.target()
    rate = tenant.plan.queries_per_minute
    confirm.take(call, call.services.tenant_rate, f"tenant:{tenant.id}", rate)


def check_quota(call: Call) -> None:
    """Raises: QuotaExceeded for a data call over the tenant's rate."""
    if call.data_mode is not None:
        take(call)
