"""Create, archive and drop a tenant's database objects for its isolation model.

PostgreSQL: pooled tenants share ``tenant_pool`` tables under FORCE'd row-level security;
bridge tenants own a schema; silo tenants own a database. Each tenant gets a login role that
is neither owner nor superuser nor BYPASSRLS and is granted only its own objects.
SQLite (embedded, single user): pooled only, tables in the store's own file.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.core.vocabulary import Isolation
from paybill.server.executors.dataplane import migrate
from paybill.server.executors.dataplane.engines import Engines
from paybill.server.executors.dataplane.naming import POOL_SCHEMA, TenantRoute
from paybill.server.executors.dataplane.schema import TENANT_TABLES

# Row visible only inside a transaction that set app.tenant_id to the row's tenant, and only
# to that tenant's own role: a raw session of another tenant's role cannot read it even if it
# sets app.tenant_id itself.
_POLICY = (
    "tenant_id = current_setting('app.tenant_id', true) "
    "AND current_user = 'pb_t_' || replace(tenant_id, '-', '')"
)


def _require_postgres(engines: Engines, route: TenantRoute) -> None:
    if not engines.postgres and route.isolation is not Isolation.POOLED:
        raise ProvisioningFailed(
            f"{route.isolation.value} isolation needs PostgreSQL; the embedded SQLite store "
            "supports pooled tenants only. Set PAYBILL_DATABASE_URL to a PostgreSQL database.",
            isolation=route.isolation.value,
        )


def _ensure_role(conn: Connection, role: str, password: str) -> None:
    conn.execute(
        text(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN "
            f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOBYPASSRLS; "
            "END IF; END $$"
        )
    )
    # The password is random and URL-safe; ALTER ROLE takes no bind parameters.
    conn.execute(text(f"ALTER ROLE {role} PASSWORD '{password}'"))


def _grant(conn: Connection, role: str, schema: str) -> None:
    conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO {role}'))
    conn.execute(
        text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO {role}')
    )
    conn.execute(text(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA "{schema}" TO {role}'))
    conn.execute(text(f'REVOKE ALL ON "{schema}".{migrate.VERSION_TABLE} FROM {role}'))


def ensure_pool_security(conn: Connection) -> None:
    """Row-level security on every pool table (idempotent; re-run after pool migrations)."""
    for table in TENANT_TABLES:
        name = f'"{POOL_SCHEMA}".{table}'
        conn.execute(text(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY"))
        conn.execute(text(f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY"))
        conn.execute(text(f"DROP POLICY IF EXISTS tenant_isolation ON {name}"))
        conn.execute(
            text(
                f"CREATE POLICY tenant_isolation ON {name} USING ({_POLICY}) WITH CHECK ({_POLICY})"
            )
        )


def _converge(conn: Connection, routes: list[TenantRoute], revision: str) -> None:
    """Tables of one storage target at ``revision``, then its security and every tenant's
    grants (the roles must exist)."""
    first = routes[0]
    migrate.upgrade(conn, first.schema, revision)
    if first.isolation is Isolation.POOLED:
        ensure_pool_security(conn)
    for route in routes:
        _grant(conn, route.role, route.schema)


def provision(engines: Engines, route: TenantRoute) -> dict[str, Any]:
    """Create (or converge) the tenant's objects; returns where they are."""
    _require_postgres(engines, route)
    if not engines.postgres:
        with engines.shared.begin() as conn:
            migrate.upgrade(conn, None)
        return {"backend": "sqlite", "tables": sorted(TENANT_TABLES)}
    if route.database is not None:
        engines.create_database(route.database)
    with engines.for_route(route).begin() as conn:
        _ensure_role(conn, route.role, engines.credentials.ensure(route))
        _converge(conn, [route], "head")
        if route.database is not None:
            conn.execute(text(f"GRANT CONNECT ON DATABASE {route.database} TO {route.role}"))
    return {
        "backend": "postgresql",
        "role": route.role,
        "schema": route.schema,
        "database": route.database or engines.shared.url.database,
        "tables": sorted(TENANT_TABLES),
    }


def migrate_target(engines: Engines, routes: list[TenantRoute], revision: str = "head") -> None:
    """Migrate one storage target (the pool, a bridge schema, a silo database, or the SQLite
    tenants file) and re-apply security and grants for the tenants stored there."""
    if not engines.postgres:
        with engines.shared.begin() as conn:
            migrate.upgrade(conn, None, revision)
        return
    with engines.for_route(routes[0]).begin() as conn:
        _converge(conn, routes, revision)


def target_revision(engines: Engines, route: TenantRoute) -> str | None:
    schema = route.schema if engines.postgres else None
    with engines.for_route(route).connect() as conn:
        return migrate.current(conn, schema)


def archive(engines: Engines, route: TenantRoute) -> dict[str, Any]:
    """Make the tenant's data read-only for its role (offboarding keeps data until deletion)."""
    _require_postgres(engines, route)
    if engines.postgres:
        with engines.for_route(route).begin() as conn:
            conn.execute(
                text(
                    f'REVOKE INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{route.schema}" '
                    f"FROM {route.role}"
                )
            )
    return {"read_only": True}


def unarchive(engines: Engines, route: TenantRoute) -> dict[str, Any]:
    """Undo ``archive``: give the tenant's role back the grants ``provision`` gives it."""
    _require_postgres(engines, route)
    if engines.postgres:
        with engines.for_route(route).begin() as conn:
            _grant(conn, route.role, route.schema)
    return {"read_only": False}


def drop(engines: Engines, route: TenantRoute) -> dict[str, Any]:
    """Remove the tenant's rows, schema or database, and its role."""
    _require_postgres(engines, route)
    if not engines.postgres:
        with engines.shared.begin() as conn:
            for table in TENANT_TABLES.values():
                conn.execute(table.delete().where(table.c.tenant_id == route.tenant_id))
        return {"dropped": "rows"}
    engines.forget_tenant(route)
    if route.isolation is Isolation.SILO:
        engines.drop_database(route.database or "")
    with engines.shared.begin() as conn:
        if route.isolation is Isolation.POOLED:
            conn.execute(text("SELECT set_config('search_path', :s, true)"), {"s": POOL_SCHEMA})
            for table in TENANT_TABLES.values():
                conn.execute(table.delete().where(table.c.tenant_id == route.tenant_id))
        elif route.isolation is Isolation.BRIDGE:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{route.schema}" CASCADE'))
        exists = conn.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": route.role}
        ).first()
        if exists:
            conn.execute(text(f"DROP OWNED BY {route.role}"))
            conn.execute(text(f"DROP ROLE {route.role}"))
    engines.credentials.forget(route)
    return {"dropped": route.isolation.value}
