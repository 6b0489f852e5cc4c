"""Finding the tenant a call targets, without telling tenant-scoped callers what exists."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from paybill.server.errors import Denied, NotFound
from paybill.server.guards.call import Call
from paybill.server.provisioners.base import TenantFacts
from paybill.server.store import Tenant


def tenant_by_slug(call: Call, arguments: Any) -> Tenant:
    """Raises: NotFound (platform callers), Denied (tenant-scoped callers, exists or not)."""
    slug = arguments.tenant
    tenant = call.session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        if call.caller.tenant_id is not None:
            raise Denied(f"Role {call.caller.role.value} may only act on its own tenant.")
        raise NotFound(
            f"No tenant with slug {slug!r}; list_tenants shows the existing ones.", tenant=slug
        )
    return tenant


def facts(tenant: Tenant) -> TenantFacts:
    return TenantFacts(
        id=tenant.id,
        slug=tenant.slug,
        plan=tenant.plan_id,
        tier=tenant.plan.tier,
        isolation=tenant.isolation,
        cloud=tenant.cloud,
        region=tenant.region,
    )
