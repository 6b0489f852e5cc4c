"""Billing: subscription states set by the billing system, the grace-period suspension and
trial expiry on an injected clock, and downgrades applied by the worker at the period end."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from paybill.server.core.errors import Conflict
from paybill.server.core.vocabulary import Role
from paybill.server.domain.billing_policy import BILLING_ACTOR, load_billing_policy
from paybill.server.domain.principals import add_principal
from paybill.server.store import AuditEvent, LifecycleTransition, Tenant
from paybill.server.workflows.engine.billing_tick import BillingTicker, apply_billing_policies
from paybill.server.workflows.engine.runs import enqueue
from paybill.server.workflows.engine.worker import embedded_worker
from paybill.server.workflows.kinds.tenant_runs import PLAN_CHANGE
from tests.support.faults import FailsOnce
from tests.support.served import PopulatedStores, Served, make_settings, serve_populated

DAY = timedelta(days=1)


class Clock:
    """The services' clock, moved by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clocked(
    store_url: str, tmp_path: Path, populated: PopulatedStores
) -> Iterator[tuple[Served, Clock]]:
    clock = Clock()
    settings = make_settings(store_url, tmp_path, rate_per_minute=10_000)
    served = serve_populated(settings, populated, clock)
    yield served, clock
    served.services.db.dispose()


def _bill(served: Served, slug: str, status: str, **extra: Any) -> dict[str, Any]:
    return served.ok("billing", "set_billing_state", tenant=slug, status=status, **extra)


def _transitions(served: Served, slug: str) -> list[tuple[str, str, str]]:
    with served.services.db.session() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
        rows = session.scalars(
            select(LifecycleTransition)
            .where(LifecycleTransition.tenant_id == tenant.id)
            .order_by(LifecycleTransition.id)
        )
        return [(t.action, t.actor, t.reason) for t in rows]


def _policy_audit(served: Served) -> list[str]:
    with served.services.db.session() as session:
        return list(
            session.scalars(
                select(AuditEvent.outcome)
                .where(AuditEvent.tool == "billing.policy")
                .order_by(AuditEvent.id)
            )
        )


def test_the_policy_file_is_loaded_and_validated() -> None:
    policy = load_billing_policy()
    assert (policy.past_due_grace_days, policy.trial_days, policy.retention_days) == (7, 0, 30)
    assert policy.canceled_at_period_end == "suspend"


def test_past_due_blocks_upgrades_and_retried_provisioning(served: Served) -> None:
    served.services.provisioner = FailsOnce(served.services.provisioner)
    created = served.ok("ops", "create_tenant", slug="flaky", name="F", plan="free")
    served.drain()
    assert served.ok("ops", "get_tenant", tenant="flaky")["state"] == "failed"
    for slug in ("acme", "flaky"):
        marked = _bill(served, slug, "past_due", reason="invoice 7 unpaid")
        assert (marked["from_status"], marked["to_status"]) == ("active", "past_due")
        assert marked["tenant"]["subscription"]["past_due_since"] is not None
    for dry_run in (True, False):
        refused = served.error(
            "ops",
            "change_plan",
            tenant="acme",
            plan="pro",
            migrate_isolation=False,
            dry_run=dry_run,
        )
        assert refused["code"] == "BILLING_BLOCKED"
        assert refused["details"]["subscription_status"] == "past_due"
    refused = served.error("ops", "retry_workflow", workflow_id=created["workflow"]["id"])
    assert refused["code"] == "BILLING_BLOCKED"
    assert "retry the provision run" in refused["message"]
    assert served.ok("ops", "get_tenant", tenant="flaky")["state"] == "failed"
    # Downgrades still schedule while past_due: they reduce what is owed.
    assert served.ok("ops", "change_plan", tenant="globex", plan="free")["status"] == "scheduled"
    _bill(served, "flaky", "active", reason="invoice 7 paid")
    retried = served.ok("ops", "retry_workflow", workflow_id=created["workflow"]["id"])
    assert retried["tenant"]["state"] == "provisioning"


