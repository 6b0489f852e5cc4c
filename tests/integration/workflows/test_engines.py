"""The same runs through the MCP tools on both engines: the embedded worker and Temporal (a
real dev server, ``paybill worker --engine temporal`` processes). The store is the record on
both: get_workflow, the tenant's state and the audit read the same rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select

from paybill.server.store import AuditEvent
from tests.support.served import Served
from tests.support.temporal import on_temporal, wait_finished

ENGINES = ["embedded", "temporal"]


@contextmanager
def engine_for(served: Served, engine: str, request: pytest.FixtureRequest) -> Iterator[None]:
    if engine == "embedded":
        yield
        return
    with on_temporal(served, request.getfixturevalue("temporal_server")):
        yield


def finish(served: Served, engine: str, *run_ids: str) -> None:
    if engine == "embedded":
        served.drain()
    else:
        wait_finished(served.services, *run_ids)


def audited(served: Served, tool: str) -> int:
    with served.services.db.session() as session:
        return session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.tool == tool)
        )


@pytest.mark.parametrize("engine", ENGINES)
def test_provisioning_through_the_tools(
    served: Served, engine: str, request: pytest.FixtureRequest
) -> None:
    with engine_for(served, engine, request):
        created = served.ok("ops", "create_tenant", slug="newco", name="N", plan="free")
        run_id = created["workflow"]["id"]
        finish(served, engine, run_id)
        run = served.ok("ops", "get_workflow", workflow_id=run_id)
        assert run["status"] == "succeeded"
        assert [(s["status"], s["attempts"]) for s in run["steps"]] == [("succeeded", 1)] * 2
        assert served.ok("ops", "get_tenant", tenant="newco")["state"] == "active"
        assert audited(served, "workflow.provision") == 1 + 2  # acme and globex before
        with served.services.db.session() as session:
            assert served.services.audit.verify(session).ok
