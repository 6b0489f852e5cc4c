"""Which tools to show a principal in tools/list: those its role grants in its domain and,
for a tenant principal, its plan includes. A client's tool list is context the model reads
on every turn: tools it can never call only waste it. Hiding is a courtesy, not the guard:
a call to a tool not shown still runs the whole pipeline, which refuses and audits it."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from paybill.server.guards.spec import ToolSpec
from paybill.server.store import Principal, Tenant
from paybill.server.workflows.engine.services import Services


def offered_tools(services: Services, principal: str | None, specs: Iterable[ToolSpec]) -> set[str]:
    """The names of ``specs`` ``principal`` may call; none for an unknown or disabled one."""
    if principal is None:
        return set()
    with services.db.session() as session:
        caller = session.scalar(select(Principal).where(Principal.name == principal))
        if caller is None or caller.disabled:
            return set()
        features: set[str] | None = None  # platform principals: no plan applies
        if caller.tenant_id is not None:
            tenant = session.get(Tenant, caller.tenant_id)
            features = set(tenant.plan.features) if tenant is not None else set()
        services.acl.refresh(session)
        domain = caller.tenant_id or "*"
    return {
        spec.name
        for spec in specs
        if services.acl.allowed(principal, domain, spec.name)
        and (features is None or spec.feature is None or spec.feature in features)
    }
