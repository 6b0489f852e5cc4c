"""A served store with two tenants and a principal for every role.

Populating a store (two tenants onboarded through the pipeline and the worker) costs more
than most tests that use it, so each kind of populated store (settings and clock) is built
once per session and test worker and copied into each test's store (``PopulatedStores``):
on SQLite its two files and data directory; on PostgreSQL its database (``CREATE DATABASE
... TEMPLATE``) and data directory, with the care its tenants' cluster-wide login roles
need (see ``PopulatedStores``). Tests that change nothing in the store share one populated
store per module and backend (``shared_served``); each gets services of its own, and one
that changes the store's business state fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, delete, select, text
from sqlalchemy.engine import make_url

from paybill.evals import snapshot
from paybill.server.app import build_pipeline, build_services
from paybill.server.core.settings import Settings
from paybill.server.core.vocabulary import Isolation, Role
from paybill.server.domain.principals import add_principal
from paybill.server.executors.dataplane import objects
from paybill.server.executors.dataplane.credentials import TenantCredentials
from paybill.server.executors.dataplane.engines import Engines
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.guards.pipeline import Outcome, Pipeline
from paybill.server.store import RateBucket, Tenant
from paybill.server.workflows.engine.services import Services
from paybill.server.workflows.engine.worker import Worker

PLATFORM_PRINCIPALS = {
    "admin": Role.PLATFORM_ADMIN,
    "ops": Role.OPERATOR,
    "boss": Role.APPROVER,
    "billing": Role.BILLING_AGENT,
}
TENANT_PRINCIPALS = {
    "acme-admin": (Role.TENANT_ADMIN, "acme"),
    "acme-bot": (Role.TENANT_AGENT, "acme"),
}


@dataclass
class Served:
    """Services plus the pipeline, as the MCP server uses them; ``call`` returns an Outcome."""

    services: Services
    pipeline: Pipeline
    keys: dict[str, str]

    def env(self) -> dict[str, str]:
        """Environment for a `paybill` subprocess on this store."""
        settings = self.services.settings
        return {
            **os.environ,
            "PAYBILL_DATABASE_URL": settings.database_url,
            "PAYBILL_DATA_DIR": str(settings.data_dir),
        }

    def drain(self) -> int:
        """Execute every eligible workflow run now, as a worker would in the background."""
        return Worker(self.services).run_pending()

    def call(self, principal: str, tool: str, **arguments: Any) -> Outcome:
        return self.pipeline.call(tool, principal, arguments)

    def ok(self, principal: str, tool: str, **arguments: Any) -> dict[str, Any]:
        outcome = self.call(principal, tool, **arguments)
        assert not outcome.is_error, outcome.payload
        return outcome.payload

    def error(self, principal: str, tool: str, **arguments: Any) -> dict[str, Any]:
        outcome = self.call(principal, tool, **arguments)
        assert outcome.is_error, outcome.payload
        return outcome.payload["error"]


def close(services: Services) -> None:
    """Close every connection pool of ``services`` (store, ACL reader, tenant data)."""
    services.engines.dispose()
    services.reader.dispose()
    services.rate_limiter.dispose()
    services.tenant_rate.dispose()
    services.db.dispose()


def make_settings(store_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(database_url=store_url, data_dir=tmp_path / "data", **overrides)


@pytest.fixture
def settings(store_url: str, tmp_path: Path) -> Settings:
    return make_settings(store_url, tmp_path, rate_per_minute=10_000)


def populate(services: Services) -> dict[str, str]:
    """Tenants acme (free) and globex (pro, pooled), active, and one principal per role."""
    keys: dict[str, str] = {}
    with services.db.session() as session:
        for name, role in PLATFORM_PRINCIPALS.items():
            keys[name] = add_principal(session, name, role)[1].plaintext
    pipeline = build_pipeline(services)
    for slug in ("acme", "globex"):
        outcome = pipeline.call(
            "create_tenant", "ops", {"slug": slug, "name": slug, "plan": "free"}
        )
        assert not outcome.is_error, outcome.payload
    Worker(services).run_pending()
    # globex is on pro with pooled storage: the plan switches, its data stays (no migration).
    upgraded = pipeline.call(
        "change_plan", "ops", {"tenant": "globex", "plan": "pro", "migrate_isolation": False}
    )
    assert not upgraded.is_error, upgraded.payload
    Worker(services).run_pending()
    with services.db.session() as session:
        for name, (role, slug) in TENANT_PRINCIPALS.items():
            keys[name] = add_principal(session, name, role, slug)[1].plaintext
    return keys


Now = Callable[[], datetime]


@dataclass(frozen=True)
class _Template:
    """A populated store to copy: its database (a file or a PostgreSQL database), its data
    directory, the principals' keys and its tenants."""

    root: Path
    database: str
    keys: dict[str, str]
    tenants: list[TenantRoute]


