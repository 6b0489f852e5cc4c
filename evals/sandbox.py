"""Throw-away stores for replays: a SQLite file in a temporary directory, or a PostgreSQL
database created under an admin URL and dropped afterwards with its tenants' cluster-wide
objects (login roles, silo databases).

Each backend's store is initialised once per factory and copied for every transcript
(a file copy, or ``CREATE DATABASE ... TEMPLATE``): migrations run once, not per transcript.
A seeded SQLite sandbox can be copied too (``copy``): replay seeds each distinct seed once.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from paybill.server.core.vocabulary import Isolation
from paybill.server.domain.bootstrap import initialise
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.store.database import Database

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Sandbox:
    database_url: str
    data_dir: Path
    pg_name: str | None = None


class SandboxFactory:
    """Creates and destroys sandboxes; call ``close`` when done (drops the templates)."""

    def __init__(self, pg_admin_url: str | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="paybill-eval-"))
        self.pg_admin_url = pg_admin_url
        self._admin: Engine | None = None
        self._sqlite_template: Path | None = None
        self._pg_template: str | None = None

    def create(self, backend: str) -> Sandbox:
        workdir = Path(tempfile.mkdtemp(dir=self.root))
        data_dir = workdir / "data"
        if backend == "sqlite":
            target = workdir / "store.db"
            shutil.copyfile(self._sqlite(), target)
            return Sandbox(f"sqlite:///{target}", data_dir)
        name = self._new_pg_name()
        self._execute(f"CREATE DATABASE {name} TEMPLATE {self._postgres()}")
        return Sandbox(self._pg_url(name), data_dir, pg_name=name)

    def copy(self, source: Sandbox) -> Sandbox:
        """A new SQLite sandbox holding a copy of ``source`` (its store files and data
        directory); ``source`` must not be in use."""
        if source.pg_name is not None:
            raise ValueError("only SQLite sandboxes are copied")
        workdir = Path(tempfile.mkdtemp(dir=self.root))
        # The store file, its tenants file (and any write-ahead log beside them).
        for path in source.data_dir.parent.iterdir():
            if path.is_file() and path.name.startswith("store"):
                shutil.copyfile(path, workdir / path.name)
        if source.data_dir.exists():
            shutil.copytree(source.data_dir, workdir / "data")
        return Sandbox(f"sqlite:///{workdir / 'store.db'}", workdir / "data")

    def destroy(self, sandbox: Sandbox) -> None:
        if sandbox.pg_name is not None:
            self._drop_with_tenants(sandbox)
        shutil.rmtree(sandbox.data_dir.parent, ignore_errors=True)

    def close(self) -> None:
        if self._pg_template is not None:
            self._execute(f"DROP DATABASE IF EXISTS {self._pg_template} WITH (FORCE)")
        if self._admin is not None:
            self._admin.dispose()
        shutil.rmtree(self.root, ignore_errors=True)

    def _sqlite(self) -> Path:
        if self._sqlite_template is None:
            path = self.root / "template.db"
            db = Database(f"sqlite:///{path}")
            initialise(db)
            db.dispose()
            self._sqlite_template = path
        return self._sqlite_template

    def _postgres(self) -> str:
        if self._pg_template is None:
            name = self._new_pg_name()
            self._execute(f"CREATE DATABASE {name}")
            db = Database(self._pg_url(name))
            initialise(db)
            db.dispose()
            self._pg_template = name
        return self._pg_template

    def _admin_engine(self) -> Engine:
        if self.pg_admin_url is None:
            raise ValueError("this transcript needs PostgreSQL: pass --database-url")
        if self._admin is None:
            self._admin = create_engine(self.pg_admin_url, isolation_level="AUTOCOMMIT")
        return self._admin

    def _execute(self, sql: str) -> None:
        with self._admin_engine().connect() as conn:
            conn.execute(text(sql))

    def _pg_url(self, name: str) -> str:
        url = make_url(self.pg_admin_url or DEFAULT_PG_URL).set(database=name)
        return url.render_as_string(hide_password=False)

    @staticmethod
    def _new_pg_name() -> str:
        return f"paybill_eval_{uuid.uuid4().hex[:12]}"

    def _drop_with_tenants(self, sandbox: Sandbox) -> None:
        """Dropping the store's database leaves its tenants' roles and silo databases."""
        engine = create_engine(sandbox.database_url)
        try:
            with engine.connect() as conn:
                ids = conn.execute(text("SELECT id FROM tenants")).scalars().all()
        finally:
            engine.dispose()
        self._execute(f"DROP DATABASE IF EXISTS {sandbox.pg_name} WITH (FORCE)")
        for route in (TenantRoute(i, Isolation.SILO) for i in ids):
            self._execute(f"DROP DATABASE IF EXISTS {route.database} WITH (FORCE)")
            self._execute(f"DROP ROLE IF EXISTS {route.role}")