def test_grace_period_suspension_and_paying_resumes(
    clocked: tuple[Served, Clock],
) -> None:
    served, clock = clocked
    _bill(served, "acme", "past_due", event_id="evt_1")
    clock.advance(7 * DAY - timedelta(seconds=1))
    assert apply_billing_policies(served.services).changes == []
    assert served.ok("ops", "get_tenant", tenant="acme")["state"] == "active"
    # A reminder a day later does not restart the grace period.
    _bill(served, "acme", "past_due", event_id="evt_2")
    clock.advance(timedelta(seconds=2))
    report = apply_billing_policies(served.services)
    assert report.of("past_due_grace_days") == ["acme"]
    assert served.ok("ops", "get_tenant", tenant="acme")["state"] == "suspended"
    action, actor, reason = _transitions(served, "acme")[-1]
    assert (action, actor) == ("suspend", BILLING_ACTOR)
    assert "past_due_grace_days=7" in reason
    assert _policy_audit(served) == ["suspended"]
    assert apply_billing_policies(served.services).changes == []  # nothing twice
    refused = served.error("acme-bot", "query_table", tenant="acme", table="customers")
    assert refused["code"] == "INVALID_TRANSITION"

    paid = _bill(served, "acme", "active", reason="invoice 7 paid", event_id="evt_3")
    assert paid["resumed"] is True
    assert paid["tenant"]["state"] == "active"
    assert paid["tenant"]["subscription"]["past_due_since"] is None
    assert _transitions(served, "acme")[-1] == ("resume", "billing", "paid: invoice 7 paid")
    # The same event delivered again replays the first answer and changes nothing.
    again = _bill(served, "acme", "active", reason="invoice 7 paid", event_id="evt_3")
    assert again == paid
    assert [t[0] for t in _transitions(served, "acme")].count("resume") == 1
    served.ok("acme-bot", "query_table", tenant="acme", table="customers")


def test_the_worker_loop_applies_the_policy(clocked: tuple[Served, Clock]) -> None:
    served, clock = clocked
    _bill(served, "acme", "past_due")
    clock.advance(8 * DAY)
    ticker = BillingTicker(served.services)
    with embedded_worker(served.services, poll_seconds=0.05):
        deadline = time.monotonic() + 20
        while served.ok("ops", "get_tenant", tenant="acme")["state"] != "suspended":
            assert time.monotonic() < deadline, "the worker never applied the billing policy"
            time.sleep(0.1)
    assert ticker.maybe_run() is not None
    assert ticker.maybe_run() is None  # not again before check_every_seconds


def test_payment_does_not_lift_an_operator_suspension(served: Served) -> None:
    _bill(served, "acme", "past_due")
    served.ok("ops", "suspend_tenant", tenant="acme", reason="security review")
    paid = _bill(served, "acme", "active")
    assert (paid["resumed"], paid["tenant"]["state"]) == (False, "suspended")


def test_subscription_transitions_follow_stripe(clocked: tuple[Served, Clock]) -> None:
    served, clock = clocked
    preview = _bill(served, "acme", "canceled", dry_run=True)
    assert (preview["to_status"], preview["dry_run"]) == ("canceled", True)
    assert served.ok("ops", "get_tenant", tenant="acme")["subscription"]["status"] == "active"
    _bill(served, "acme", "canceled", reason="customer left")
    for status in ("past_due", "trialing"):
        refused = served.error("billing", "set_billing_state", tenant="acme", status=status)
        assert refused["code"] == "INVALID_TRANSITION"
        assert refused["details"]["allowed_actions"] == ["active", "canceled"]
    # Still served until the paid period ends; then the policy suspends it.
    clock.advance(31 * DAY)
    assert apply_billing_policies(served.services).of("canceled_at_period_end") == ["acme"]
    assert served.ok("ops", "get_tenant", tenant="acme")["state"] == "suspended"
    # Re-subscribing starts a new period and resumes the tenant.
    back = _bill(served, "acme", "active", reason="new subscription")
    sub = back["tenant"]["subscription"]
    assert (back["resumed"], sub["status"]) == (True, "active")
    assert sub["current_period_start"].startswith(clock.now.isoformat()[:19])
    bad = served.error(
        "billing",
        "set_billing_state",
        tenant="acme",
        status="active",
        period_end=(clock.now - DAY).isoformat(),
    )
    assert bad["code"] == "INVALID_INPUT"


