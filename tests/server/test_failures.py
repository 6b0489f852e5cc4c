"""Internal errors leak nothing and change nothing; provisioning failures are kept visible."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from paybill.server.app import build_services
from paybill.server.errors import ProvisioningFailed
from paybill.server.guards.pipeline import Pipeline
from paybill.server.provisioners.base import TenantFacts
from paybill.server.settings import Settings
from paybill.server.store import AuditEvent, Tenant
from tests.server.conftest import populate


class CrashingProvisioner:
    """Fails the way a bug would: an unexpected exception carrying internal detail."""

    name = "crashing"

    def provision(self, tenant: TenantFacts) -> dict[str, Any]:
        raise RuntimeError("password=hunter2 at /srv/secret/path line 42")

    def archive(self, tenant: TenantFacts) -> dict[str, Any]:
        raise RuntimeError("unused")


class RefusingProvisioner(CrashingProvisioner):
    """Fails the way infrastructure does: a typed provisioning failure."""

    def provision(self, tenant: TenantFacts) -> dict[str, Any]:
        raise ProvisioningFailed("the region has no capacity.", region=tenant.region)


def _pipeline(settings: Settings, provisioner: Any) -> Pipeline:
    services = build_services(settings, provisioner=provisioner)
    populate_services = build_services(settings)  # seed with a working provisioner
    populate(populate_services)
    populate_services.db.dispose()
    return Pipeline(services)


def test_internal_error_is_generic_and_rolled_back(settings: Settings) -> None:
    pipeline = _pipeline(settings, CrashingProvisioner())
    outcome = pipeline.call("create_tenant", "ops", {"slug": "boom", "name": "B", "plan": "free"})
    assert outcome.is_error
    error = outcome.payload["error"]
    assert error["code"] == "INTERNAL"
    text = str(outcome.payload)
    for leak in ("hunter2", "/srv/secret", "RuntimeError", "Traceback", "line 42"):
        assert leak not in text
    assert set(error["details"]) == {"reference"}
    with pipeline.services.db.session() as session:
        assert session.scalar(select(Tenant).where(Tenant.slug == "boom")) is None
        last = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert (last.tool, last.outcome) == ("create_tenant", "INTERNAL")


def test_provisioning_failure_keeps_the_failed_tenant_and_run(settings: Settings) -> None:
    pipeline = _pipeline(settings, RefusingProvisioner())
    outcome = pipeline.call("create_tenant", "ops", {"slug": "late", "name": "L", "plan": "free"})
    error = outcome.payload["error"]
    assert error["code"] == "PROVISIONING_FAILED"
    assert "no capacity" in error["message"]
    run = pipeline.call("get_workflow", "ops", {"workflow_id": error["details"]["workflow_id"]})
    steps = run.payload["steps"]
    assert run.payload["status"] == "failed"
    assert [s["status"] for s in steps] == ["succeeded", "failed", "pending"]
    tenant = pipeline.call("get_tenant", "ops", {"tenant": "late"}).payload
    assert tenant["state"] == "failed"
    assert "offboard" in tenant["allowed_actions"]


@pytest.mark.parametrize("tool", ["list_plans", "get_tenant"])
def test_rate_limit(store_url: str, tmp_path, tool: str) -> None:
    settings = Settings(database_url=store_url, data_dir=tmp_path / "d", rate_per_minute=3)
    services = build_services(settings)
    populate(build_services(Settings(database_url=store_url, data_dir=tmp_path / "d")))
    pipeline = Pipeline(services)
    arguments = {"tenant": "acme"} if tool == "get_tenant" else {}
    outcomes = [pipeline.call(tool, "boss", arguments) for _ in range(4)]
    assert [o.is_error for o in outcomes] == [False, False, False, True]
    assert outcomes[-1].payload["error"]["code"] == "QUOTA_EXCEEDED"
    assert not pipeline.call(tool, "ops", arguments).is_error  # per principal
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Tenant)) == 2
