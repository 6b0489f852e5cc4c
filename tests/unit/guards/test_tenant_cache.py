"""Tenant cache: read-only calls reuse a tenant loaded under the same tenants version, as
instances of their own session; a call that may write, or one that saw another version,
loads the row itself."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from paybill.server.domain.tenant_snapshots import TenantSnapshot, attach, snapshot
from paybill.server.domain.tenants import create_tenant
from paybill.server.guards.tenant_cache import cached_tenant
from paybill.server.store import Plan, Tenant
from paybill.server.store.database import Database
from tests.support.guard_calls import LIFECYCLE, make_call, services, shipped


def _loader(session: Session, loads: list[str]) -> Callable[[], Tenant | None]:
    def load() -> Tenant | None:
        loads.append("acme")
        return session.scalar(select(Tenant).where(Tenant.slug == "acme"))

    return load


def _call(session: Session, tool: str, shared, arguments: dict):
    return make_call(shipped(tool), session=session, services_=shared, arguments=arguments)


def test_read_only_calls_share_a_snapshot_until_the_version_moves(store: Database) -> None:
    with store.session() as session:
        create_tenant(session, LIFECYCLE, slug="acme", name="Acme", plan_id="free", actor="t")
    shared, loads = services(), []
    with Session(store.engine) as first:
        found = cached_tenant(
            _call(first, "get_tenant", shared, {"tenant": "acme"}),
            "slug:acme",
            _loader(first, loads),
        )
        assert found is not None
    with Session(store.engine) as second:
        again = cached_tenant(
            _call(second, "get_tenant", shared, {"tenant": "acme"}),
            "slug:acme",
            _loader(second, loads),
        )
        assert loads == ["acme"]  # the second call ran no load
        assert again is not found and again in second  # its own session's instance
        assert (again.slug, again.plan.id, again.subscription.status) == (
            "acme",
            "free",
            found.subscription.status,
        )
        assert (
            again.plan.features == found.plan.features
            and again.plan.features is not found.plan.features
        )
        assert not second.dirty and not second.new
    with store.session() as session:  # the plan changes: the tenants version moves
        session.execute(update(Plan).where(Plan.id == "free").values(max_rows=7))
    with Session(store.engine) as third:
        fresh = cached_tenant(
            _call(third, "get_tenant", shared, {"tenant": "acme"}),
            "slug:acme",
            _loader(third, loads),
        )
        assert loads == ["acme", "acme"]
        assert fresh.plan.max_rows == 7


def test_a_call_that_may_write_always_loads_the_row(store: Database) -> None:
    with store.session() as session:
        create_tenant(session, LIFECYCLE, slug="acme", name="Acme", plan_id="free", actor="t")
    shared, loads = services(), []
    for _ in range(2):
        with Session(store.engine) as session:
            call = _call(session, "suspend_tenant", shared, {"tenant": "acme", "reason": "test"})
            assert cached_tenant(call, "slug:acme", _loader(session, loads)) is not None
    assert loads == ["acme", "acme"]


@pytest.mark.parametrize(
    ("sql", "loaded"),
    [
        ("SELECT id FROM customers", ["acme"]),  # a read: the second call uses the cache
        ("UPDATE customers SET name = 'x' WHERE id = 1", ["acme", "acme"]),
        ("DELETE FROM customers", ["acme", "acme"]),
        ("SELECT 1; DELETE FROM customers", ["acme", "acme"]),  # refused: loads as a write
    ],
)
def test_run_sql_uses_the_cache_only_for_a_read(
    store: Database, sql: str, loaded: list[str]
) -> None:
    with store.session() as session:
        create_tenant(session, LIFECYCLE, slug="acme", name="Acme", plan_id="free", actor="t")
    shared, loads = services(), []
    for _ in range(2):
        with Session(store.engine) as session:
            call = _call(session, "run_sql", shared, {"tenant": "acme", "sql": sql})
            assert cached_tenant(call, "slug:acme", _loader(session, loads)) is not None
    assert loads == loaded


def _snapshot_of_acme(store: Database) -> TenantSnapshot:
    with store.session() as session:
        create_tenant(session, LIFECYCLE, slug="acme", name="Acme", plan_id="free", actor="t")
    with Session(store.engine) as session:
        return snapshot(session.scalars(select(Tenant).where(Tenant.slug == "acme")).one())


def test_attaching_a_snapshot_runs_no_statement_and_leaves_nothing_to_flush(
    store: Database,
) -> None:
    snap = _snapshot_of_acme(store)
    statements: list[str] = []

    def seen(_conn, _cursor, statement: str, *_rest) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        with Session(store.engine) as session:
            tenant = attach(session, snap)
            assert (tenant.slug, tenant.plan.id, tenant.subscription.tenant) == (
                "acme",
                "free",
                tenant,
            )
            assert not session.dirty and not session.new
            tenant.plan.features.append("changed")  # a copy: the snapshot keeps its own
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert statements == []
    assert "changed" not in snap.plan["features"]


def test_a_snapshot_attached_where_its_plan_is_loaded_keeps_that_plan(store: Database) -> None:
    snap = _snapshot_of_acme(store)
    with Session(store.engine) as session:
        plan = session.get_one(Plan, "free")
        tenant = attach(session, snap)
        assert tenant.plan is plan and tenant in session
        assert not session.dirty and not session.new