def test_only_billing_agents_and_admins_set_billing_state(served: Served) -> None:
    for principal in ("ops", "boss", "acme-admin", "acme-bot"):
        refused = served.error(principal, "set_billing_state", tenant="acme", status="past_due")
        assert refused["code"] == "DENIED", principal
    assert served.ok("ops", "get_tenant", tenant="acme")["subscription"]["status"] == "active"
    served.ok("admin", "set_billing_state", tenant="acme", status="past_due")
    _bill(served, "acme", "active")


def test_trial_expires_into_past_due_then_grace(clocked: tuple[Served, Clock]) -> None:
    served, clock = clocked
    served.services.billing = served.services.billing.model_copy(update={"trial_days": 14})
    served.ok("ops", "create_tenant", slug="trial", name="T", plan="free")
    served.drain()
    sub = served.ok("ops", "get_tenant", tenant="trial")["subscription"]
    assert sub["status"] == "trialing"
    assert sub["trial_end"] == sub["current_period_end"]
    clock.advance(14 * DAY)
    report = apply_billing_policies(served.services)
    assert [c.change for c in report.changes if c.tenant == "trial"] == ["trialing -> past_due"]
    sub = served.ok("ops", "get_tenant", tenant="trial")["subscription"]
    assert (sub["status"], sub["past_due_since"]) == ("past_due", sub["trial_end"])
    clock.advance(7 * DAY)
    assert "trial" in apply_billing_policies(served.services).of("past_due_grace_days")


def test_active_periods_roll_forward(clocked: tuple[Served, Clock]) -> None:
    served, clock = clocked
    start = clock.now
    clock.advance(65 * DAY)
    report = apply_billing_policies(served.services)
    assert sorted(report.of("billing_period")) == ["acme", "globex"]
    sub = served.ok("ops", "get_tenant", tenant="acme")["subscription"]
    assert sub["current_period_start"].startswith((start + 60 * DAY).isoformat()[:19])
    assert sub["current_period_end"].startswith((start + 90 * DAY).isoformat()[:19])
    assert apply_billing_policies(served.services).changes == []


def _globex_admin(served: Served) -> None:
    with served.services.db.session() as session:
        add_principal(session, "globex-admin", Role.TENANT_ADMIN, "globex")


def test_scheduled_downgrade_applies_at_period_end(clocked: tuple[Served, Clock]) -> None:
    served, clock = clocked
    _globex_admin(served)
    sql = {"tenant": "globex", "sql": "SELECT name FROM customers"}
    served.ok("globex-admin", "run_sql", **sql)  # pro has data.sql
    scheduled = served.ok("ops", "change_plan", tenant="globex", plan="free")
    run = scheduled["workflow"]
    assert (run["kind"], run["status"]) == ("scheduled_downgrade", "pending")
    assert run["not_before"] == scheduled["effective_at"]
    clock.advance(30 * DAY - timedelta(seconds=1))
    assert served.drain() == 0
    assert served.ok("ops", "get_tenant", tenant="globex")["plan"] == "pro"
    clock.advance(timedelta(seconds=1))
    assert served.drain() == 1
    done = served.ok("ops", "get_workflow", workflow_id=run["id"])
    assert done["status"] == "succeeded"
    assert [s["status"] for s in done["steps"]] == ["succeeded"] * 4
    tenant = served.ok("ops", "get_tenant", tenant="globex")
    assert (tenant["plan"], tenant["state"]) == ("free", "active")
    assert tenant["subscription"]["scheduled_plan"] is None
    assert [t[0] for t in _transitions(served, "globex")][-2:] == ["update", "updated"]
    # Entitlements follow the plan: free lacks data.sql.
    refused = served.error("globex-admin", "run_sql", **sql)
    assert refused["code"] == "DENIED"
    assert "data.sql" in refused["message"]


