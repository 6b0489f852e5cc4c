"""Throughput of the workflow worker: pooled tenants onboarded per second, per backend.

Usage: python benchmarks/worker_throughput.py [DATABASE_URL] [--tenants N]

Creates a fresh store (SQLite in a temp dir by default), records N create_tenant calls
through the guard pipeline, then times one worker draining the N provisioning runs (each:
claim with the tenant lock, two steps recorded before and after, database objects, the
audit event). Prints runs per second and milliseconds per run; docs/benchmarks.md records
the figures.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from paybill.server.app import build_pipeline, build_services
from paybill.server.core.settings import Settings
from paybill.server.core.vocabulary import Role
from paybill.server.domain.bootstrap import initialise
from paybill.server.domain.principals import add_principal
from paybill.server.store.database import Database
from paybill.server.workflows.engine.worker import Worker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url", nargs="?")
    parser.add_argument("--tenants", type=int, default=50)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="paybill-bench-"))
    url = args.database_url or f"sqlite:///{workdir / 'store.db'}"
    db = Database(url)
    initialise(db)
    with db.session() as session:
        add_principal(session, "ops", Role.OPERATOR)
    db.dispose()
    services = build_services(
        Settings(database_url=url, data_dir=workdir / "data", rate_per_minute=1_000_000)
    )
    pipeline = build_pipeline(services)
    started = time.perf_counter()
    for i in range(args.tenants):
        outcome = pipeline.call(
            "create_tenant", "ops", {"slug": f"bench-{i}", "name": "B", "plan": "free"}
        )
        if outcome.is_error:
            raise SystemExit(f"create_tenant failed: {outcome.payload}")
    recorded = time.perf_counter() - started
    started = time.perf_counter()
    done = Worker(services).run_pending()
    drained = time.perf_counter() - started
    if done != args.tenants:
        raise SystemExit(f"expected {args.tenants} runs, executed {done}")
    print(f"backend: {url.split(':', 1)[0]}, tenants: {args.tenants}")
    print(f"create_tenant (record + enqueue): {recorded / args.tenants * 1000:.1f} ms per call")
    print(
        f"worker: {done / drained:.1f} runs/s, {drained / done * 1000:.1f} ms per provisioning run"
    )


if __name__ == "__main__":
    main()
