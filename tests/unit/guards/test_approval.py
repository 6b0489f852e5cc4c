"""Approval guard: when a call waits for a human decision, and the predicates that decide it
(a writing statement, a bulk change of rows, a plan change that moves the data)."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from paybill.server.core.errors import ApprovalRequired, ApprovalVoid, PaybillError
from paybill.server.core.ratelimit import RateLimiter
from paybill.server.core.vocabulary import ApprovalStatus, SubscriptionStatus
from paybill.server.domain.effects import effect_hash
from paybill.server.domain.tenants import create_tenant
from paybill.server.executors.dataplane.schema import TENANT_TABLES, tenant_metadata
from paybill.server.guards.approval import bulk_change, check_approval, isolation_move, sql_writes
from paybill.server.guards.spec import ApprovalRule
from paybill.server.store import Approval, Plan
from paybill.server.store.database import Database
from tests.support.guard_calls import (
    ACME_ADMIN,
    ACME_BOT,
    ADMIN,
    LIFECYCLE,
    OPERATOR,
    PRO,
    make_call,
    plan,
    services,
    shipped,
    spec,
    tenant,
)

ALWAYS = spec(requires_approval=True)
YES = ApprovalRule("probe_rule", "the probe says so.")


@pytest.mark.parametrize(
    ("situation", "tool", "dry_run", "expected"),
    [
        ("a tool that always asks", ALWAYS, False, "APPROVAL_REQUIRED"),
        ("its dry run", ALWAYS, True, None),
        ("a predicate that says yes", spec(approval_when=lambda call: YES), False, "ask"),
        ("its dry run", spec(approval_when=lambda call: YES), True, None),
        ("a predicate that says no", spec(approval_when=lambda call: None), False, None),
        ("a tool that never asks", spec(), False, None),
    ],
)
def test_gate(store: Database, situation, tool, dry_run, expected) -> None:
    with Session(store.engine) as session:
        target = create_tenant(
            session, LIFECYCLE, slug="acme", name="Acme", plan_id="free", actor="t"
        )
        call = make_call(
            tool,
            caller=OPERATOR,
            target=target,
            session=session,
            arguments={"tenant": "acme", "dry_run": dry_run},
        )
        if expected is None:
            check_approval(call)
            assert session.scalars(select(Approval)).all() == [], situation
            # A gated tool's dry run says what the real call would need; others say nothing.
            asks = tool.gated and situation != "a predicate that says no"
            assert (call.approval_need is not None) is (dry_run and asks), situation
            return
        with pytest.raises(ApprovalRequired) as refused:
            check_approval(call)
        pending = session.scalars(select(Approval)).one()
        assert (pending.status, pending.tool, pending.requested_by) == (
            ApprovalStatus.PENDING,
            "probe",
            "ops",
        )
        rule = "always" if tool.requires_approval else "probe_rule"
        assert refused.value.details == {
            "approval_id": pending.id,
            "expires_at": pending.expires_at.isoformat(),
            "rule": rule,
            "effect_summary": "probe on tenant acme",
            "effect_sha256": pending.effect_hash,
        }
        assert pending.effect is not None
        assert effect_hash(pending.effect) == pending.effect_hash
        assert refused.value.message.startswith("probe needs approval: ")
        assert f"Approval {pending.id} is pending" in refused.value.message


def _requested(session: Session, target) -> Approval:
    with pytest.raises(ApprovalRequired):
        check_approval(make_call(ALWAYS, caller=OPERATOR, target=target, session=session))
    return session.scalars(select(Approval)).one()


def test_an_approved_call_runs_while_its_effect_holds(store: Database) -> None:
    with Session(store.engine) as session:
        target = create_tenant(
            session, LIFECYCLE, slug="acme", name="Acme", plan_id="free", actor="t"
        )
        approval = _requested(session, target)
        call = make_call(ALWAYS, caller=OPERATOR, target=target, session=session, approval=approval)
        check_approval(call)  # passes: nothing changed
        assert approval.status is ApprovalStatus.PENDING


@pytest.mark.parametrize(
    ("situation", "change", "why"),
    [
        ("the tenant moved on", "tenant", "the effect changed since it was approved (tenant)"),
        ("the stored effect was edited", "effect", "tampered"),
        ("the stored hash was edited", "hash", "tampered"),
        ("no effect at all", "none", "the approval carries no effect"),
    ],
)
def test_an_approved_call_whose_effect_changed_is_void(
    store: Database, situation, change, why
) -> None:
    with Session(store.engine) as session:
        target = create_tenant(
            session, LIFECYCLE, slug="acme", name="Acme", plan_id="free", actor="t"
        )
        approval = _requested(session, target)
        if change == "tenant":
            target.state = "active"
        elif change == "effect":
            approval.effect = {**approval.effect, "summary": "something harmless"}
        elif change == "hash":
            approval.effect_hash = "0" * 64
        else:
            approval.effect, approval.effect_hash = None, None
        call = make_call(ALWAYS, caller=OPERATOR, target=target, session=session, approval=approval)
        with pytest.raises(ApprovalVoid) as refused:
            check_approval(call)
        assert approval.status is ApprovalStatus.VOID, situation
        assert approval.reason is not None and approval.reason.startswith(why), situation
        assert refused.value.details["reason"] == "effect_changed"


def test_asking_twice_is_one_pending_approval(store: Database) -> None:
    with Session(store.engine) as session:
        target = create_tenant(
            session, LIFECYCLE, slug="acme", name="Acme", plan_id="free", actor="t"
        )
        ids = []
        for _ in range(2):
            with pytest.raises(ApprovalRequired) as refused:
                check_approval(make_call(ALWAYS, caller=OPERATOR, target=target, session=session))
            ids.append(refused.value.details["approval_id"])
        assert ids[0] == ids[1]


@pytest.mark.parametrize(
    ("situation", "caller", "grants", "sql", "expected"),
    [
        ("a select", ADMIN, {"run_sql", "insert_rows"}, "SELECT name FROM customers", False),
        (
            "a writer's update",
            ADMIN,
            {"run_sql", "insert_rows"},
            "UPDATE customers SET name = 'x'",
            True,
        ),
        ("a writer's delete", ADMIN, {"run_sql", "insert_rows"}, "DELETE FROM customers", True),
        ("a reader's delete", ACME_BOT, {"run_sql"}, "DELETE FROM customers", "SQL_REJECTED"),
        ("a statement the guard refuses", ADMIN, {"run_sql"}, "SELECT 1; SELECT 2", "SQL_REJECTED"),
    ],
)
def test_sql_writes(situation, caller, grants, sql, expected) -> None:
    call = make_call(
        shipped("run_sql"),
        caller=caller,
        target=tenant(on=PRO),
        arguments={"tenant": "acme", "sql": sql},
        grants=frozenset(grants),
    )
    if isinstance(expected, bool):
        assert (sql_writes(call) is not None) is expected, situation
        assert call.sql is not None  # validated once, for the handler too
        return
    with pytest.raises(PaybillError) as refused:
        sql_writes(call)
    assert refused.value.code == expected, situation


@pytest.fixture
def tenant_rows() -> Iterator[Engine]:
    """acme's three customers in GB and FR, and five of globex's, in an in-memory data plane."""
    engine = create_engine("sqlite://", poolclass=StaticPool)
    tenant_metadata.create_all(engine)
    customers = TENANT_TABLES["customers"]
    with engine.begin() as conn:
        for country in ("GB", "GB", "FR"):
            conn.execute(customers.insert().values(tenant_id="t-acme", name="c", country=country))
        for _ in range(5):
            conn.execute(customers.insert().values(tenant_id="t-globex", name="g", country="GB"))
    yield engine
    engine.dispose()


def _gb(column: str = "country") -> list[dict]:
    return [{"column": column, "op": "eq", "value": "GB"}]


@pytest.mark.parametrize(
    ("situation", "tool", "filters", "table", "state", "calls_left", "expected"),
    [
        ("no filter", "delete_rows", [], "customers", "active", 9, True),
        ("no filter, nothing counted", "delete_rows", [], "customers", "suspended", 0, True),
        ("at the threshold", "delete_rows", _gb(), "customers", "active", 9, False),
        ("an update without a filter", "update_rows", [], "customers", "active", 9, True),
        (
            "over the threshold",
            "delete_rows",
            [{"column": "name", "op": "eq", "value": "c"}],
            "customers",
            "active",
            9,
            True,
        ),
        ("other tenants' rows do not count", "delete_rows", _gb(), "customers", "active", 9, False),
        (
            "counting on a suspended tenant",
            "delete_rows",
            _gb(),
            "customers",
            "suspended",
            9,
            "INVALID_TRANSITION",
        ),
        ("counting on an archived tenant", "delete_rows", _gb(), "customers", "archived", 9, False),
        (
            "counting over the quota",
            "delete_rows",
            _gb(),
            "customers",
            "active",
            0,
            "QUOTA_EXCEEDED",
        ),
        ("a hidden table", "delete_rows", _gb(), "casbin_rules", "active", 9, "INVALID_INPUT"),
        ("a hidden column", "delete_rows", _gb("email"), "customers", "active", 9, "INVALID_INPUT"),
    ],
)
def test_bulk_change(
    tenant_rows: Engine, situation, tool, filters, table, state, calls_left, expected
) -> None:
    limiter = RateLimiter(1000, clock=lambda: 0.0)
    for _ in range(9 - calls_left):
        limiter.take("tenant:t-acme", 9)
    settings = services().settings.model_copy(update={"bulk_threshold": 2})
    engines = SimpleNamespace(postgres=False, for_tenant=lambda route, read_only: tenant_rows)
    arguments = {"tenant": "acme", "table": table, "filters": filters}
    if tool == "update_rows":
        arguments["values"] = {"country": "NL"}
    call = make_call(
        shipped(tool),
        caller=ACME_ADMIN,
        target=tenant(state, on=plan(queries_per_minute=9)),
        arguments=arguments,
        services_=services(settings=settings, engines=engines, tenant_rate=limiter),
    )
    if isinstance(expected, bool):
        assert (bulk_change(call) is not None) is expected, situation
        return
    with pytest.raises(PaybillError) as refused:
        bulk_change(call)
    assert refused.value.code == expected, situation
    if expected == "INVALID_TRANSITION":  # counting is a read, and says so
        assert refused.value.details["action"] == "read data"


PAST_DUE = SubscriptionStatus.PAST_DUE


@pytest.mark.parametrize(
    ("situation", "current", "target", "migrate", "on_postgres", "status", "expected"),
    [
        ("the same plan", "free", "free", None, True, None, False),
        ("cross-isolation upgrade, PostgreSQL", "free", "pro", None, True, None, True),
        ("asked to keep the data in place", "free", "pro", False, True, None, False),
        ("cross-isolation downgrade", "enterprise", "pro", None, True, None, True),
        ("on SQLite nothing moves", "free", "pro", None, False, None, False),
        ("a move asked for on SQLite", "free", "pro", True, False, None, "INVALID_INPUT"),
        ("an upgrade while past due", "free", "pro", None, True, PAST_DUE, "BILLING_BLOCKED"),
        ("a downgrade while past due", "enterprise", "pro", None, True, PAST_DUE, True),
        ("an unknown plan", "free", "platinum", None, True, None, "NOT_FOUND"),
    ],
)
def test_isolation_move(
    store: Database, situation, current, target, migrate, on_postgres, status, expected
) -> None:
    with Session(store.engine) as session:
        plans = {p.id: p for p in session.scalars(select(Plan))}
        on = plans[current]
        arguments = {"tenant": "acme", "plan": target}
        if migrate is not None:
            arguments["migrate_isolation"] = migrate
        call = make_call(
            shipped("change_plan"),
            caller=OPERATOR,
            target=tenant(on=on, subscription=status or SubscriptionStatus.ACTIVE),
            arguments=arguments,
            session=session,
            services_=services(engines=SimpleNamespace(postgres=on_postgres)),
        )
        if isinstance(expected, bool):
            assert (isolation_move(call) is not None) is expected, situation
            return
        with pytest.raises(PaybillError) as refused:
            isolation_move(call)
        assert refused.value.code == expected, situation
