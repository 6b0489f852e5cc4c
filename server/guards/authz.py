"""Authorisation: the Casbin ACL (RBAC, tenants as domains) and plan entitlements.

Every decision is Casbin's (``Acl.allowed``: the packaged model compiled, a customised
``acl_model.conf`` enforced by Casbin as written), over bindings at least as new as the
ACL version the call read. What a call learnt is kept in ``Call.grants``: the call's own
tool, and insert_rows once writer status was asked.
"""

from __future__ import annotations

from paybill.server.core.errors import Denied
from paybill.server.guards.call import Call
from paybill.server.guards.spec import Scope

# Writing tenant data by any route (run_sql's UPDATE/DELETE too) needs the grant of this tool.
WRITE_TOOL = "insert_rows"
WRITE_FEATURE = "data.write"


def domain_of(call: Call) -> str:
    if call.spec.scope is Scope.PLATFORM:
        return "*"
    if call.spec.scope is Scope.CALLER:
        return call.caller.domain
    if call.tenant is None:  # a tenant tool always resolves its tenant before this guard
        raise Denied(f"{call.spec.name} needs a tenant.")
    return call.tenant.id


def refusal(call: Call, where: str = "for this tenant") -> Denied:
    """The one refusal for a tool a role may not use. Tenant-scoped callers get exactly this
    for any other tenant, existing or not, so refusals never reveal which tenants exist."""
    role, tool = call.caller.role.value, call.spec.name
    return Denied(
        f"Role {role} may not call {tool} {where}. Ask an operator or a principal with the "
        "right role; the refusal is in the audit log.",
        role=role,
        tool=tool,
    )


def check_acl(call: Call) -> None:
    """Raises: Denied unless the caller's role grants the tool in the call's domain."""
    caller, tool = call.caller, call.spec.name
    domain = domain_of(call)
    call.services.acl.sync(call.versions().acl)
    if not call.services.acl.allowed(caller.name, domain, tool):
        raise refusal(call, "platform-wide" if domain == "*" else "for this tenant")
    call.grants = call.grants | {tool}
    call.decided_by = f"acl:{caller.role.value}:{tool}"


def check_entitlement(call: Call) -> None:
    """Raises: Denied when a tenant-scoped caller's plan lacks the tool's feature."""
    feature, tenant = call.spec.feature, call.tenant
    if feature is None or tenant is None or call.caller.tenant_id is None:
        return
    if feature not in tenant.plan.features:
        raise Denied(
            f"Plan {tenant.plan_id} does not include {feature!r}, which {call.spec.name} needs; "
            "upgrade the plan to use it.",
            plan=tenant.plan_id,
            feature=feature,
        )


def authorise(call: Call) -> None:
    """Raises: Denied (the ACL or an entitlement)."""
    check_acl(call)
    check_entitlement(call)


def may_write_data(call: Call) -> bool:
    """Whether the caller is a writer of the call's tenant: the grant of insert_rows in the
    tenant's domain (one more enforcement unless the call is insert_rows itself), and the
    data.write feature for tenant callers."""
    tenant = call.target()
    if WRITE_TOOL not in call.grants:  # the ACL was synced by check_acl in this call
        if not call.services.acl.allowed(call.caller.name, tenant.id, WRITE_TOOL):
            return False
        call.grants = call.grants | {WRITE_TOOL}
    return call.caller.tenant_id is None or WRITE_FEATURE in tenant.plan.features
