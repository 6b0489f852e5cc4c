"""Finding the tenant a call targets, without telling tenant-scoped callers what exists."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from paybill.server.core.errors import NotFound
from paybill.server.guards.authz import refusal
from paybill.server.guards.call import Call
from paybill.server.store import Tenant


def scoped(call: Call, tenant: Tenant | None, missing: NotFound) -> Tenant:
    """The target tenant, or the refusal: tenant-scoped callers get the ACL's refusal for
    any tenant but their own (existing or not); platform callers get ``missing``."""
    if call.caller.tenant_id is not None and (tenant is None or tenant.id != call.caller.tenant_id):
        raise refusal(call)
    if tenant is None:
        raise missing
    return tenant


def tenant_by_slug(call: Call, arguments: Any) -> Tenant:
    """Raises: NotFound (platform callers), Denied (tenant-scoped callers, exists or not)."""
    slug = arguments.tenant
    tenant = call.session.scalar(select(Tenant).where(Tenant.slug == slug))
    return scoped(
        call,
        tenant,
        NotFound(
            f"No tenant with slug {slug!r}; list_tenants shows the existing ones.", tenant=slug
        ),
    )
