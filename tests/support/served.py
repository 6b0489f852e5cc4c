"""A served store with two tenants and a principal for every role.

Populating a store (two tenants onboarded through the pipeline and the worker) costs more
than most tests that use it:

- On SQLite everything a populated store is lives in its two files and its data directory,
  so each kind of populated store is built once per session (per test worker) and copied
  for every test (``populated``).
- A PostgreSQL store is populated per test: its tenants' login roles and silo databases
  are cluster-wide objects named after the tenant ids, which copies of one store would
  share (and drop) with each other.
- Tests that change nothing in the store share one populated store per module and backend
  (``shared_served``); each test gets services of its own, and one that changes the
  store's business state fails.
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
from sqlalchemy.engine import make_url

from paybill.evals import snapshot
from paybill.server.app import build_pipeline, build_services
from paybill.server.core.settings import Settings
from paybill.server.core.vocabulary import Role
from paybill.server.domain.principals import add_principal
from paybill.server.guards.pipeline import Outcome, Pipeline
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


# Restores a populated store into the SQLite paths of ``settings`` (made with ``clock``, or
# real time) and returns the principals' keys; None on PostgreSQL (populate it yourself).
Populated = Callable[[Settings, Callable[[], datetime] | None], dict[str, str] | None]


@pytest.fixture(scope="session")
def populated(template_store: Any, tmp_path_factory: pytest.TempPathFactory) -> Populated:
    """SQLite stores as ``populate`` leaves them, one per kind of settings and clock, made
    once per session (per test worker) and copied into each test's own paths."""
    made: dict[str, tuple[Path, dict[str, str]]] = {}

    def restore(
        settings: Settings, clock: Callable[[], datetime] | None = None
    ) -> dict[str, str] | None:
        url = make_url(settings.database_url)
        if url.get_backend_name() != "sqlite" or not url.database:
            return None
        start = clock() if clock is not None else None
        kind = settings.model_dump_json(exclude={"database_url", "data_dir"}) + str(start)
        if kind not in made:
            root = tmp_path_factory.mktemp("populated")
            shutil.copyfile(template_store("sqlite"), root / "store.db")
            update = {"database_url": f"sqlite:///{root / 'store.db'}", "data_dir": root / "data"}
            services = build_services(
                settings.model_copy(update=update),
                **({"clock": lambda: start} if start is not None else {}),
            )
            try:
                keys = populate(services)
            finally:
                services.engines.dispose()
                services.db.dispose()
            made[kind] = root, keys
        root, keys = made[kind]
        target = Path(url.database)
        # The store file and its tenants file (and any write-ahead log left beside them).
        for source in root.iterdir():
            if source.is_file():
                name = source.name.replace("store", target.stem, 1)
                shutil.copyfile(source, target.with_name(name))
        shutil.copytree(root / "data", settings.data_dir, dirs_exist_ok=True)
        return dict(keys)

    return restore


def serve_populated(
    settings: Settings, populated: Populated, clock: Callable[[], datetime] | None = None
) -> Served:
    """A Served on a populated store at ``settings``: a copy of the session's (SQLite) or
    populated now (PostgreSQL). Dispose of ``services.db`` when done."""
    keys = populated(settings, clock)
    services = build_services(settings, clock=clock) if clock else build_services(settings)
    if keys is None:
        keys = populate(services)
    return Served(services, build_pipeline(services), keys)


@pytest.fixture
def served(settings: Settings, populated: Populated) -> Iterator[Served]:
    result = serve_populated(settings, populated)
    yield result
    result.services.db.dispose()


class Clock:
    """A clock the test moves by hand (leases and schedules are compared against it)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clocked(store_url: str, tmp_path: Path, populated: Populated) -> Iterator[tuple[Served, Clock]]:
    clock = Clock()
    settings = make_settings(store_url, tmp_path, rate_per_minute=10_000, worker_lease_seconds=30)
    result = serve_populated(settings, populated, clock)
    yield result, clock
    result.services.db.dispose()


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
        served = serve_populated(settings, request.getfixturevalue("populated"))
        try:
            prepared = prepare(served) if prepare else None
        finally:
            served.services.engines.dispose()
            served.services.db.dispose()
        return Shared(settings, served.keys, prepared)

    @contextmanager
    def serve(self, backend: str, prepare: Prepare | None = None) -> Iterator[Served]:
        """A Served (services of its own) on the shared store, for a test that changes
        nothing in it: the store's business state (paybill.evals.snapshot: everything but
        new audit events, idempotency records and usage counters) is compared before and
        after, and a change fails the test."""
        shared = self.get(backend, prepare)
        services = build_services(shared.settings)
        try:
            before = _picture(services)
            yield Served(services, build_pipeline(services), dict(shared.keys))
            changed = snapshot.changes(before, _picture(services, since=before), frozenset())
        finally:
            services.engines.dispose()
            services.db.dispose()
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
