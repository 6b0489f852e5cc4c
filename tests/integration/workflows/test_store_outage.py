"""The worker's claim loop outlives a store outage (issue 13): while PostgreSQL refuses the
store's connections (the database closed to new connections and every backend of it
terminated, as a restart does), claiming fails and is retried; once the store is back the
worker executes the waiting run. The thread never dies."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from paybill.server.workflows.engine.worker import Worker
from tests.support.served import Served

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def _set_open(served: Served, admin_url: str, allowed: bool) -> None:
    name = make_url(served.services.settings.database_url).database
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS {str(allowed).lower()}"))
            if not allowed:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :n AND pid <> pg_backend_pid()"
                    ),
                    {"n": name},
                )
    finally:
        admin.dispose()


def _status(served: Served, run_id: str) -> str:
    return str(served.ok("ops", "get_workflow", workflow_id=run_id)["status"])


def test_the_claim_loop_survives_the_store_going_away(
    served: Served, postgres, caplog: pytest.LogCaptureFixture
) -> None:
    admin_url = postgres.url("postgres")
    run_id = served.ok("ops", "create_tenant", slug="later", name="L", plan="free")["workflow"]
    stop = threading.Event()
    worker = Worker(served.services, owner="survivor")
    _set_open(served, admin_url, False)
    try:
        thread = threading.Thread(target=worker.serve, args=(stop, 0.05), daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while "claiming or running a workflow failed" not in caplog.text:
            assert time.monotonic() < deadline, "the worker never tried to claim"
            time.sleep(0.05)
        assert thread.is_alive()
    finally:
        _set_open(served, admin_url, True)
    try:
        deadline = time.monotonic() + 30
        while (done := _status(served, run_id["id"])) != "succeeded":
            assert time.monotonic() < deadline, f"the run is still {done}"
            time.sleep(0.05)
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=30)