class PopulatedStores:
    """Stores as ``populate`` leaves them, one per kind of settings and clock, made once per
    session (per test worker) and copied into a test's store (``restore``).

    SQLite: the store file, its tenants file and the data directory are copied.

    PostgreSQL: the template's tenants have login roles, cluster-wide objects named after
    the tenant ids, which every copy shares. That is safe because (1) one test at a time
    runs in a worker and each worker has templates of its own: a copy is only made when no
    other copy of that template exists, otherwise the store is populated afresh (its own
    tenant ids); (2) the template holds no privileges of those roles, so a test may drop a
    role (deleting the tenant) while the template exists; each copy gets its tenants'
    grants back (``objects.unarchive``) or, when a test dropped a role, the tenant's
    objects provisioned again (``objects.provision``: the role with the same password);
    (3) dropping a copy drops its silo databases but keeps the template's roles
    (``PostgresDatabases.kept_tenants``)."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request
        self._made: dict[tuple[str, str], _Template] = {}
        self._copies: dict[str, str] = {}  # PostgreSQL template -> its last copy

    def restore(self, settings: Settings, clock: Now | None = None) -> dict[str, str] | None:
        """Make the store at ``settings`` (an initialised one) a copy of the populated one
        for its settings and ``clock``; the principals' keys, or None when the store must be
        populated afresh (another copy of the PostgreSQL template is in use)."""
        url = make_url(settings.database_url)
        backend = url.get_backend_name()
        start = clock() if clock is not None else None
        kind = settings.model_dump_json(exclude={"database_url", "data_dir"}) + str(start)
        if backend == "postgresql":
            pg = self._request.getfixturevalue("postgres")
            made = self._made.get((backend, kind))
            last = self._copies.get(made.database) if made else None
            if last is not None and pg.exists(last):
                return None
        template = self._template(backend, kind, settings, start)
        if backend == "sqlite":
            target = Path(str(url.database))
            # The store file and its tenants file (and any write-ahead log left beside them).
            for source in template.root.iterdir():
                if source.is_file():
                    name = source.name.replace("store", target.stem, 1)
                    shutil.copyfile(source, target.with_name(name))
            shutil.copytree(template.root / "data", settings.data_dir, dirs_exist_ok=True)
            return dict(template.keys)
        pg.replace(str(url.database), template.database)
        self._copies[template.database] = str(url.database)
        shutil.copytree(template.root / "data", settings.data_dir, dirs_exist_ok=True)
        engines = Engines(settings.database_url, TenantCredentials(settings.data_dir))
        try:
            for route in template.tenants:
                with engines.shared.connect() as conn:
                    role = conn.execute(
                        text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": route.role}
                    ).first()
                if role is None:
                    objects.provision(engines, route)
                else:
                    objects.unarchive(engines, route)
        finally:
            engines.dispose()
        return dict(template.keys)

    def _template(
        self, backend: str, kind: str, settings: Settings, start: datetime | None
    ) -> _Template:
        if (backend, kind) in self._made:
            return self._made[backend, kind]
        request = self._request
        initialised = request.getfixturevalue("template_store")(backend)
        root = request.getfixturevalue("tmp_path_factory").mktemp("populated")
        if backend == "sqlite":
            shutil.copyfile(initialised, root / "store.db")
            database = str(root / "store.db")
            url = f"sqlite:///{database}"
        else:
            pg = request.getfixturevalue("postgres")
            database = pg.create(template=make_url(initialised).database)
            request.addfinalizer(lambda: self._drop(pg, database))
            url = pg.url(database)
        update = {"database_url": url, "data_dir": root / "data"}
        services = build_services(
            settings.model_copy(update=update),
            **({"clock": lambda: start} if start is not None else {}),
        )
        try:
            keys = populate(services)
            with services.db.session() as session:
                tenants = [
                    TenantRoute(t.id, t.isolation)
                    for t in session.scalars(select(Tenant).order_by(Tenant.slug))
                ]
        finally:
            close(services)
        if backend == "postgresql":
            self._strip(url, tenants)
            request.getfixturevalue("postgres").kept_tenants.update(r.tenant_id for r in tenants)
        self._made[backend, kind] = _Template(root, database, keys, tenants)
        return self._made[backend, kind]

    @staticmethod
    def _strip(url: str, tenants: list[TenantRoute]) -> None:
        """Revoke the tenants' privileges in the template: no object in it may depend on
        their roles (a test dropping a role would fail while the template exists)."""
        if any(t.isolation is not Isolation.POOLED for t in tenants):
            raise AssertionError("populated templates hold pooled tenants only")
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                for route in tenants:
                    for what in ("ALL TABLES IN SCHEMA", "ALL SEQUENCES IN SCHEMA", "SCHEMA"):
                        conn.execute(
                            text(f'REVOKE ALL ON {what} "{route.schema}" FROM {route.role}')
                        )
                left = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_shdepend d JOIN pg_roles r ON r.oid = d.refobjid "
                        "WHERE d.dbid = (SELECT oid FROM pg_database "
                        "WHERE datname = current_database()) AND r.rolname = ANY(:roles)"
                    ),
                    {"roles": [t.role for t in tenants]},
                ).scalar()
            assert left == 0, f"the template still depends on its tenants' roles ({left})"
        finally:
            engine.dispose()

    def _drop(self, pg: Any, database: str) -> None:
        for template in self._made.values():
            if template.database == database:
                pg.kept_tenants.difference_update(r.tenant_id for r in template.tenants)
        pg.drop_with_tenants(database)


@pytest.fixture(scope="session")
def populated(request: pytest.FixtureRequest) -> PopulatedStores:
    return PopulatedStores(request)


def serve_populated(
    settings: Settings, populated: PopulatedStores | None, clock: Now | None = None
) -> Served:
    """A Served on a populated store at ``settings``: a copy of the session's populated
    store, or (``populated`` None, or no copy possible) populated now. Dispose of
    ``services.db`` when done."""
    keys = populated.restore(settings, clock) if populated is not None else None
    services = build_services(settings, clock=clock) if clock else build_services(settings)
    if keys is None:
        keys = populate(services)
    return Served(services, build_pipeline(services), keys)


@pytest.fixture
def served(settings: Settings, populated: PopulatedStores) -> Iterator[Served]:
    result = serve_populated(settings, populated)
    yield result
    close(result.services)


class Clock:
    """A clock the test moves by hand (leases and schedules are compared against it)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clocked(
    store_url: str, tmp_path: Path, populated: PopulatedStores
) -> Iterator[tuple[Served, Clock]]:
    clock = Clock()
    settings = make_settings(store_url, tmp_path, rate_per_minute=10_000, worker_lease_seconds=30)
    result = serve_populated(settings, populated, clock)
    yield result, clock
    close(result.services)


