"""Tenant guard and the shipped resolver: tenant-scoped callers never learn which tenants
exist (DENIED for any tenant but their own), platform callers get NOT_FOUND."""

from __future__ import annotations

from dataclasses import replace

import pytest

from paybill.server.core.errors import NotFound, PaybillError
from paybill.server.guards.spec import Scope
from paybill.server.guards.tenant import resolve_tenant
from paybill.tools.resolve import scoped
from tests.support.guard_calls import ACME_ADMIN, ACME_BOT, ADMIN, make_call, spec, tenant

ACME, GLOBEX = tenant(), tenant(slug="globex")
MISSING = NotFound("No tenant with slug 'nope'.", tenant="nope")


@pytest.mark.parametrize(
    ("situation", "caller", "found", "expected"),
    [
        ("platform caller, tenant exists", ADMIN, GLOBEX, None),
        ("platform caller, no such tenant", ADMIN, None, "NOT_FOUND"),
        ("tenant caller, own tenant", ACME_ADMIN, ACME, None),
        ("tenant caller, other tenant", ACME_BOT, GLOBEX, "DENIED"),
        ("tenant caller, no such tenant", ACME_BOT, None, "DENIED"),
    ],
)
def test_scoped_resolution(situation, caller, found, expected) -> None:
    tool = spec(tenant_of=lambda call, args: scoped(call, found, MISSING))
    call = make_call(tool, caller=caller)
    if expected is None:
        resolve_tenant(call)
        assert (call.tenant, call.tenant_id) == (found, found.id)
        return
    with pytest.raises(PaybillError) as refused:
        resolve_tenant(call)
    assert refused.value.code == expected, situation
    assert call.tenant_id is None
    if expected == "DENIED":  # the same refusal as the ACL's, existing tenant or not
        assert refused.value.details == {"role": caller.role.value, "tool": "probe"}


def test_a_tool_without_a_resolver_targets_no_tenant() -> None:
    call = make_call(replace(spec(), scope=Scope.PLATFORM, tenant_of=None))
    resolve_tenant(call)
    assert (call.tenant, call.tenant_id) == (None, None)
