"""retry_workflow: failed provisioning and offboarding runs converge when run again."""

from __future__ import annotations

from typing import Any

from paybill.server.errors import ProvisioningFailed
from paybill.server.provisioners.base import TenantFacts
from tests.server.conftest import Served


class FailsOnce:
    """The real provisioner behind a fault that strikes once per operation."""

    name = "fails-once"

    def __init__(self, real: Any) -> None:
        self.real, self.failed = real, set()

    def _maybe_fail(self, operation: str) -> None:
        if operation not in self.failed:
            self.failed.add(operation)
            raise ProvisioningFailed(f"transient {operation} failure.")

    def provision(self, tenant: TenantFacts) -> dict[str, Any]:
        self._maybe_fail("provision")
        return self.real.provision(tenant)

    def archive(self, tenant: TenantFacts) -> dict[str, Any]:
        self._maybe_fail("archive")
        return self.real.archive(tenant)


def test_failed_provisioning_is_retried_to_active(served: Served) -> None:
    served.services.provisioner = FailsOnce(served.services.provisioner)
    failed = served.error("ops", "create_tenant", slug="flaky", name="F", plan="free")
    assert failed["code"] == "PROVISIONING_FAILED"
    run_id = failed["details"]["workflow_id"]
    assert served.ok("ops", "get_tenant", tenant="flaky")["state"] == "failed"
    preview = served.ok("ops", "retry_workflow", workflow_id=run_id, dry_run=True)
    assert preview["workflow"] is None and preview["tenant"]["state"] == "failed"
    retried = served.ok("ops", "retry_workflow", workflow_id=run_id)
    assert retried["tenant"]["state"] == "active"
    assert retried["workflow"]["status"] == "succeeded"
    assert retried["workflow"]["steps"][0]["output"] == {"from": "failed", "to": "provisioning"}
    stale = served.error("ops", "retry_workflow", workflow_id=run_id)
    assert stale["code"] == "CONFLICT"
    assert stale["details"]["latest_workflow_id"] == retried["workflow"]["id"]
    rows = served.ok(
        "admin", "insert_rows", tenant="flaky", table="customers", rows=[{"name": "works"}]
    )
    assert rows["rows_affected"] == 1


def test_failed_offboarding_is_retried_to_archived(served: Served) -> None:
    served.services.provisioner = FailsOnce(served.services.provisioner)
    served.services.provisioner.failed.add("provision")  # only archiving is flaky
    approval = served.error(
        "ops", "offboard_tenant", tenant="acme", confirm_slug="acme", reason="leaving"
    )["details"]["approval_id"]
    failed = served.error(
        "boss", "decide_approval", approval_id=approval, decision="approve", reason="fine"
    )
    assert failed["code"] == "PROVISIONING_FAILED"
    assert served.ok("ops", "get_tenant", tenant="acme")["state"] == "offboarding"
    retried = served.ok("ops", "retry_workflow", workflow_id=failed["details"]["workflow_id"])
    assert retried["tenant"]["state"] == "archived"
    assert [s["name"] for s in retried["workflow"]["steps"]] == [
        "revoke_access",
        "archive_infrastructure",
        "archived",
    ]


def test_only_failed_runs_can_be_retried(served: Served) -> None:
    run_id = served.ok("ops", "create_tenant", slug="fine", name="F", plan="free")["workflow"]["id"]
    refused = served.error("ops", "retry_workflow", workflow_id=run_id)
    assert refused["code"] == "INVALID_INPUT"
    assert refused["details"]["status"] == "succeeded"
    assert served.error("boss", "retry_workflow", workflow_id=run_id)["code"] == "DENIED"
