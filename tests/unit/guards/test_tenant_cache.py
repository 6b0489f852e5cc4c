"""Tenant cache: read-only calls reuse a tenant loaded under the same tenants version, as
instances of their own session; a call that may write, or one that saw another version,
loads the row itself."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

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
