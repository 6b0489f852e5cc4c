"""retry_workflow: failed provisioning, plan-change and offboarding runs converge when run
again as new runs."""

from __future__ import annotations

from tests.support.faults import FailsOnce
from tests.support.served import Served


def test_failed_provisioning_is_retried_to_active(served: Served) -> None:
    served.services.provisioner = FailsOnce(served.services.provisioner)
    created = served.ok("ops", "create_tenant", slug="flaky", name="F", plan="free")
    run_id = created["workflow"]["id"]
    served.drain()
    failed = served.ok("ops", "get_workflow", workflow_id=run_id)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "PROVISIONING_FAILED"
    assert "transient provision failure" in failed["error"]["message"]
    assert served.ok("ops", "get_tenant", tenant="flaky")["state"] == "failed"
    preview = served.ok("ops", "retry_workflow", workflow_id=run_id, dry_run=True)
    assert preview["workflow"] is None and preview["tenant"]["state"] == "failed"
    retried = served.ok("ops", "retry_workflow", workflow_id=run_id)
    assert retried["tenant"]["state"] == "provisioning"
    assert retried["workflow"]["status"] == "pending"
    served.drain()
    again = served.ok("ops", "get_workflow", workflow_id=retried["workflow"]["id"])
    assert again["status"] == "succeeded"
    assert served.ok("ops", "get_tenant", tenant="flaky")["state"] == "active"
    stale = served.error("ops", "retry_workflow", workflow_id=run_id)
    assert stale["code"] == "CONFLICT"
    assert stale["details"]["latest_workflow_id"] == retried["workflow"]["id"]
    rows = served.ok(
        "admin", "insert_rows", tenant="flaky", table="customers", rows=[{"name": "works"}]
    )
    assert rows["rows_affected"] == 1


def test_failed_plan_change_is_retried(served: Served) -> None:
    served.services.provisioner = FailsOnce(served.services.provisioner)
    changed = served.ok("ops", "change_plan", tenant="acme", plan="pro", migrate_isolation=False)
    assert changed["tenant"]["state"] == "updating"
    served.drain()
    assert served.ok("ops", "get_tenant", tenant="acme")["state"] == "failed"
    retried = served.ok("ops", "retry_workflow", workflow_id=changed["workflow"]["id"])
    assert retried["tenant"]["state"] == "updating"
    served.drain()
    tenant = served.ok("ops", "get_tenant", tenant="acme")
    assert (tenant["state"], tenant["plan"]) == ("active", "pro")


def test_failed_offboarding_is_retried_to_archived(served: Served) -> None:
    served.services.provisioner = FailsOnce(served.services.provisioner)
    served.services.provisioner.failed.add("provision")  # only archiving is flaky
    approval = served.error(
        "ops", "offboard_tenant", tenant="acme", confirm_slug="acme", reason="leaving"
    )["details"]["approval_id"]
    decided = served.ok(
        "boss", "decide_approval", approval_id=approval, decision="approve", reason="fine"
    )
    served.drain()
    run_id = decided["result"]["workflow"]["id"]
    assert served.ok("ops", "get_workflow", workflow_id=run_id)["status"] == "failed"
    assert served.ok("ops", "get_tenant", tenant="acme")["state"] == "offboarding"
    retried = served.ok("ops", "retry_workflow", workflow_id=run_id)
    served.drain()
    assert served.ok("ops", "get_tenant", tenant="acme")["state"] == "archived"
    steps = served.ok("ops", "get_workflow", workflow_id=retried["workflow"]["id"])["steps"]
    assert [(s["name"], s["status"]) for s in steps] == [
        ("revoke_access", "succeeded"),
        ("export_data", "succeeded"),
        ("archive_infrastructure", "succeeded"),
        ("archived", "succeeded"),
        ("schedule_deletion", "succeeded"),
    ]


def test_only_failed_runs_can_be_retried(served: Served) -> None:
    run_id = served.ok("ops", "create_tenant", slug="fine", name="F", plan="free")["workflow"]["id"]
    pending = served.error("ops", "retry_workflow", workflow_id=run_id)
    assert (pending["code"], pending["details"]["status"]) == ("INVALID_INPUT", "pending")
    served.drain()
    refused = served.error("ops", "retry_workflow", workflow_id=run_id)
    assert refused["code"] == "INVALID_INPUT"
    assert refused["details"]["status"] == "succeeded"
    assert served.error("boss", "retry_workflow", workflow_id=run_id)["code"] == "DENIED"
