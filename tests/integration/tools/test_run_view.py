"""Tenant roles see step outputs through an allow-list: no server paths, no provisioner or
cloud details; platform roles see them in full. The wait path (get_workflow wait_seconds
over MCP) shows the same view as the call."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from mcp import Client
from sqlalchemy import select

from paybill.server.app import build_server
from paybill.server.core.vocabulary import Role
from paybill.server.store import Tenant, WorkflowRun
from paybill.tools.models import RunOut
from paybill.tools.run_view import MASK, PATH_MASK, run_for, tenant_output
from tests.support.served import Served


def _acme_run(served: Served) -> str:
    with served.services.db.session() as session:
        run_id = session.scalars(
            select(WorkflowRun.id)
            .join(Tenant, Tenant.id == WorkflowRun.tenant_id)
            .where(Tenant.slug == "acme", WorkflowRun.kind == "provision")
        ).first()
    assert run_id is not None
    return run_id


def _no_paths(run: dict[str, Any], data_dir: str) -> None:
    text = json.dumps(run["steps"])
    assert data_dir not in text and "infrastructure.json" not in text


@pytest.fixture
def served(shared_served: Served) -> Served:
    """Reads only: one populated store per module and backend."""
    return shared_served


@pytest.mark.parametrize("principal", ["acme-bot", "acme-admin"])
def test_tenant_roles_see_allow_listed_outputs(served: Served, principal: str) -> None:
    run_id = _acme_run(served)
    full = served.ok("ops", "get_workflow", workflow_id=run_id)
    # The operator's view names the record, relative to the data directory: no server path.
    assert full["steps"][0]["output"]["record"] == "tenants/acme/infrastructure.json"
    assert str(served.services.settings.data_dir) not in json.dumps(full)
    seen = served.ok(principal, "get_workflow", workflow_id=run_id)
    _no_paths(seen, str(served.services.settings.data_dir))
    provision, activate = (s["output"] for s in seen["steps"])
    assert not {"record", "provisioner", "tenant_id", "backend"} & set(provision)
    assert activate == {"from": "provisioning", "to": "active"}
    assert [s["status"] for s in seen["steps"]] == [s["status"] for s in full["steps"]]


def test_the_wait_shows_the_callers_view(served: Served) -> None:
    run_id = _acme_run(served)
    server = build_server(served.services, lambda _ctx: "acme-bot")

    async def main() -> dict[str, Any]:
        async with Client(server) as client:
            result = await client.call_tool(
                "get_workflow", {"workflow_id": run_id, "wait_seconds": 5}
            )
            assert not result.is_error and result.structured_content is not None
            return result.structured_content

    run = anyio.run(main)
    _no_paths(run, str(served.services.settings.data_dir))
    assert "record" not in run["steps"][0]["output"]


def test_tenant_output_keeps_allowed_keys_and_masks_paths() -> None:
    output = {
        "path": "/var/lib/paybill/exports/t/export.tar",
        "terraform": {"workspace": "/srv/tf/acme"},
        "overall_sha256": "ab" * 32,
        "tables": {"customers": 3},
        "from": "C:\\paybill\\x",
        "to": "active",
        "old_copy": {"isolation": "pooled", "where": "/srv/old"},
    }
    assert tenant_output(output) == {
        "overall_sha256": "ab" * 32,
        "tables": {"customers": 3},
        "from": MASK,
        "to": "active",
        "old_copy": {"isolation": "pooled", "where": MASK},
    }
    assert tenant_output(None) is None


def test_errors_and_progress_lose_their_paths_for_tenant_roles() -> None:
    failed = "terraform plan failed: Error in /srv/paybill/terraform/acme/main.tf line 3"
    step = {
        "position": 0,
        "name": "provision_infrastructure",
        "status": "failed",
        "attempts": 1,
        "output": None,
        "error": failed,
        "started_at": None,
        "finished_at": None,
    }
    run = RunOut.model_validate(
        {
            "id": "r",
            "tenant_id": "t",
            "kind": "provision",
            "status": "failed",
            "progress": "plan in /srv/paybill/terraform/acme",
            "error": {"code": "PROVISIONING_FAILED", "message": failed, "details": {}},
            "created_by": "ops",
            "created_at": "2026-12-07T12:00:00Z",
            "not_before": None,
            "finished_at": None,
            "lock": None,
            "steps": [step],
        }
    )
    seen = run_for(Role.TENANT_AGENT, run)
    masked = f"terraform plan failed: Error in {PATH_MASK} line 3"
    assert (seen.steps[0].error, seen.error) == (masked, {**run.error, "message": masked})
    assert seen.progress == f"plan in {PATH_MASK}"
    assert run_for(Role.OPERATOR, run) == run
