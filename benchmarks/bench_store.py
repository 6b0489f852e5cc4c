"""A throw-away PostgreSQL store for the benchmarks: one provisioned pooled tenant with rows.

The tenant is provisioned the way the tests do it: ``create_tenant`` records the run and a
worker executes it (``Worker.run_pending``) before any data call. The database and the
tenant's cluster-wide login role are dropped on exit.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text, update
from sqlalchemy.engine import make_url

from paybill.server.app import build_pipeline, build_services
from paybill.server.core.settings import Settings
from paybill.server.core.vocabulary import Isolation, Role
from paybill.server.domain.bootstrap import initialise
from paybill.server.domain.principals import add_principal
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.guards.pipeline import Outcome, Pipeline
from paybill.server.store import Plan
from paybill.server.store.database import Database
from paybill.server.workflows.engine.services import Services
from paybill.server.workflows.engine.worker import Worker

ADMIN_URL = os.environ.get(
    "PAYBILL_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SLUG = "bench"
ROWS = 500
UNLIMITED = 10**9
# The server processes: no rate limit, and a slot for each of the 8 HTTP sessions.
SERVER_ENV = {"PAYBILL_RATE_PER_MINUTE": str(UNLIMITED), "PAYBILL_TENANT_CONCURRENCY": "16"}


@dataclass
class BenchStore:
    url: str
    data_dir: Path
    keys: dict[str, str]
    tenant_id: str
    services: Services
    pipeline: Pipeline

    def env(self) -> dict[str, str]:
        """Environment of a `paybill serve` on this store."""
        return {
            **os.environ,
            **SERVER_ENV,
            "PAYBILL_DATABASE_URL": self.url,
            "PAYBILL_DATA_DIR": str(self.data_dir),
        }

    @property
    def libpq_url(self) -> str:
        """The store's URL for psycopg (and peer servers): no SQLAlchemy driver part."""
        return make_url(self.url).set(drivername="postgresql").render_as_string(False)


def ok(outcome: Outcome) -> dict[str, object]:
    if outcome.is_error:
        raise SystemExit(f"benchmark call failed: {outcome.payload}")
    return outcome.payload


@contextmanager
def bench_store() -> Iterator[BenchStore]:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"paybill_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    print(f"store: {name} on {make_url(ADMIN_URL).render_as_string()}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="paybill-bench-"))
    tenant_id = ""
    try:
        store = _populate(url, workdir)
        tenant_id = store.tenant_id
        settings = store.services.settings
        # As `paybill serve` does: audit events are sealed by a thread, off the call path.
        sealing = store.services.audit.sealer(
            store.services.db.engine,
            batch_seconds=settings.audit_seal_seconds,
            idle_seconds=settings.worker_poll_seconds,
        )
        try:
            with sealing:
                yield store
        finally:
            store.services.engines.dispose()
            store.services.reader.dispose()
            store.services.rate_limiter.dispose()
            store.services.tenant_rate.dispose()
            store.services.db.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            if tenant_id:
                role = TenantRoute(tenant_id, Isolation.POOLED).role
                conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()
        shutil.rmtree(workdir, ignore_errors=True)


def _populate(url: str, workdir: Path) -> BenchStore:
    db = Database(url)
    initialise(db)
    keys: dict[str, str] = {}
    with db.session() as session:
        for principal, role in (("ops", Role.OPERATOR), ("admin", Role.PLATFORM_ADMIN)):
            keys[principal] = add_principal(session, principal, role)[1].plaintext
        # Measure the pipeline, not the free plan's queries per minute.
        session.execute(update(Plan).values(queries_per_minute=UNLIMITED))
    db.dispose()
    settings = Settings(
        database_url=url,
        data_dir=workdir / "data",
        rate_per_minute=UNLIMITED,
        tenant_concurrency=16,
    )
    services = build_services(settings)
    pipeline = build_pipeline(services)
    created = ok(
        pipeline.call("create_tenant", "admin", {"slug": SLUG, "name": "B", "plan": "free"})
    )
    Worker(services).run_pending()  # provisioning: the tenant becomes active
    tenant = ok(pipeline.call("get_tenant", "ops", {"tenant": SLUG}))
    if tenant["state"] != "active":
        raise SystemExit(f"the benchmark tenant is {tenant['state']}, not active")
    rows = [{"name": f"customer {i}", "country": ["DE", "FR", "US"][i % 3]} for i in range(ROWS)]
    for start in range(0, ROWS, 100):  # within the limit on argument bytes
        batch = {"tenant": SLUG, "table": "customers", "rows": rows[start : start + 100]}
        ok(pipeline.call("insert_rows", "admin", batch))
    tenant_id = str(created["tenant"]["id"])  # type: ignore[index]
    return BenchStore(url, settings.data_dir, keys, tenant_id, services, pipeline)
