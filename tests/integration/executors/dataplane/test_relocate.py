"""Moving a tenant between isolation models (PostgreSQL): every row survives each hop, other
tenants are untouched, the tenant's role follows its data, and a failed copy leaves the
source intact and the copy re-runnable. SQLite (pooled only) refuses relocations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.core.vocabulary import Isolation
from paybill.server.executors.dataplane import relocate
from paybill.server.executors.dataplane.checksums import ChecksumMismatch, table_checksums
from paybill.server.executors.dataplane.loader import Loader, TargetNotEmpty
from paybill.server.executors.dataplane.naming import POOL_SCHEMA, TenantRoute
from paybill.server.executors.dataplane.objects import provision
from paybill.server.executors.dataplane.tenant_rows import route_transaction
from tests.support.tenant_data import (
    Lab,
    add_customer,
    customer_count,
    open_lab,
    seed,
    tenant_view,
)

pg_only = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
POOLED, BRIDGE, SILO = Isolation.POOLED, Isolation.BRIDGE, Isolation.SILO


@pytest.fixture
def lab(store_url: str, tmp_path: Path) -> Iterator[Lab]:
    yield from open_lab(store_url, tmp_path)


def _move(lab: Lab, source: TenantRoute, isolation: Isolation) -> TenantRoute:
    """The workflow's steps, in order."""
    target = TenantRoute(source.tenant_id, isolation)
    provision(lab.engines, target)
    relocate.set_read_only(lab.engines, source, True)
    relocate.copy_tenant(lab.engines, source, target)
    relocate.verify_copy(lab.engines, source, target)
    # Switched: the tenant's role reads the new route while the old one still exists.
    assert customer_count(lab.engines, target) == customer_count(lab.engines, source)
    relocate.cleanup(lab.engines, source, live=target)
    return target


def _privileges(lab: Lab, role: str, schema: str) -> tuple[bool, bool]:
    with lab.engines.shared.connect() as conn:
        row = conn.execute(
            text(
                "SELECT has_schema_privilege(:r, :s, 'USAGE'), "
                "has_table_privilege(:r, :t, 'SELECT')"
            ),
            {"r": role, "s": schema, "t": f'"{schema}".customers'},
        ).one()
    return row[0], row[1]


def _cannot_read(lab: Lab, route: TenantRoute) -> bool:
    try:
        customer_count(lab.engines, route)
    except DBAPIError:
        return True  # no grant, no schema, or no database
    return False


@pg_only
def test_pooled_bridge_silo_pooled_preserves_every_row(lab: Lab) -> None:
    engines = lab.engines
    route, bystander = lab.tenant(POOLED), lab.tenant(POOLED)
    seed(engines, route, "mover")
    seed(engines, bystander, "stays")
    original, other = table_checksums(engines, route), table_checksums(engines, bystander)
    view = [tuple(r) for r in tenant_view(engines, route)]

    for isolation in (BRIDGE, SILO, POOLED):
        old = route
        route = _move(lab, old, isolation)

        assert table_checksums(engines, route) == original, isolation
        assert table_checksums(engines, bystander) == other, isolation
        assert [tuple(r) for r in tenant_view(engines, route)] == view
        assert customer_count(engines, route) == 3
        assert _cannot_read(lab, old), f"{old.isolation} still readable after the move"
        # Writable at the new route (sequence past the copied ids), then back as it was.
        new_id = add_customer(engines, route, "temporary")
        with route_transaction(engines, route, write=True) as conn:
            conn.execute(text("DELETE FROM customers WHERE id = :i"), {"i": new_id})

        if old.isolation is POOLED:
            assert _privileges(lab, route.role, POOL_SCHEMA) == (False, False)
            assert _privileges(lab, route.role, route.schema) == (True, True)
            with engines.shared.connect() as conn:
                left = conn.execute(
                    text("SELECT count(*) FROM tenant_pool.customers WHERE tenant_id = :t"),
                    {"t": route.tenant_id},
                ).scalar()
            assert left == 0
    assert table_checksums(engines, bystander) == other


