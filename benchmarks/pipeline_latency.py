"""Latency of tool calls through the whole guard pipeline (no MCP transport), per backend.

Usage: python benchmarks/pipeline_latency.py [DATABASE_URL] [--calls N]

Creates a fresh store (SQLite in a temp dir by default), one tenant with 500 customers,
and times list_plans, get_tenant, query_table and run_sql as a tenant agent and an
operator. Prints p50/p95/max in milliseconds; docs/benchmarks.md records the figures.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import update

from paybill.server.app import build_pipeline, build_services
from paybill.server.core.settings import Settings
from paybill.server.core.vocabulary import Role
from paybill.server.domain.bootstrap import initialise
from paybill.server.domain.principals import add_principal
from paybill.server.guards.pipeline import Outcome
from paybill.server.store import Plan
from paybill.server.store.database import Database

CALLS = {
    "list_plans": ("ops", {}),
    "get_tenant": ("ops", {"tenant": "bench"}),
    "query_table": ("agent", {"tenant": "bench", "table": "customers", "limit": 50}),
    "run_sql": (
        "ops",
        {"tenant": "bench", "sql": "SELECT country, count(*) FROM customers GROUP BY country"},
    ),
}


def _ok(outcome: Outcome) -> None:
    if outcome.is_error:
        raise SystemExit(f"benchmark call failed: {outcome.payload}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url", nargs="?")
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="paybill-bench-"))
    url = args.url or f"sqlite:///{tmp / 'bench.db'}"
    db = Database(url)
    initialise(db)
    with db.session() as session:
        add_principal(session, "ops", Role.OPERATOR)
        add_principal(session, "admin", Role.PLATFORM_ADMIN)
        # Measure the pipeline, not the free plan's 30 queries per minute.
        session.execute(update(Plan).where(Plan.id == "free").values(queries_per_minute=10**9))
    settings = Settings(database_url=url, data_dir=tmp / "data", rate_per_minute=10**9)
    services = build_services(settings)
    pipeline = build_pipeline(services)
    _ok(pipeline.call("create_tenant", "admin", {"slug": "bench", "name": "B", "plan": "free"}))
    with db.session() as session:
        add_principal(session, "agent", Role.TENANT_AGENT, "bench")
    rows = [{"name": f"customer {i}", "country": ["DE", "FR", "US"][i % 3]} for i in range(500)]
    pipeline.call("insert_rows", "admin", {"tenant": "bench", "table": "customers", "rows": rows})
    print(f"backend: {services.db.engine.dialect.name}, {args.calls} calls per tool")
    print(f"{'tool':<12} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for tool, (principal, arguments) in CALLS.items():
        timings = []
        for _ in range(args.calls):
            start = time.perf_counter()
            outcome = pipeline.call(tool, principal, arguments)
            timings.append((time.perf_counter() - start) * 1000)
            _ok(outcome)
        timings.sort()
        p95 = timings[int(len(timings) * 0.95) - 1]
        print(f"{tool:<12} {statistics.median(timings):>8.2f} {p95:>8.2f} {timings[-1]:>8.2f}")
    services.db.dispose()
    services.engines.dispose()


if __name__ == "__main__":
    main()
