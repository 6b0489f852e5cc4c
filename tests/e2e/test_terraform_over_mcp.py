"""Real Terraform applies and destroys the local module for tenants of all three isolation
models, driven through create_tenant and offboard_tenant over the MCP client, with the
server's embedded worker executing the runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from sqlalchemy import text

from paybill.server.app import build_server
from paybill.server.core.vocabulary import Isolation
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.executors.terraform.cli import Terraform
from paybill.server.workflows.engine.worker import embedded_worker
from tests.support.served import Clock
from tests.support.terraform import terraform_services

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
PLANS = {"free": Isolation.POOLED, "pro": Isolation.BRIDGE, "enterprise": Isolation.SILO}


async def _call(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert result.structured_content is not None
    return result.structured_content


async def _wait(client: Client, run_id: str) -> dict[str, Any]:
    run = await _call(client, "get_workflow", {"workflow_id": run_id, "wait_seconds": 60})
    assert run["status"] == "succeeded", run
    return run


def test_apply_and_destroy_for_every_isolation_over_mcp(
    store_url: str, tmp_path: Path, terraform: Terraform
) -> None:
    clock = Clock()
    services = terraform_services(
        store_url, tmp_path / "data", terraform.binary, terraform, clock=clock
    )
    settings = services.settings
    ops = build_server(services, lambda _ctx: "ops")
    boss = build_server(services, lambda _ctx: "boss")
    states: dict[str, Path] = {}
    offboarding: dict[str, str] = {}

    async def onboard_then_offboard() -> None:
        async with Client(ops) as client:
            for plan in PLANS:
                created = await _call(
                    client, "create_tenant", {"slug": f"tf-{plan}", "name": plan, "plan": plan}
                )
                run = await _wait(client, created["workflow"]["id"])
                tenant_id = run["tenant_id"]
                states[plan] = settings.data_dir / "terraform" / tenant_id / "local"
                pending = await client.call_tool(
                    "offboard_tenant",
                    {"tenant": f"tf-{plan}", "confirm_slug": f"tf-{plan}", "reason": "test"},
                )
                assert pending.is_error
                offboarding[plan] = pending.structured_content["error"]["details"]["approval_id"]
        async with Client(boss) as client:
            for plan, approval in offboarding.items():
                decided = await _call(
                    client,
                    "decide_approval",
                    {"approval_id": approval, "decision": "approve", "reason": "done"},
                )
                run = await _wait(client, decided["result"]["workflow"]["id"])
                offboarding[plan] = run["steps"][-1]["output"]["deletion_run"]

    async def delete_after_retention() -> None:
        async with Client(ops) as client:
            for run_id in offboarding.values():
                run = await _wait(client, run_id)
                assert run["steps"][1]["output"]["terraform"] == "destroyed"

    with embedded_worker(services, poll_seconds=0.05):
        anyio.run(onboard_then_offboard)
        for plan, state in states.items():
            resources = json.loads((state / "terraform.tfstate").read_text())["resources"]
            assert [r["type"] for r in resources] == ["null_resource"], plan
            triggers = resources[0]["instances"][0]["attributes"]["triggers"]
            assert triggers["isolation"] == PLANS[plan].value
        clock.advance(31 * 86_400)  # past the retention period
        anyio.run(delete_after_retention)
    for plan, state in states.items():
        assert json.loads((state / "terraform.tfstate").read_text())["resources"] == [], plan
    with services.engines.shared.connect() as conn:
        for plan, isolation in PLANS.items():
            route = TenantRoute(states[plan].parent.name, isolation)
            role = conn.execute(
                text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": route.role}
            )
            assert role.first() is None, plan
            if isolation is Isolation.BRIDGE:
                schema = conn.execute(
                    text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": route.schema}
                )
                assert schema.first() is None
            if isolation is Isolation.SILO:
                database = conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": route.database}
                )
                assert database.first() is None
    services.engines.dispose()
    services.db.dispose()
