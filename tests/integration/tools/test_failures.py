"""Internal errors leak nothing and change nothing; provisioning failures are kept visible."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import func, select

from paybill.server.app import build_pipeline, build_services
from paybill.server.core.errors import ProvisioningFailed
from paybill.server.core.settings import Settings
from paybill.server.executors.provisioner import TenantFacts
from paybill.server.guards.pipeline import Pipeline
from paybill.server.store import AuditEvent, Tenant
from paybill.server.workflows.engine.worker import Worker
from tests.support.served import populate


class CrashingProvisioner:
    """Fails the way a bug would: an unexpected exception carrying internal detail."""

    name = "crashing"

    def provision(self, tenant: TenantFacts, progress: Any = None) -> dict[str, Any]:
        raise RuntimeError("password=hunter2 at /srv/secret/path line 42")

    def archive(self, tenant: TenantFacts, progress: Any = None) -> dict[str, Any]:
        raise RuntimeError("unused")


class RefusingProvisioner(CrashingProvisioner):
    """Fails the way infrastructure does: a typed provisioning failure."""

    def provision(self, tenant: TenantFacts, progress: Any = None) -> dict[str, Any]:
        raise ProvisioningFailed("the region has no capacity.", region=tenant.region)


def _pipeline(settings: Settings, provisioner: Any) -> Pipeline:
    services = build_services(settings, provisioner=provisioner)
    populate_services = build_services(settings)  # seed with a working provisioner
    populate(populate_services)
    populate_services.db.dispose()
    return build_pipeline(services)


LEAKS = ("hunter2", "/srv/secret", "RuntimeError", "Traceback", "line 42")


def test_internal_error_in_a_call_is_generic_and_rolled_back(settings: Settings) -> None:
    pipeline = _pipeline(settings, None)
    spec = pipeline.registry["create_tenant"]

    def crash(call: Any, args: Any) -> Any:
        spec.handler(call, args)  # the tenant is recorded, then a bug strikes
        raise RuntimeError("password=hunter2 at /srv/secret/path line 42")

    pipeline.registry["create_tenant"] = replace(spec, handler=crash)
    outcome = pipeline.call("create_tenant", "ops", {"slug": "boom", "name": "B", "plan": "free"})
    assert outcome.is_error
    error = outcome.payload["error"]
    assert error["code"] == "INTERNAL"
    assert not any(leak in str(outcome.payload) for leak in LEAKS)
    assert set(error["details"]) == {"reference"}
    with pipeline.services.db.session() as session:
        assert session.scalar(select(Tenant).where(Tenant.slug == "boom")) is None
        last = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert (last.tool, last.outcome) == ("create_tenant", "INTERNAL")


def test_internal_error_in_a_step_fails_the_run_without_leaking(settings: Settings) -> None:
    pipeline = _pipeline(settings, CrashingProvisioner())
    created = pipeline.call("create_tenant", "ops", {"slug": "boom", "name": "B", "plan": "free"})
    assert not created.is_error
    Worker(pipeline.services).run_pending()
    run_id = created.payload["workflow"]["id"]
    run = pipeline.call("get_workflow", "ops", {"workflow_id": run_id}).payload
    assert run["status"] == "failed"
    assert run["error"]["code"] == "INTERNAL"
    assert not any(leak in str(run) for leak in LEAKS)
    assert pipeline.call("get_tenant", "ops", {"tenant": "boom"}).payload["state"] == "failed"


def test_provisioning_failure_keeps_the_failed_tenant_and_run(settings: Settings) -> None:
    pipeline = _pipeline(settings, RefusingProvisioner())
    created = pipeline.call("create_tenant", "ops", {"slug": "late", "name": "L", "plan": "free"})
    Worker(pipeline.services).run_pending()
    run = pipeline.call("get_workflow", "ops", {"workflow_id": created.payload["workflow"]["id"]})
    error = run.payload["error"]
    assert error["code"] == "PROVISIONING_FAILED"
    assert "no capacity" in error["message"]
    assert run.payload["status"] == "failed"
    assert [s["status"] for s in run.payload["steps"]] == ["failed", "pending"]
    assert run.payload["lock"] is None
    tenant = pipeline.call("get_tenant", "ops", {"tenant": "late"}).payload
    assert tenant["state"] == "failed"
    assert "offboard" in tenant["allowed_actions"]
    with pipeline.services.db.session() as session:
        workflow_events = select(AuditEvent).where(AuditEvent.tool.like("workflow.%"))
        last = session.scalars(workflow_events.order_by(AuditEvent.id.desc())).first()
        assert (last.tool, last.outcome, last.error_code) == (
            "workflow.provision",
            "failed",
            "PROVISIONING_FAILED",
        )


@pytest.mark.parametrize("tool", ["list_plans", "get_tenant"])
def test_rate_limit(store_url: str, tmp_path, tool: str) -> None:
    settings = Settings(database_url=store_url, data_dir=tmp_path / "d", rate_per_minute=3)
    services = build_services(settings)
    populate(build_services(Settings(database_url=store_url, data_dir=tmp_path / "d")))
    pipeline = build_pipeline(services)
    arguments = {"tenant": "acme"} if tool == "get_tenant" else {}
    outcomes = [pipeline.call(tool, "boss", arguments) for _ in range(4)]
    assert [o.is_error for o in outcomes] == [False, False, False, True]
    assert outcomes[-1].payload["error"]["code"] == "QUOTA_EXCEEDED"
    assert not pipeline.call(tool, "ops", arguments).is_error  # per principal
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Tenant)) == 2
