"""Who may lift a suspension: billing may resume only what billing suspended; a tenant an
operator or platform admin suspended stays suspended until one of them resumes it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from paybill.server.domain.billing_policy import BILLING_ACTOR
from paybill.server.store import Tenant
from tests.support.served import Served

# (who suspended, who resumes, the answer): "billing-policy" is the billing tick's actor.
TABLE = [
    ("ops", "billing", "DENIED"),
    ("admin", "billing", "DENIED"),
    ("ops", "ops", "ok"),
    ("ops", "admin", "ok"),
    ("admin", "ops", "ok"),
    ("billing", "billing", "ok"),
    ("billing", "ops", "ok"),
    (BILLING_ACTOR, "billing", "ok"),
    (BILLING_ACTOR, "admin", "ok"),
]


def _suspend(served: Served, by: str) -> None:
    if by != BILLING_ACTOR:
        served.ok(by, "suspend_tenant", tenant="acme", reason="security review")
        return
    with served.services.db.session() as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == "acme")).one()
        served.services.lifecycle.apply(
            session, tenant, "suspend", actor=BILLING_ACTOR, reason="unpaid past grace"
        )


@pytest.mark.parametrize(("suspender", "resumer", "answer"), TABLE)
def test_who_may_resume(served: Served, suspender: str, resumer: str, answer: str) -> None:
    _suspend(served, suspender)
    outcome = served.call(resumer, "resume_tenant", tenant="acme", reason="lift it")
    state = served.ok("ops", "get_tenant", tenant="acme")["state"]
    if answer == "ok":
        assert not outcome.is_error, outcome.payload
        assert state == "active"
        return
    error = outcome.payload["error"]
    assert (error["code"], state) == (answer, "suspended")
    assert error["details"]["suspended_by"] == suspender
    assert "operator or a platform admin" in error["message"]


def test_a_refused_resume_is_audited_and_a_dry_run_refused_too(served: Served) -> None:
    _suspend(served, "ops")
    dry = served.error("billing", "resume_tenant", tenant="acme", reason="peek", dry_run=True)
    assert dry["code"] == "DENIED"
    served.error("billing", "resume_tenant", tenant="acme", reason="lift it")
    events = served.ok("admin", "get_audit_log", tenant="acme", limit=1)["events"]
    assert (events[0]["principal"], events[0]["rule"], events[0]["decision"]) == (
        "billing",
        "workflow:DENIED",
        "denied",
    )
