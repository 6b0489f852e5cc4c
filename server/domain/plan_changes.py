"""What a plan change does to a tenant's data: whether it moves to another isolation model."""

from __future__ import annotations

from paybill.server.core.errors import InvalidInput
from paybill.server.store import Plan, Tenant


def moves_data(tenant: Tenant, new: Plan, *, requested: bool | None, postgres: bool) -> bool:
    """Whether changing ``tenant`` to ``new`` moves its data (an upgrade at once, a downgrade
    at the period end): ``new`` uses another isolation model and the caller did not ask to
    keep the data where it is (``requested`` False). The embedded SQLite store keeps every
    tenant pooled, so nothing moves there.

    Raises:
        InvalidInput: a move was asked for on the SQLite store (``postgres`` False).
    """
    if new.isolation is tenant.isolation:
        return False
    if requested is False:
        return False
    if not postgres:
        if requested:
            raise InvalidInput(
                f"Plan {new.id} uses {new.isolation.value} isolation, which needs PostgreSQL; "
                "this server runs on the embedded SQLite store, which keeps every tenant "
                "pooled. Change the plan with migrate_isolation=false (the data stays pooled).",
                plan=new.id,
                isolation=new.isolation.value,
            )
        return False
    return True
