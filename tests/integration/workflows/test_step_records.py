"""A step outcome is recorded once (engine/steps.py, shared by both engines): an execution
that a later execution of the same step superseded (Temporal retried the activity while the
first worker was presumed dead) records nothing, and the later one's outcome stands."""

from __future__ import annotations

import pytest

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.workflows.engine.worker import LeaseLost, Worker
from tests.support.served import Served


def test_a_superseded_execution_of_a_step_records_nothing(served: Served) -> None:
    run_id = served.ok("ops", "create_tenant", slug="twice", name="T", plan="free")["workflow"][
        "id"
    ]
    worker = Worker(served.services, owner="w")
    assert worker.claim() == run_id
    first = worker._start_next_step(run_id)
    second = worker._start_next_step(run_id)  # the same step, started again
    assert not isinstance(first, str) and not isinstance(second, str)
    (early, name), (late, _) = first, second
    assert (early.attempt, late.attempt) == (1, 2)
    with pytest.raises(LeaseLost):
        worker._run_step(early, name, "provision")  # finishes late: its success is stale
    step = served.ok("ops", "get_workflow", workflow_id=run_id)["steps"][0]
    assert (step["status"], step["attempts"]) == ("running", 2)
    assert worker._run_step(late, name, "provision")
    assert worker.execute(run_id) is not None
    run = served.ok("ops", "get_workflow", workflow_id=run_id)
    assert run["status"] == "succeeded"
    assert [(s["status"], s["attempts"]) for s in run["steps"]] == [
        ("succeeded", 2),
        ("succeeded", 1),
    ]


def test_a_superseded_execution_that_fails_records_no_failure(served: Served) -> None:
    run_id = served.ok("ops", "create_tenant", slug="late", name="L", plan="free")["workflow"]["id"]
    worker = Worker(served.services, owner="w")
    assert worker.claim() == run_id
    early, name = worker._start_next_step(run_id)  # type: ignore[misc]
    late, _ = worker._start_next_step(run_id)  # type: ignore[misc]
    with pytest.raises(LeaseLost):
        worker._fail(early, name, ProvisioningFailed("the stale execution failed."))
    assert worker._run_step(late, name, "provision")
    assert worker.execute(run_id) is not None
    run = served.ok("ops", "get_workflow", workflow_id=run_id)
    assert (run["status"], run["error"]) == ("succeeded", None)
    assert served.ok("ops", "get_tenant", tenant="late")["state"] == "active"