@dataclass(frozen=True)
class Shared:
    """A module's shared populated store on one backend."""

    settings: Settings
    keys: dict[str, str]
    prepared: Any  # what ``prepare`` returned


Prepare = Callable[[Served], Any]


class SharedStores:
    """Populated stores shared by the tests of one module that change nothing in them, one
    per backend and ``prepare``, made on first use and dropped with the module (a PostgreSQL
    one with its tenants' roles and silo databases). ``prepare`` runs once on each new
    store, before any test sees it (what it returns is ``Shared.prepared``); the default is
    the one given to the constructor."""

    def __init__(self, request: pytest.FixtureRequest, prepare: Prepare | None = None) -> None:
        self._request = request
        self._prepare = prepare
        self._made: dict[tuple[str, Prepare | None], Shared] = {}
        self._databases: list[str] = []

    def __enter__(self) -> SharedStores:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._databases:
            pg = self._request.getfixturevalue("postgres")
            for name in self._databases:
                pg.drop_with_tenants(name)

    def get(self, backend: str, prepare: Prepare | None = None) -> Shared:
        prepare = prepare or self._prepare
        if (backend, prepare) not in self._made:
            self._made[backend, prepare] = self._make(backend, prepare)
        return self._made[backend, prepare]

    def _make(self, backend: str, prepare: Prepare | None) -> Shared:
        request = self._request
        template = request.getfixturevalue("template_store")(backend)
        root = request.getfixturevalue("tmp_path_factory").mktemp("shared")
        if backend == "sqlite":
            shutil.copyfile(template, root / "store.db")
            url = f"sqlite:///{root / 'store.db'}"
        else:
            pg = request.getfixturevalue("postgres")
            name = pg.create(template=make_url(template).database)
            self._databases.append(name)
            url = pg.url(name)
        settings = make_settings(url, root, rate_per_minute=10_000)
        # A PostgreSQL copy of the session's populated store would share its tenants' roles
        # with the tests' copies for the whole module: this one gets tenants of its own.
        populated = request.getfixturevalue("populated") if backend == "sqlite" else None
        served = serve_populated(settings, populated)
        try:
            prepared = prepare(served) if prepare else None
        finally:
            close(served.services)
        return Shared(settings, served.keys, prepared)

    @contextmanager
    def serve(self, backend: str, prepare: Prepare | None = None) -> Iterator[Served]:
        """A Served (services of its own) on the shared store, for a test that changes
        nothing in it: the store's business state (paybill.evals.snapshot: everything but
        new audit events, idempotency records and usage counters) is compared before and
        after, and a change fails the test."""
        shared = self.get(backend, prepare)
        services = build_services(shared.settings)
        # Its buckets start full, as a process of its own once had them in memory: on
        # PostgreSQL they are in the store (rate_buckets), which the module's tests share.
        with services.db.session() as session:
            session.execute(delete(RateBucket))
        try:
            before = _picture(services)
            yield Served(services, build_pipeline(services), dict(shared.keys))
            changed = snapshot.changes(before, _picture(services, since=before), frozenset())
        finally:
            close(services)
        assert changed is None, f"the test changed the module's shared store: {changed}"


@pytest.fixture(scope="module")
def shared_stores(request: pytest.FixtureRequest) -> Iterator[SharedStores]:
    """This module's shared stores (override it in a module to pass a default ``prepare``)."""
    with SharedStores(request) as stores:
        yield stores


def _picture(services: Services, since: snapshot.Picture | None = None) -> snapshot.Picture:
    assert snapshot.settle(services.db.engine), "workflow runs still running"
    return snapshot.take(services.db.engine, services.engines, since)


@pytest.fixture
def shared_served(backend: str, shared_stores: SharedStores) -> Iterator[Served]:
    """A Served on the module's shared populated store (see ``SharedStores.serve``)."""
    with shared_stores.serve(backend) as served:
        yield served