@pg_only
def test_bridge_to_pool_renumbers_colliding_ids(lab: Lab) -> None:
    engines = lab.engines
    pooled = lab.tenant(POOLED)
    seed(engines, pooled, "pool")  # takes pool ids 1..3
    route = lab.tenant(BRIDGE)
    seed(engines, route, "bridged")  # its own sequence: ids 1..3 again
    original, other = table_checksums(engines, route), table_checksums(engines, pooled)
    view = [tuple(r) for r in tenant_view(engines, route)]
    target = TenantRoute(route.tenant_id, POOLED)
    provision(engines, target)

    report = relocate.copy_tenant(engines, route, target)

    assert "customers" in report.renumbered
    assert relocate.verify_copy(engines, route, target) == original
    relocate.cleanup(engines, route, live=target)
    assert [tuple(r) for r in tenant_view(engines, target)] == view
    assert table_checksums(engines, pooled) == other
    add_customer(engines, target, "after the move")


@pg_only
def test_failure_mid_copy_leaves_the_source_intact(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    engines = lab.engines
    source = lab.tenant(POOLED)
    seed(engines, source, "src")
    original = table_checksums(engines, source)
    target = TenantRoute(source.tenant_id, BRIDGE)
    provision(engines, target)
    relocate.set_read_only(engines, source, True)
    real_load, calls = Loader.load, []

    def failing_load(self: Loader, name: str, rows: object) -> int:
        calls.append(name)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real_load(self, name, rows)  # type: ignore[arg-type]

    monkeypatch.setattr(Loader, "load", failing_load)
    with pytest.raises(RuntimeError, match="disk full"):
        relocate.copy_tenant(engines, source, target)
    monkeypatch.undo()

    assert table_checksums(engines, source) == original
    assert customer_count(engines, source) == 3  # still readable by the tenant's role
    assert all(c.rows == 0 for c in table_checksums(engines, target).values())
    report = relocate.copy_tenant(engines, source, target)
    assert report.checksums == original
    # Re-running after a completed copy (a crash before the step was recorded) is harmless.
    assert relocate.copy_tenant(engines, source, target).checksums == original
    assert relocate.verify_copy(engines, source, target) == original


@pg_only
def test_copy_refuses_to_overwrite_other_rows_at_the_target(lab: Lab) -> None:
    engines = lab.engines
    source = lab.tenant(POOLED)
    seed(engines, source, "src")
    target = TenantRoute(source.tenant_id, SILO)
    provision(engines, target)
    add_customer(engines, target, "written at the target")
    held = table_checksums(engines, target)

    with pytest.raises(TargetNotEmpty) as refused:
        relocate.copy_tenant(engines, source, target)

    assert "customers" in refused.value.details["tables"]
    assert table_checksums(engines, target) == held


@pg_only
def test_verify_copy_names_the_differing_table(lab: Lab) -> None:
    engines = lab.engines
    source = lab.tenant(POOLED)
    seed(engines, source, "src")
    target = TenantRoute(source.tenant_id, BRIDGE)
    provision(engines, target)
    relocate.copy_tenant(engines, source, target)
    with route_transaction(engines, target, write=True) as conn:
        conn.execute(text("UPDATE invoices SET amount_cents = amount_cents + 1"))

    with pytest.raises(ChecksumMismatch) as caught:
        relocate.verify_copy(engines, source, target)

    assert list(caught.value.details["tables"]) == ["invoices"]
    assert "invoices" in caught.value.message


@pg_only
@pytest.mark.parametrize("isolation", list(Isolation))
def test_read_only_is_reversible(lab: Lab, isolation: Isolation) -> None:
    engines = lab.engines
    route = lab.tenant(isolation)
    add_customer(engines, route, "before")

    assert relocate.set_read_only(engines, route, True) == {"read_only": True, "enforced": True}
    with pytest.raises(DBAPIError, match="permission denied"):
        add_customer(engines, route, "while read-only")
    assert customer_count(engines, route) == 1
    relocate.set_read_only(engines, route, True)  # idempotent

    relocate.set_read_only(engines, route, False)
    add_customer(engines, route, "after")
    assert customer_count(engines, route) == 2


def test_relocation_is_refused_where_it_cannot_apply(lab: Lab) -> None:
    engines = lab.engines
    route = lab.tenant(POOLED)
    same = TenantRoute(route.tenant_id, POOLED)
    with pytest.raises(ProvisioningFailed, match="two isolation models"):
        relocate.copy_tenant(engines, route, same)
    other_tenant = TenantRoute(lab.tenant(POOLED).tenant_id, BRIDGE)
    with pytest.raises(ProvisioningFailed, match="two isolation models"):
        relocate.cleanup(engines, route, live=other_tenant)
    if not engines.postgres:
        with pytest.raises(ProvisioningFailed, match="needs PostgreSQL"):
            relocate.copy_tenant(engines, route, TenantRoute(route.tenant_id, BRIDGE))
