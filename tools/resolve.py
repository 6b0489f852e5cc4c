"""Finding the tenant a call targets, without telling callers what exists that they may not
see: by slug (tenant-scoped callers get the ACL's refusal for any other tenant) and by record
id (anyone gets NOT_FOUND for a record they may not see, as for one that does not exist)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select

from paybill.server.core.errors import Denied, NotFound
from paybill.server.guards.authz import refusal
from paybill.server.guards.call import Call
from paybill.server.guards.tenant_cache import cached_tenant
from paybill.server.store import Tenant


def scoped(call: Call, tenant: Tenant | None, missing: NotFound) -> Tenant:
    """The target tenant, or the refusal: tenant-scoped callers get the ACL's refusal for
    any tenant but their own (existing or not); platform callers get ``missing``."""
    if call.caller.tenant_id is not None and (tenant is None or tenant.id != call.caller.tenant_id):
        raise refusal(call)
    if tenant is None:
        raise missing
    return tenant


def own_or_named_tenant(what: str) -> Callable[[Call, Any], Tenant | None]:
    """The tenant a listing reads (``what``: "runs", "log"): a tenant principal's own (it
    may not name another), else the one named by ``arguments.tenant``, if any."""

    def resolve(call: Call, arguments: Any) -> Tenant | None:
        named: str | None = arguments.tenant
        if call.caller.tenant_id is not None:
            own = call.session.get(Tenant, call.caller.tenant_id)
            if named is not None and (own is None or own.slug != named):
                raise Denied(
                    f"Role {call.caller.role.value} may only read its own tenant's {what}."
                )
            return own
        if named is None:
            return None
        return call.session.scalar(select(Tenant).where(Tenant.slug == named))

    return resolve


def tenant_by_slug(call: Call, arguments: Any) -> Tenant:
    """Raises: NotFound (platform callers), Denied (tenant-scoped callers, exists or not)."""
    slug = arguments.tenant
    tenant = cached_tenant(
        call, f"slug:{slug}", lambda: call.session.scalar(select(Tenant).where(Tenant.slug == slug))
    )
    return scoped(
        call,
        tenant,
        NotFound(
            f"No tenant with slug {slug!r}; list_tenants shows the existing ones.", tenant=slug
        ),
    )


def visible_record(
    call: Call,
    exists: bool,
    tenant: Tenant | None,
    missing: NotFound,
    readers: Iterable[str],
) -> Tenant | None:
    """The tenant of a record looked up by id (None: a platform record), or ``missing``.

    A caller who may not see the record gets ``missing`` exactly as for an id that does not
    exist, so an id-taking tool is no oracle of other tenants' ids: a tenant-scoped caller
    sees its own tenant's records only, and any caller only records in a domain where its
    roles grant one of ``readers`` (the tools that show records of this kind). One who may
    see it goes on to the ACL, which refuses a tool the role lacks with DENIED.

    Raises: NotFound.
    """
    if not exists:
        raise missing
    own = call.caller.tenant_id
    if own is not None and (tenant is None or tenant.id != own):
        raise missing
    domain = tenant.id if tenant is not None else "*"
    acl = call.services.acl
    acl.sync(call.versions().acl)
    if not any(acl.allowed(call.caller.name, domain, tool) for tool in readers):
        raise missing
    return tenant
