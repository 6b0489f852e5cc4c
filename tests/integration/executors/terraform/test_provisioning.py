"""create_tenant over the guard pipeline with PAYBILL_PROVISIONER=terraform: real applies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from paybill.server.app import build_pipeline
from paybill.server.executors.terraform.cli import Terraform
from paybill.server.guards.pipeline import Pipeline
from paybill.server.workflows.engine.worker import Worker
from tests.support.terraform import terraform_services

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


@pytest.fixture
def pipeline(store_url: str, tmp_path: Path, terraform: Terraform) -> Pipeline:
    services = terraform_services(store_url, tmp_path / "data", terraform.binary, terraform)
    yield build_pipeline(services)
    services.engines.dispose()
    services.db.dispose()


def _provision(pipeline: Pipeline, arguments: dict) -> dict:
    outcome = pipeline.call("create_tenant", "admin", arguments)
    assert not outcome.is_error, outcome.payload
    Worker(pipeline.services).run_pending()
    run_id = outcome.payload["workflow"]["id"]
    return pipeline.call("get_workflow", "admin", {"workflow_id": run_id}).payload


def test_onboarding_applies_the_module_for_each_isolation(pipeline: Pipeline) -> None:
    root = pipeline.services.settings.data_dir / "terraform"
    for plan, isolation in (("free", "pooled"), ("pro", "bridge"), ("enterprise", "silo")):
        run = _provision(pipeline, {"slug": f"tf-{plan}", "name": plan, "plan": plan})
        assert run["status"] == "succeeded", run
        step = run["steps"][0]["output"]
        assert step["terraform"]["connection"]["isolation"] == isolation
        assert step["objects"]["isolation"] == isolation
        state = root / run["tenant_id"] / "local" / "terraform.tfstate"
        resources = json.loads(state.read_text())["resources"]
        assert [r["type"] for r in resources] == ["null_resource"]
        triggers = resources[0]["instances"][0]["attributes"]["triggers"]
        assert (triggers["paybill_slug"], triggers["managed_by"]) == (f"tf-{plan}", "paybill")


def test_a_cloud_target_without_its_provider_fails_cleanly(pipeline: Pipeline) -> None:
    run = _provision(
        pipeline,
        {"slug": "on-aws", "name": "A", "plan": "free", "cloud": "aws", "region": "eu-west-1"},
    )
    error = run["error"]
    assert run["status"] == "failed"
    assert error["code"] == "PROVISIONING_FAILED"
    assert "terraform init failed" in error["message"]
    assert "\n" not in error["message"]


def test_state_can_live_in_postgresql(store_url: str, tmp_path: Path, terraform: Terraform) -> None:
    services = terraform_services(
        store_url, tmp_path / "data", terraform.binary, terraform, terraform_state_backend="pg"
    )
    settings = services.settings
    run = _provision(build_pipeline(services), {"slug": "pg-state", "name": "P", "plan": "pro"})
    assert run["status"] == "succeeded", run
    workdir = settings.data_dir / "terraform" / run["tenant_id"] / "local"
    assert not (workdir / "terraform.tfstate").exists()
    assert (workdir / "state.tfbackend").stat().st_mode & 0o777 == 0o600
    schema = "pb_tfstate_" + run["tenant_id"].replace("-", "")
    with services.engines.shared.connect() as conn:
        stored = conn.execute(text(f"SELECT data FROM {schema}.states")).scalar_one()
    assert [r["type"] for r in json.loads(stored)["resources"]] == ["null_resource"]
    services.engines.dispose()
    services.db.dispose()
