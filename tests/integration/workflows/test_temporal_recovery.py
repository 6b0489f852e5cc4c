"""The Temporal engine loses no run and replays its own histories: a run recorded while
nothing started it (the recording process died between its commit and the start) is started
by a worker's sweep; the histories a run leaves replay on the current workflow code (what a
deploy must keep true: docs/temporal.md, "Deploying a new version")."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import Client
from temporalio.worker import Replayer

from paybill.server.core.vocabulary import RunStatus, StepStatus
from paybill.server.store import WorkflowRun
from paybill.server.workflows.engine.runs import TEMPORAL_OWNER
from paybill.server.workflows.temporal import names
from paybill.server.workflows.temporal.workflows import WORKFLOWS
from tests.support.served import Served
from tests.support.temporal import on_temporal, wait_finished

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def _replay(address: str, *workflow_ids: str) -> None:
    async def go() -> None:
        client = await Client.connect(address)
        replayer = Replayer(workflows=WORKFLOWS)
        for workflow_id in workflow_ids:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
            await replayer.replay_workflow(history)  # raises on nondeterminism

    asyncio.run(go())


def test_a_run_never_started_is_started_by_the_sweep_and_its_history_replays(
    served: Served, temporal_server: str
) -> None:
    # Recorded and committed with no engine told: as if the process died right after.
    created = served.ok("ops", "create_tenant", slug="orphan", name="O", plan="free")
    run_id, tenant_id = created["workflow"]["id"], created["tenant"]["id"]
    with on_temporal(served, temporal_server):
        wait_finished(served.services, run_id)
        queue = served.services.settings.temporal_task_queue
    run = served.ok("ops", "get_workflow", workflow_id=run_id)
    assert run["status"] == "succeeded"
    assert [s["attempts"] for s in run["steps"]] == [1, 1]
    _replay(temporal_server, names.run_id_of(queue, run_id), names.tenant_id_of(queue, tenant_id))


def test_a_begun_run_whose_workflow_is_gone_resumes(served: Served, temporal_server: str) -> None:
    created = served.ok("ops", "create_tenant", slug="adrift", name="A", plan="free")
    run_id = created["workflow"]["id"]
    with served.services.db.session() as session:  # begun on Temporal, its workflow gone
        run = session.get(WorkflowRun, run_id)
        run.status, run.locked_by = RunStatus.RUNNING, TEMPORAL_OWNER
        run.steps[0].status, run.steps[0].attempts = StepStatus.RUNNING, 1
    with on_temporal(served, temporal_server):
        wait_finished(served.services, run_id)
    run_out = served.ok("ops", "get_workflow", workflow_id=run_id)
    assert run_out["status"] == "succeeded"
    assert [s["attempts"] for s in run_out["steps"]] == [2, 1]  # the step ran again
    assert served.ok("ops", "get_tenant", tenant="adrift")["state"] == "active"
