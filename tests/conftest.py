"""Fixtures: every store test runs on SQLite and on PostgreSQL, each in a database of its own.

PostgreSQL is required (CI starts it). Set PAYBILL_TEST_BACKENDS=sqlite to run without it
locally; the default runs both and fails loudly when PostgreSQL is unreachable.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from paybill.server.core.vocabulary import Isolation
from paybill.server.domain.bootstrap import initialise
from paybill.server.domain.lifecycle import Lifecycle, load_definition
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.store.database import Database

PG_ADMIN_URL = os.environ.get(
    "PAYBILL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = os.environ.get("PAYBILL_TEST_BACKENDS", "sqlite,postgresql").split(",")

# Shared fixtures live in plugin modules, never in test modules: a served store with a
# principal per role, the offline Terraform, moto_server and the GCP stand-in. pytester runs
# pytest on small generated modules (tests of those fixtures).
pytest_plugins = [
    "pytester",
    "tests.support.served",
    "tests.support.terraform",
    "tests.support.clouds",
    "tests.support.console",
    "tests.support.temporal",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the SQLite variants a ``postgres_only`` marker rules out: all of a test's, or
    only those whose parameters match the marker's ``params`` (bridge storage, say). They
    never apply on SQLite, so they are not skips."""
    kept, dropped = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        ruled_out = params.get("backend") == "sqlite" and any(
            all(params.get(k) == v for k, v in marker.kwargs.get("params", {}).items())
            for marker in item.iter_markers("postgres_only")
        )
        (dropped if ruled_out else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_configure(config: pytest.Config) -> None:
    # Nothing a test starts may write to the user's own data directory (the default store,
    # the audit key and checkpoints): subprocesses inherit this too.
    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="paybill-tests-xdg-")


class PostgresDatabases:
    """Creates and drops throw-away databases on the test server."""

    def __init__(self, admin_url: str) -> None:
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.base_url = make_url(admin_url)
        # Tenants of populated templates (tests.support.served): their login roles outlive
        # the stores copied from the template and are dropped with the template itself.
        self.kept_tenants: set[str] = set()

    def create(self, template: str | None = None) -> str:
        name = f"paybill_test_{uuid.uuid4().hex[:12]}"
        clause = f" TEMPLATE {template}" if template else ""
        with self.admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}{clause}"))
            # Commits need not wait for the disk: a throw-away database only has to survive
            # the processes the tests kill, never a crash of the server itself. Half of a
            # populated store's time was spent waiting for WAL flushes.
            conn.execute(text(f"ALTER DATABASE {name} SET synchronous_commit = off"))
        return name

    def url(self, name: str) -> str:
        return self.base_url.set(database=name).render_as_string(hide_password=False)

    def replace(self, name: str, template: str) -> None:
        """Make database ``name`` a new copy of ``template``."""
        self.drop(name)
        with self.admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {template}"))
            conn.execute(text(f"ALTER DATABASE {name} SET synchronous_commit = off"))

    def exists(self, name: str) -> bool:
        with self.admin.connect() as conn:
            found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            return found.first() is not None

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

    def drop_with_tenants(self, name: str) -> None:
        """Drop a test store and the cluster-wide objects of its tenants (roles, silo
        databases), which dropping the store's database alone would leave behind; the roles
        of kept tenants stay."""
        engine = create_engine(self.url(name))
        try:
            with engine.connect() as conn:
                ids = conn.execute(text("SELECT id FROM tenants")).scalars().all()
        finally:
            engine.dispose()
        self.drop(name)
        with self.admin.connect() as conn:
            for route in (TenantRoute(i, Isolation.SILO) for i in ids):
                conn.execute(text(f"DROP DATABASE IF EXISTS {route.database} WITH (FORCE)"))
                if route.tenant_id not in self.kept_tenants:
                    conn.execute(text(f"DROP ROLE IF EXISTS {route.role}"))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    pg = PostgresDatabases(PG_ADMIN_URL)
    try:
        with pg.admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        pytest.fail(
            f"PostgreSQL at {PG_ADMIN_URL} is unreachable ({exc}); start it or set "
            "PAYBILL_TEST_BACKENDS=sqlite",
            pytrace=False,
        )
    yield pg
    pg.admin.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def empty_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a new, empty database on the parametrised backend."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    pg: PostgresDatabases = request.getfixturevalue("postgres")
    name = pg.create()
    yield pg.url(name)
    pg.drop(name)


@pytest.fixture(scope="session")
def template_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Initialised stores to copy from, made once per session and backend."""
    made: dict[str, str] = {}

    def get(backend: str) -> str:
        if backend not in made:
            if backend == "sqlite":
                path = tmp_path_factory.mktemp("template") / "store.db"
                url = f"sqlite:///{path}"
            else:
                pg: PostgresDatabases = request.getfixturevalue("postgres")
                name = pg.create()
                request.addfinalizer(lambda: pg.drop(name))
                url = pg.url(name)
            db = Database(url)
            initialise(db)
            db.dispose()
            made[backend] = url if backend == "postgresql" else str(path)
        return made[backend]

    return get


@pytest.fixture
def store_url(backend: str, template_store, request: pytest.FixtureRequest, tmp_path: Path):
    """URL of an initialised store (migrated, plans loaded) private to this test."""
    source = template_store(backend)
    if backend == "sqlite":
        target = tmp_path / "store.db"
        shutil.copyfile(source, target)
        yield f"sqlite:///{target}"
        return
    pg: PostgresDatabases = request.getfixturevalue("postgres")
    name = pg.create(template=make_url(source).database)
    yield pg.url(name)
    pg.drop_with_tenants(name)


@pytest.fixture
def db(store_url: str) -> Iterator[Database]:
    database = Database(store_url)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def lifecycle() -> Lifecycle:
    return Lifecycle(load_definition())
