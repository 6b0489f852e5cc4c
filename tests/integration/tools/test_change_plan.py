"""change_plan: upgrade now with proration, downgrade at period end, limits and billing."""

from __future__ import annotations

from sqlalchemy import select, update

from paybill.server.core.vocabulary import Role, SubscriptionStatus
from paybill.server.domain.principals import add_principal
from paybill.server.store import Plan, Subscription, Tenant
from tests.support.served import Served


def _subscription(served: Served, slug: str) -> Subscription:
    with served.services.db.session() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
        return tenant.subscription


def test_upgrade_applies_now_with_proration(served: Served) -> None:
    sub = _subscription(served, "acme")
    halfway = sub.current_period_start + (sub.current_period_end - sub.current_period_start) / 2
    served.services.clock = lambda: halfway
    # The plan only (the data stays pooled): no isolation migration, no approval.
    only_plan = {"tenant": "acme", "plan": "pro", "migrate_isolation": False}
    preview = served.ok("ops", "change_plan", **only_plan, dry_run=True)
    assert preview["status"] == "preview"
    assert served.ok("ops", "get_tenant", tenant="acme")["plan"] == "free"
    result = served.ok("ops", "change_plan", **only_plan)
    assert (result["direction"], result["status"]) == ("upgrade", "applied")
    # Half a period left: credit half of free (0), charge half of pro (9900 / 2).
    assert result["proration"] == {
        "seconds_remaining": int((sub.current_period_end - halfway).total_seconds()),
        "credit_cents": 0,
        "charge_cents": 4950,
        "amount_due_cents": 4950,
        "currency": "USD",
    }
    assert result["proration"] == preview["proration"]
    assert result["tenant"]["plan"] == "pro"
    assert result["isolation_migration_required"] is True
    assert result["isolation_migration"] is None
    assert result["workflow"]["kind"] == "plan_change"


def test_downgrade_is_scheduled_for_period_end(served: Served) -> None:
    result = served.ok("ops", "change_plan", tenant="globex", plan="free")
    assert (result["direction"], result["status"], result["proration"]) == (
        "downgrade",
        "scheduled",
        None,
    )
    sub = _subscription(served, "globex")
    assert result["effective_at"].startswith(sub.current_period_end.isoformat()[:19])
    tenant = served.ok("ops", "get_tenant", tenant="globex")
    assert tenant["plan"] == "pro"
    assert tenant["subscription"]["scheduled_plan"] == "free"


def test_downgrade_that_does_not_fit_is_refused_with_what_exceeds(served: Served) -> None:
    with served.services.db.session() as session:
        for i in range(4):
            add_principal(session, f"globex-user{i}", Role.TENANT_AGENT, "globex")
    error = served.error("ops", "change_plan", tenant="globex", plan="free")
    assert error["code"] == "QUOTA_EXCEEDED"
    assert error["details"]["exceeds"] == {"seats": {"used": 4, "limit": 3}}
    assert served.ok("ops", "get_tenant", tenant="globex")["subscription"]["scheduled_plan"] is None


def test_past_due_blocks_upgrades(served: Served) -> None:
    with served.services.db.session() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == "acme"))
        tenant.subscription.status = SubscriptionStatus.PAST_DUE
    error = served.error("ops", "change_plan", tenant="acme", plan="pro")
    assert error["code"] == "BILLING_BLOCKED"
    assert served.ok("ops", "get_tenant", tenant="acme")["plan"] == "free"


def test_plan_change_refused_while_suspended(served: Served) -> None:
    served.ok("ops", "suspend_tenant", tenant="acme", reason="maintenance")
    error = served.error("ops", "change_plan", tenant="acme", plan="pro")
    assert error["code"] == "INVALID_TRANSITION"
    assert error["details"]["allowed_actions"] == ["resume", "offboard"]


def test_list_tenants_pages_with_a_cursor(served: Served) -> None:
    for slug in ("c1", "c2", "c3"):
        served.ok("ops", "create_tenant", slug=slug, name=slug, plan="free")
    seen, cursor = [], None
    while True:
        page = served.ok("ops", "list_tenants", limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [t["slug"] for t in page["tenants"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["acme", "c1", "c2", "c3", "globex"]


def test_downgrade_refused_when_rows_exceed_the_target_plan(served: Served) -> None:
    with served.services.db.session() as session:
        session.execute(update(Plan).where(Plan.id == "free").values(max_rows=2))
    served.ok(
        "admin",
        "insert_rows",
        tenant="globex",
        table="customers",
        rows=[{"name": n} for n in ("a", "b", "c")],
    )
    error = served.error("ops", "change_plan", tenant="globex", plan="free")
    assert error["code"] == "QUOTA_EXCEEDED"
    assert error["details"]["exceeds"] == {"rows": {"used": 3, "limit": 2}}
