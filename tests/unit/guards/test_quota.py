"""Quota guard: data calls count against the plan's queries per minute, per tenant."""

from __future__ import annotations

import pytest

from paybill.server.core.errors import QuotaExceeded
from paybill.server.core.ratelimit import RateLimiter
from paybill.server.guards.quota import check_quota
from paybill.server.guards.spec import DataAccess
from tests.support.guard_calls import make_call, plan, services, spec, tenant

READS = DataAccess("read", dry_run="read")
SILENT_DRY_RUN = DataAccess("statement", dry_run=None)


@pytest.mark.parametrize(
    ("situation", "access", "dry_run", "used", "expected"),
    [
        ("a read with calls left", READS, False, 2, None),
        ("a read over the plan's rate", READS, False, 3, "QUOTA_EXCEEDED"),
        ("a dry run that reads counts too", READS, True, 3, "QUOTA_EXCEEDED"),
        ("a dry run touching no rows is free", SILENT_DRY_RUN, True, 3, None),
        ("no data access, no quota", None, False, 3, None),
    ],
)
def test_quota(situation, access, dry_run, used, expected) -> None:
    limiter = RateLimiter(1000, clock=lambda: 0.0)
    target = tenant(on=plan(queries_per_minute=3))
    for _ in range(used):
        limiter.take(f"tenant:{target.id}", 3)
    call = make_call(
        spec(data_access=access),
        target=target,
        arguments={"tenant": "acme", "dry_run": dry_run},
        services_=services(tenant_rate=limiter),
    )
    if expected is None:
        check_quota(call)
        return
    with pytest.raises(QuotaExceeded) as refused:
        check_quota(call)
    assert refused.value.details["limit_per_minute"] == 3, situation


def test_tenants_have_their_own_quota() -> None:
    limiter = RateLimiter(1000, clock=lambda: 0.0)
    limiter.take("tenant:t-globex", 1)
    call = make_call(
        spec(data_access=READS),
        target=tenant(on=plan(queries_per_minute=1)),
        services_=services(tenant_rate=limiter),
    )
    check_quota(call)
    with pytest.raises(QuotaExceeded):
        check_quota(call)