def test_a_scheduled_downgrade_blocks_no_other_run_and_yields_to_an_upgrade(
    clocked: tuple[Served, Clock],
) -> None:
    served, clock = clocked
    run = served.ok("ops", "change_plan", tenant="globex", plan="free")["workflow"]
    # Waiting for the period end does not hold the tenant: an upgrade runs meanwhile.
    upgraded = served.ok(
        "ops", "change_plan", tenant="globex", plan="enterprise", migrate_isolation=False
    )
    assert upgraded["tenant"]["subscription"]["scheduled_plan"] is None
    assert served.drain() == 1
    clock.advance(31 * DAY)
    served.drain()
    done = served.ok("ops", "get_workflow", workflow_id=run["id"])
    assert done["status"] == "succeeded"
    assert "superseded" in done["steps"][0]["output"]
    assert [s["status"] for s in done["steps"][1:]] == ["skipped"] * 3
    assert served.ok("ops", "get_tenant", tenant="globex")["plan"] == "enterprise"


def test_a_downgrade_that_outgrew_the_target_fails_at_period_end(
    clocked: tuple[Served, Clock],
) -> None:
    served, clock = clocked
    run = served.ok("ops", "change_plan", tenant="globex", plan="free")["workflow"]
    with served.services.db.session() as session:
        for i in range(4):
            add_principal(session, f"globex-user{i}", Role.TENANT_AGENT, "globex")
    clock.advance(30 * DAY)
    served.drain()
    failed = served.ok("ops", "get_workflow", workflow_id=run["id"])
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "QUOTA_EXCEEDED"
    assert failed["error"]["details"]["exceeds"] == {"seats": {"used": 4, "limit": 3}}
    tenant = served.ok("ops", "get_tenant", tenant="globex")
    assert (tenant["plan"], tenant["state"]) == ("pro", "active")
    assert tenant["subscription"]["scheduled_plan"] is None


def test_a_suspended_tenant_is_not_downgraded(clocked: tuple[Served, Clock]) -> None:
    served, clock = clocked
    run = served.ok("ops", "change_plan", tenant="globex", plan="free")["workflow"]
    served.ok("ops", "suspend_tenant", tenant="globex", reason="maintenance")
    clock.advance(30 * DAY)
    served.drain()
    failed = served.ok("ops", "get_workflow", workflow_id=run["id"])
    assert (failed["status"], failed["error"]["code"]) == ("failed", "INVALID_TRANSITION")
    tenant = served.ok("ops", "get_tenant", tenant="globex")
    assert (tenant["plan"], tenant["state"]) == ("pro", "suspended")


def test_a_downgrade_is_refused_while_pii_is_stored(served: Served) -> None:
    served.ok("ops", "change_plan", tenant="acme", plan="enterprise", migrate_isolation=False)
    served.drain()
    served.ok(
        "admin",
        "insert_rows",
        tenant="acme",
        table="customers",
        rows=[{"name": "Ada", "email": "ada@example.com"}],
    )
    refused = served.error("ops", "change_plan", tenant="acme", plan="pro", dry_run=True)
    assert refused["code"] == "QUOTA_EXCEEDED"
    assert refused["details"]["exceeds"] == {"features": {"data.pii": "1 rows hold PII values"}}
    assert "feature data.pii in use" in refused["message"]
    assert served.ok("ops", "get_tenant", tenant="acme")["subscription"]["scheduled_plan"] is None


def test_enqueue_still_allows_one_unscheduled_run_per_tenant(served: Served) -> None:
    served.ok("ops", "change_plan", tenant="globex", plan="free")
    with served.services.db.session() as session:
        globex = session.scalar(select(Tenant).where(Tenant.slug == "globex"))
        enqueue(session, globex, PLAN_CHANGE, created_by="ops", input={})
        with pytest.raises(Conflict):
            enqueue(session, globex, PLAN_CHANGE, created_by="ops", input={})
        session.rollback()
