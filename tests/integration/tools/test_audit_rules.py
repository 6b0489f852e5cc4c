"""The audit rule of every stage of the guard chain: a refusal is recorded as
``{stage}:{code}`` under the stage that refused it, and readers of the audit log rely on
those strings, so they are pinned here (checks that once ran inside handlers keep their
``execute`` stage and its "allowed" decision, except in decide_approval, whose handler is
itself a gate: its refusals are "denied")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from paybill.server.core.ratelimit import RateLimiter
from paybill.server.store import AuditEvent, Plan, Tenant, WorkflowRun
from tests.support.served import Served

SUSPEND = {"tenant": "acme", "reason": "review", "idempotency_key": "k-audit"}
TWO_STATEMENTS = {"tenant": "acme", "sql": "SELECT 1; SELECT 2"}
BY_NAME = {
    "tenant": "acme",
    "table": "customers",
    "filters": [{"column": "name", "op": "eq", "value": "Ada"}],
}


@dataclass(frozen=True)
class Step:
    situation: str
    principal: str
    tool: str
    arguments: dict[str, Any]
    rule: str
    decision: str = "denied"


def _walk(acme_run: str, postgres: bool) -> list[Step]:
    allowed = "allowed"
    return [
        Step(
            "an unknown principal",
            "ghost",
            "get_tenant",
            {"tenant": "acme"},
            "authenticate:UNAUTHENTICATED",
        ),
        Step(
            "oversized arguments",
            "ops",
            "get_tenant",
            {"tenant": "a" * 20_000},
            "limits:INVALID_INPUT",
        ),
        Step(
            "an unknown argument",
            "ops",
            "get_tenant",
            {"tenant": "acme", "all": True},
            "validate:INVALID_INPUT",
        ),
        Step("an unknown tenant", "ops", "get_tenant", {"tenant": "nope"}, "authorise:NOT_FOUND"),
        Step("another tenant", "acme-bot", "get_tenant", {"tenant": "globex"}, "authorise:DENIED"),
        Step(
            "a feature the plan lacks",
            "acme-admin",
            "run_sql",
            {"tenant": "acme", "sql": "SELECT 1"},
            "authorise:DENIED",
        ),
        Step(
            "let through",
            "ops",
            "get_tenant",
            {"tenant": "acme"},
            "acl:operator:get_tenant",
            allowed,
        ),
        Step(
            "a first call with a key",
            "ops",
            "suspend_tenant",
            SUSPEND,
            "acl:operator:suspend_tenant",
            allowed,
        ),
        Step("its retry", "ops", "suspend_tenant", SUSPEND, "idempotent replay", allowed),
        Step(
            "the key reused",
            "ops",
            "suspend_tenant",
            {**SUSPEND, "tenant": "globex"},
            "idempotency:CONFLICT",
        ),
        Step(
            "an illegal lifecycle action",
            "ops",
            "suspend_tenant",
            {"tenant": "acme", "reason": "again"},
            "workflow:INVALID_TRANSITION",
        ),
        Step(
            "a read of a suspended tenant",
            "admin",
            "query_table",
            {"tenant": "acme", "table": "customers"},
            "execute:INVALID_TRANSITION",
            allowed,
        ),
        Step(
            "SQL on a suspended tenant",
            "admin",
            "run_sql",
            {"tenant": "acme", "sql": "SELECT name FROM customers"},
            "execute:INVALID_TRANSITION",
            allowed,
        ),
        Step(
            "a write to a suspended tenant",
            "admin",
            "insert_rows",
            {"tenant": "acme", "table": "customers", "rows": [{"name": "x"}]},
            "execute:INVALID_TRANSITION",
            allowed,
        ),
        Step(
            "counting a bulk delete on a suspended tenant",
            "admin",
            "delete_rows",
            BY_NAME,
            "workflow:INVALID_TRANSITION",
        ),
        Step("a refused statement", "admin", "run_sql", TWO_STATEMENTS, "workflow:SQL_REJECTED"),
        # A dry run asks the approval rules too (does it write?), so its statement is
        # refused where the real call's is.
        Step(
            "a refused statement, dry run",
            "admin",
            "run_sql",
            {**TWO_STATEMENTS, "dry_run": True},
            "workflow:SQL_REJECTED",
        ),
        Step(
            "a run that did not fail",
            "ops",
            "retry_workflow",
            {"workflow_id": acme_run},
            "execute:INVALID_INPUT",
            allowed,
        ),
        Step(
            "globex falls behind",
            "billing",
            "set_billing_state",
            {"tenant": "globex", "status": "past_due"},
            "acl:billing_agent:set_billing_state",
            allowed,
        ),
        Step(
            "an upgrade while past due",
            "ops",
            "change_plan",
            {"tenant": "globex", "plan": "enterprise", "migrate_isolation": False},
            "execute:BILLING_BLOCKED",
            allowed,
        ),
        # Where the data would move (PostgreSQL), the approval predicate refuses it first.
        Step(
            "an upgrade that moves the data, past due",
            "ops",
            "change_plan",
            {"tenant": "globex", "plan": "enterprise"},
            "workflow:BILLING_BLOCKED" if postgres else "execute:BILLING_BLOCKED",
            "denied" if postgres else allowed,
        ),
        Step(
            "a data call within the quota",
            "admin",
            "query_table",
            {"tenant": "globex", "table": "customers"},
            "acl:platform_admin:query_table",
            allowed,
        ),
        Step(
            "a data call over the quota",
            "admin",
            "query_table",
            {"tenant": "globex", "table": "customers"},
            "execute:QUOTA_EXCEEDED",
            allowed,
        ),
        Step(
            "an approval needed",
            "ops",
            "offboard_tenant",
            {"tenant": "globex", "confirm_slug": "globex", "reason": "contract end"},
            "workflow:APPROVAL_REQUIRED",
        ),
    ]


def _last(served: Served) -> AuditEvent:
    with served.services.db.session() as session:
        return session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()


def test_every_stage_records_its_rule(served: Served) -> None:
    with served.services.db.session() as session:
        acme = session.scalar(select(Tenant.id).where(Tenant.slug == "acme"))
        acme_run = session.scalar(select(WorkflowRun.id).where(WorkflowRun.tenant_id == acme))
        # globex's plan allows one data call a minute, so the second is over the quota.
        session.execute(update(Plan).where(Plan.id == "pro").values(queries_per_minute=1))
        session.commit()
    for step in _walk(acme_run, served.services.engines.postgres):
        outcome = served.call(step.principal, step.tool, **step.arguments)
        event = _last(served)
        assert (event.tool, event.decision.value, event.rule) == (
            step.tool,
            step.decision,
            step.rule,
        ), step.situation
        if step.rule.startswith(("acl:", "idempotent")):
            assert not outcome.is_error, (step.situation, outcome.payload)
        else:
            assert event.outcome == event.error_code == outcome.payload["error"]["code"]


def test_an_approved_call_is_recorded_with_its_approver(served: Served) -> None:
    arguments = {"tenant": "globex", "confirm_slug": "globex", "reason": "contract end"}
    pending = served.error("ops", "offboard_tenant", **arguments)["details"]["approval_id"]
    served.ok("boss", "decide_approval", approval_id=pending, decision="approve", reason="checked")
    with served.services.db.session() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(2))
        # On PostgreSQL an event's id is drawn when its call starts (the deciding call's
        # first), on SQLite when it is appended (the executed call's first): by tool.
        by_tool = {event.tool: event for event in events}
        executed, decided = by_tool["offboard_tenant"], by_tool["decide_approval"]
    assert (executed.principal, executed.tool, executed.rule) == (
        "ops",
        "offboard_tenant",
        f"approval:{pending}:approved_by:boss",
    )
    assert (decided.tool, decided.rule) == ("decide_approval", "acl:approver:decide_approval")


def test_a_refused_decision_is_denied(served: Served) -> None:
    """The four-eyes rule refuses a self-approval inside decide_approval's handler (stage
    ``execute``); it is a denial, not an allowed call that failed. Other handlers' refusals
    keep "allowed" (the walk above)."""
    arguments = {"tenant": "globex", "confirm_slug": "globex", "reason": "contract end"}
    pending = served.error("admin", "offboard_tenant", **arguments)["details"]["approval_id"]
    refused = served.error(
        "admin", "decide_approval", approval_id=pending, decision="approve", reason="mine"
    )
    assert refused["code"] == "DENIED"
    event = _last(served)
    assert (event.tool, event.decision.value, event.rule, event.principal) == (
        "decide_approval",
        "denied",
        "execute:DENIED",
        "admin",
    )


def test_an_unknown_tool_is_audited(served: Served) -> None:
    outcome = served.pipeline.unknown_tool("drop_everything", "ops")
    assert outcome.is_error
    assert outcome.payload["error"]["code"] == "NOT_FOUND"
    assert outcome.payload["error"]["details"] == {"tool": "drop_everything"}
    event = _last(served)
    assert (event.tool, event.decision.value, event.rule, event.principal, event.arguments) == (
        "<unknown>",
        "denied",
        "validate:NOT_FOUND",
        "ops",
        {"tool": "drop_everything"},
    )


def test_unknown_tools_count_against_the_callers_rate(served: Served) -> None:
    served.services.rate_limiter = RateLimiter(per_minute=2, clock=lambda: 0.0)
    codes = [served.pipeline.unknown_tool("nope", "ops").payload["error"]["code"] for _ in "abc"]
    assert codes == ["NOT_FOUND", "NOT_FOUND", "QUOTA_EXCEEDED"]
    event = _last(served)
    assert (event.tool, event.decision.value, event.rule) == (
        "<unknown>",
        "denied",
        "limits:QUOTA_EXCEEDED",
    )
