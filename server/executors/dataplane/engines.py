"""Connections to where tenant data lives: the store's database, or a silo database."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from paybill.server.executors.dataplane.credentials import TenantCredentials
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.store.database import make_engine, postgres_engine


def tenants_file_url(database_url: str) -> str:
    """SQLite: pooled tenant tables live in a file beside the store (``<store>-tenants.db``),
    so data calls never contend with the control-plane transaction for one file lock."""
    url = make_url(database_url)
    path = Path(url.database or "paybill.db")
    return str(url.set(database=str(path.with_name(f"{path.stem}-tenants{path.suffix}"))))


class Engines:
    """Where tenant data lives: ``shared`` holds pooled and bridge tenants (the store's
    PostgreSQL database, or the SQLite tenants file); silo databases get an engine each.

    On PostgreSQL ``shared`` and the silo engines use the store's credentials, which must be
    able to create roles, schemas and databases: they run DDL only. Tenant queries use
    ``for_tenant``: a connection that logs in as the tenant's own role, so no statement can
    switch to another role or to the administrator.
    """

    def __init__(
        self, database_url: str, credentials: TenantCredentials, *, tenant_pool: int = 4
    ) -> None:
        self.credentials = credentials
        # Tenant roles get pools of their own, apart from the store's, so tenant statements
        # never wait for (or take) a store connection. Sized to the per-tenant concurrency cap
        # (a call holds its slot before it connects), plus room for a workflow step.
        self._tenant_pool = tenant_pool
        self._url = make_url(database_url)
        self.postgres = self._url.get_backend_name() == "postgresql"
        shared_url = database_url if self.postgres else tenants_file_url(database_url)
        self.shared = make_engine(shared_url)
        # SQLite readers must not take the write lock (and run with query_only).
        self._reader = self.shared if self.postgres else make_engine(shared_url, write_lock=False)
        self._silos: dict[str, Engine] = {}
        # Keyed by role and database: one role reaches its tenant's data at the pool or bridge
        # schema (store database) or at its silo database, and a relocation uses both.
        self._tenants: dict[tuple[str, str | None], Engine] = {}
        self._lock = threading.Lock()

    def for_tenant(self, route: TenantRoute, *, read_only: bool) -> Engine:
        """An engine that logs in as the tenant's role (PostgreSQL) or the tenants file."""
        if not self.postgres:
            return self._reader if read_only else self.shared
        with self._lock:
            key = (route.role, route.database)
            engine = self._tenants.get(key)
            if engine is None:
                url = self._url.set(
                    username=route.role,
                    password=self.credentials.ensure(route),
                    database=route.database or self._url.database,
                )
                engine = postgres_engine(url, pool_size=self._tenant_pool, max_overflow=2)
                self._tenants[key] = engine
            return engine

    def forget_tenant(self, route: TenantRoute) -> None:
        with self._lock:
            keys = [key for key in self._tenants if key[0] == route.role]
            dropped = [self._tenants.pop(key) for key in keys]
        for engine in dropped:
            engine.dispose()

    def for_route(self, route: TenantRoute, *, read_only: bool = False) -> Engine:
        if route.database is None:
            return self._reader if read_only else self.shared
        with self._lock:
            engine = self._silos.get(route.database)
            if engine is None:
                engine = postgres_engine(self._url.set(database=route.database))
                self._silos[route.database] = engine
            return engine

    def _autocommit(self) -> Engine:
        return self.shared.execution_options(isolation_level="AUTOCOMMIT")

    def create_database(self, name: str) -> None:
        with self._autocommit().connect() as conn:
            if conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": name}
            ).first():
                return
            conn.execute(text(f"CREATE DATABASE {name}"))
            conn.execute(text(f"REVOKE ALL ON DATABASE {name} FROM PUBLIC"))

    def drop_database(self, name: str) -> None:
        with self._lock:
            engine = self._silos.pop(name, None)
        if engine is not None:
            engine.dispose()
        with self._autocommit().connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

    def dispose(self) -> None:
        for engine in {self.shared, self._reader, *self._silos.values(), *self._tenants.values()}:
            engine.dispose()
