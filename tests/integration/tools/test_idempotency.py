"""Same key + same arguments: one effect, same result. Same key + other arguments: CONFLICT."""

from __future__ import annotations

from sqlalchemy import func, select

from paybill.server.store import AuditEvent, LifecycleTransition, Tenant
from tests.support.served import Served


def _count(served: Served, model: type) -> int:
    with served.services.db.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_same_key_twice_has_one_effect(served: Served) -> None:
    arguments = {"slug": "initech", "name": "Initech", "plan": "free", "idempotency_key": "k-0001"}
    first = served.ok("ops", "create_tenant", **arguments)
    tenants, transitions = _count(served, Tenant), _count(served, LifecycleTransition)
    second = served.ok("ops", "create_tenant", **arguments)
    assert second == first
    assert (_count(served, Tenant), _count(served, LifecycleTransition)) == (tenants, transitions)
    with served.services.db.session() as session:
        last = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert (last.tool, last.outcome) == ("create_tenant", "replayed")


def test_same_key_other_arguments_is_a_conflict(served: Served) -> None:
    served.ok("ops", "suspend_tenant", tenant="acme", reason="first", idempotency_key="k-0002")
    error = served.error(
        "ops", "suspend_tenant", tenant="globex", reason="first", idempotency_key="k-0002"
    )
    assert error["code"] == "CONFLICT"
    assert served.ok("ops", "get_tenant", tenant="globex")["state"] == "active"


def test_replay_returns_the_first_result_even_when_state_moved_on(served: Served) -> None:
    args = {"tenant": "acme", "reason": "maintenance", "idempotency_key": "k-0003"}
    first = served.ok("ops", "suspend_tenant", **args)
    served.ok("ops", "resume_tenant", tenant="acme", reason="done")
    assert served.ok("ops", "suspend_tenant", **args) == first
    assert served.ok("ops", "get_tenant", tenant="acme")["state"] == "active"


def test_keys_are_per_principal(served: Served) -> None:
    served.ok("ops", "suspend_tenant", tenant="acme", reason="ops", idempotency_key="k-0004")
    error = served.error(
        "admin", "suspend_tenant", tenant="acme", reason="ops", idempotency_key="k-0004"
    )
    assert error["code"] == "INVALID_TRANSITION"  # executed for admin: not ops' replay


def test_dry_run_changes_nothing_and_is_not_remembered(served: Served) -> None:
    before = _count(served, Tenant)
    preview = served.ok(
        "ops",
        "create_tenant",
        slug="hooli",
        name="Hooli",
        plan="free",
        dry_run=True,
        idempotency_key="k-0005",
    )
    assert preview["dry_run"] is True and preview["workflow"] is None
    assert preview["tenant"]["isolation"] == "pooled"
    assert _count(served, Tenant) == before
    created = served.ok(
        "ops", "create_tenant", slug="hooli", name="Hooli", plan="free", idempotency_key="k-0005"
    )
    assert created["dry_run"] is False
    assert _count(served, Tenant) == before + 1
