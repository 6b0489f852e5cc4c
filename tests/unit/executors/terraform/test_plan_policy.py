"""The plan policy lets only offboarding lift a data store's deletion protection."""

from __future__ import annotations

from typing import Any

import pytest

from paybill.server.executors.terraform.plan_policy import load_plan_policy

TENANT = "0d2b6c1e-1111-4222-8333-444455556666"
TAGS = {"paybill_tenant_id": TENANT, "paybill_tier": "enterprise"}


def _update(kind: str, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    change = {"actions": ["update"], "before": before, "after": {**after, "tags": TAGS}}
    return {"resource_changes": [{"type": kind, "address": f"{kind}.this[0]", "change": change}]}


RDS = ("aws_db_instance", {"deletion_protection": True}, {"deletion_protection": False})
CLOUD_SQL = (
    "google_sql_database_instance",
    {"deletion_protection": True, "settings": [{"deletion_protection_enabled": True}]},
    {"deletion_protection": False, "settings": [{"deletion_protection_enabled": False}]},
)


@pytest.mark.parametrize(("kind", "before", "after"), [RDS, CLOUD_SQL])
def test_lifting_deletion_protection_is_refused_outside_offboarding(
    kind: str, before: dict[str, Any], after: dict[str, Any]
) -> None:
    policy = load_plan_policy(None)
    plan = _update(kind, before, after)

    found = policy.violations(plan, tier="enterprise", tenant_id=TENANT, offboarding=False)

    assert found == [f"{kind}.this[0]: lifts deletion protection outside offboarding"]
    assert policy.violations(plan, tier="enterprise", tenant_id=TENANT, offboarding=True) == []


def test_keeping_or_adding_protection_is_no_violation() -> None:
    policy = load_plan_policy(None)
    kind, protected, unprotected = RDS

    for before, after in [(protected, protected), (unprotected, protected)]:
        plan = _update(kind, before, after)
        assert policy.violations(plan, tier="enterprise", tenant_id=TENANT, offboarding=False) == []
