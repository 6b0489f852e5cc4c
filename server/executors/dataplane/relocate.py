"""Move one tenant's rows between isolation models, as steps a workflow runs in order:

    set_read_only(source, True) → copy_tenant → verify_copy → (switch the tenant's record)
    → cleanup(source, live=target)

(``objects.provision`` of the target route comes first.) Each step can be re-run after a
crash. The tenant's login role is one per tenant id and serves every route, so it is never
dropped here: provisioning the target grants it the new objects, cleanup revokes the old.
SQLite keeps pooled tenants only, so there is nothing to relocate there.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.core.vocabulary import Isolation
from paybill.server.executors.dataplane import objects, tenant_rows
from paybill.server.executors.dataplane.checksums import (
    TableChecksum,
    checksums_of,
    load_order,
    require_equal,
    table_checksums,
)
from paybill.server.executors.dataplane.engines import Engines
from paybill.server.executors.dataplane.loader import Loader, LoadReport, TargetNotEmpty
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.executors.dataplane.schema import TENANT_TABLES

CopyReport = LoadReport


def _pair(engines: Engines, source: TenantRoute, target: TenantRoute) -> None:
    if source.tenant_id != target.tenant_id or source.isolation is target.isolation:
        raise ProvisioningFailed(
            "A relocation moves one tenant between two isolation models; got "
            f"{source.tenant_id}/{source.isolation.value} → "
            f"{target.tenant_id}/{target.isolation.value}.",
        )
    tenant_rows.require_backend(engines, source)
    tenant_rows.require_backend(engines, target)


def copy_tenant(engines: Engines, source: TenantRoute, target: TenantRoute) -> CopyReport:
    """Copy every row of the tenant from ``source`` to the provisioned ``target`` route.

    Reads one snapshot of the source (which it never writes) and loads the target in one
    transaction that commits only if the target's checksums equal the source's. Re-runnable:
    a target already holding exactly the source's rows (an earlier run) is cleared and loaded
    again; any other rows there are refused, so a live tenant's data is never overwritten.

    Raises:
        TargetNotEmpty: the target holds rows of the tenant that are not a copy of the source.
        ChecksumMismatch: the loaded rows differ from the source's (nothing is committed).
        ProvisioningFailed: not one tenant's two routes, bridge/silo on SQLite, or either
            route not at the tenant-schema head (provision the target, migrate the source).
    """
    _pair(engines, source, target)
    tenant = source.tenant_id
    with tenant_rows.route_transaction(engines, source, write=False) as src:
        tenant_rows.require_head(src, source)
        expected = checksums_of(src, tenant)
        with tenant_rows.route_transaction(engines, target, write=True) as dst:
            tenant_rows.require_head(dst, target)
            if any(tenant_rows.row_counts(dst, tenant).values()):
                held = checksums_of(dst, tenant)
                if held != expected:
                    raise TargetNotEmpty(
                        f"The {target.isolation.value} route of tenant {tenant} holds rows that "
                        "are not a copy of its current data; clean it up (relocate.cleanup) and "
                        "provision it again before copying.",
                        tables=sorted(t for t in held if held[t] != expected.get(t)),
                    )
                tenant_rows.clear(dst, tenant)
            loader = Loader(dst, target)
            for name in load_order():
                loader.load(name, tenant_rows.read_rows(src, TENANT_TABLES[name], tenant))
            report = loader.finish()
            report.checksums = checksums_of(dst, tenant)
            require_equal(expected, report.checksums, what=f"Copy of tenant {tenant}")
    return report


def verify_copy(
    engines: Engines, source: TenantRoute, target: TenantRoute
) -> dict[str, TableChecksum]:
    """The per-table checksums both routes share.

    Raises:
        ChecksumMismatch: a table's count or checksum differs (every such table is named).
        ProvisioningFailed: not one tenant's two routes, or bridge/silo on SQLite.
    """
    _pair(engines, source, target)
    expected = table_checksums(engines, source)
    require_equal(
        expected, table_checksums(engines, target), what=f"Copy of tenant {source.tenant_id}"
    )
    return expected


def set_read_only(engines: Engines, route: TenantRoute, read_only: bool) -> dict[str, Any]:
    """Revoke (or give back) the tenant role's INSERT, UPDATE and DELETE at ``route``.

    Idempotent. On SQLite there are no roles: nothing is enforced (``enforced`` is false).

    Raises:
        ProvisioningFailed: bridge or silo on SQLite.
    """
    step = objects.archive if read_only else objects.unarchive
    return {**step(engines, route), "enforced": engines.postgres}


def cleanup(engines: Engines, route: TenantRoute, *, live: TenantRoute) -> dict[str, Any]:
    """Remove the tenant's old storage at ``route`` after it was switched to ``live``.

    pooled: its rows leave the shared tables and its role loses every grant on the pool;
    bridge: its schema is dropped; silo: its database is dropped. The role stays (``live``
    uses it). Idempotent.

    Raises:
        ProvisioningFailed: ``route`` and ``live`` are not one tenant's two routes, or
            bridge/silo on SQLite.
    """
    _pair(engines, route, live)
    # Pooled connections of the role may point at the old database; they reconnect lazily.
    engines.forget_tenant(route)
    if route.isolation is Isolation.SILO:
        engines.drop_database(route.database or "")
        return {"removed": "database", "database": route.database}
    with engines.shared.begin() as conn:
        if route.isolation is Isolation.BRIDGE:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{route.schema}" CASCADE'))
            return {"removed": "schema", "schema": route.schema}
        if engines.postgres:
            conn.execute(text("SELECT set_config('search_path', :s, true)"), {"s": route.schema})
        tenant_rows.clear(conn, route.tenant_id)
        if engines.postgres:
            for kind in ("TABLES", "SEQUENCES"):
                conn.execute(
                    text(f'REVOKE ALL ON ALL {kind} IN SCHEMA "{route.schema}" FROM {route.role}')
                )
            conn.execute(text(f'REVOKE ALL ON SCHEMA "{route.schema}" FROM {route.role}'))
    return {"removed": "rows", "schema": route.schema}
