"""Bulk access to one tenant's rows at one route, as the store's own user.

Exports, checksums, imports and relocations read and write whole tenants, so they run on the
administrative engine of the route (``Engines.for_route``), not as the tenant's role: a route
that was made read-only, or one being filled before the tenant is switched to it, must still be
readable and loadable. Every statement filters on ``tenant_id`` explicitly, because pooled
tables hold other tenants' rows. On PostgreSQL the store user must bypass row-level security
(superuser or ``BYPASSRLS``), as ``objects.drop`` already requires.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Table, func, select, text

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.core.vocabulary import Isolation
from paybill.server.executors.dataplane import migrate
from paybill.server.executors.dataplane.engines import Engines
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.executors.dataplane.rowcodec import encode_row
from paybill.server.executors.dataplane.schema import TENANT_TABLES

_BATCH = 1000


def require_backend(engines: Engines, route: TenantRoute) -> None:
    """Raises:
    ProvisioningFailed: bridge or silo routes on the embedded SQLite store.
    """
    if not engines.postgres and route.isolation is not Isolation.POOLED:
        raise ProvisioningFailed(
            f"{route.isolation.value} isolation needs PostgreSQL; the embedded SQLite store "
            "keeps pooled tenants only.",
            isolation=route.isolation.value,
        )


@contextmanager
def route_transaction(engines: Engines, route: TenantRoute, *, write: bool) -> Iterator[Connection]:
    """A transaction at ``route`` with its schema pinned; commits on a clean exit.

    Reads run in one snapshot (PostgreSQL: READ ONLY at REPEATABLE READ; SQLite: a deferred
    transaction), so an export or a copy never mixes rows from before and after a write.

    Raises:
        ProvisioningFailed: bridge or silo routes on SQLite.
    """
    require_backend(engines, route)
    engine = engines.for_route(route, read_only=not write)
    if engines.postgres and not write:
        engine = engine.execution_options(isolation_level="REPEATABLE READ")
    with engine.begin() as conn:
        if engines.postgres:
            if not write:
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            conn.execute(text("SELECT set_config('search_path', :s, true)"), {"s": route.schema})
        elif not write:
            # The SQLite reader engine runs each statement on its own; one snapshot needs BEGIN.
            conn.exec_driver_sql("BEGIN")
        yield conn


def revision(conn: Connection, route: TenantRoute) -> str | None:
    """The tenant-schema alembic revision of the route's storage target."""
    return migrate.current(conn, route.schema if conn.dialect.name == "postgresql" else None)


def require_head(conn: Connection, route: TenantRoute) -> str:
    """Raises:
    ProvisioningFailed: the route's tables are not at the tenant-schema head (the row format
        is that of the head revision).
    """
    current, head = revision(conn, route), migrate.head()
    if current != head or head is None:
        raise ProvisioningFailed(
            f"The {route.isolation.value} storage of tenant {route.tenant_id} is at tenant-schema "
            f"revision {current}, not {head}; run `paybill tenants migrate` first.",
            tenant=route.tenant_id,
            revision=current,
            head=head,
        )
    return head


def read_rows(conn: Connection, table: Table, tenant_id: str) -> Iterator[dict[str, Any]]:
    """The tenant's rows of ``table`` as JSON objects (rowcodec), in primary-key order."""
    statement = (
        select(table)
        .where(table.c.tenant_id == tenant_id)
        .order_by(table.c.id)
        .execution_options(yield_per=_BATCH)
    )
    for row in conn.execute(statement).mappings():
        yield encode_row(table, row)


def row_counts(conn: Connection, tenant_id: str) -> dict[str, int]:
    return {
        name: conn.execute(
            select(func.count()).select_from(table).where(table.c.tenant_id == tenant_id)
        ).scalar_one()
        for name, table in TENANT_TABLES.items()
    }


def clear(conn: Connection, tenant_id: str) -> None:
    """Delete the tenant's rows from every tenant table at the connection's route."""
    for table in TENANT_TABLES.values():
        conn.execute(table.delete().where(table.c.tenant_id == tenant_id))
