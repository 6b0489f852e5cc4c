"""Connections to where tenant data lives: the store's database, or a silo database."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from paybill.server.dataplane.naming import TenantRoute
from paybill.server.store.database import make_engine


def tenants_file_url(database_url: str) -> str:
    """SQLite: pooled tenant tables live in a file beside the store (``<store>-tenants.db``),
    so data calls never contend with the control-plane transaction for one file lock."""
    url = make_url(database_url)
    path = Path(url.database or "paybill.db")
    return str(url.set(database=str(path.with_name(f"{path.stem}-tenants{path.suffix}"))))


class Engines:
    """Where tenant data lives: ``shared`` holds pooled and bridge tenants (the store's
    PostgreSQL database, or the SQLite tenants file); silo databases get an engine each.

    On PostgreSQL the store's credentials must be able to create roles, schemas and
    databases; tenant queries never run with them (see ``access``).
    """

    def __init__(self, database_url: str) -> None:
        self._url = make_url(database_url)
        self.postgres = self._url.get_backend_name() == "postgresql"
        shared_url = database_url if self.postgres else tenants_file_url(database_url)
        self.shared = make_engine(shared_url)
        # SQLite readers must not take the write lock (and run with query_only).
        self._reader = self.shared if self.postgres else make_engine(shared_url, write_lock=False)
        self._silos: dict[str, Engine] = {}
        self._lock = threading.Lock()

    def for_route(self, route: TenantRoute, *, read_only: bool = False) -> Engine:
        if route.database is None:
            return self._reader if read_only else self.shared
        with self._lock:
            engine = self._silos.get(route.database)
            if engine is None:
                engine = create_engine(self._url.set(database=route.database), pool_pre_ping=True)
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
        for engine in {self.shared, self._reader, *self._silos.values()}:
            engine.dispose()
