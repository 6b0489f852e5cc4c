"""Terraform plan files of runs that are over are swept (issue 13): a killed run never
reaches its own cleanup, so a worker sweeps at start (sparing tenants whose run a live worker
holds) and whenever a run of the tenant ends."""

from __future__ import annotations

import threading
from pathlib import Path

from paybill.server.executors.terraform.cli import workspaces_root
from paybill.server.workflows.engine.worker import Worker
from tests.support.served import Clock, Served


def _plan_file(served: Served, tenant_id: str, name: str = "tenant-0123456789ab") -> Path:
    workdir = workspaces_root(served.services.settings.data_dir) / tenant_id / "local"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "main.tf").write_text("# the module stays\n")
    plan = workdir / f"{name}.tfplan"
    plan.write_bytes(b"a killed run's saved plan")
    return plan


def _id(served: Served, slug: str) -> str:
    return served.ok("ops", "get_tenant", tenant=slug)["id"]


def test_a_starting_worker_sweeps_plans_of_tenants_no_live_worker_runs(
    clocked: tuple[Served, Clock],
) -> None:
    served, _clock = clocked
    stale = _plan_file(served, _id(served, "acme"))
    run_id = served.ok("ops", "create_tenant", slug="busy", name="B", plan="free")["workflow"]
    live = Worker(served.services, owner="live")
    assert live.claim() == run_id["id"]  # a live worker holds busy's run lock
    in_use = _plan_file(served, run_id["tenant_id"])

    stop = threading.Event()
    stop.set()  # start, sweep, stop
    Worker(served.services, owner="starting").serve(stop)

    assert not stale.exists()
    assert stale.with_name("main.tf").exists()
    assert in_use.exists()


def test_a_run_ending_sweeps_its_tenants_plans(served: Served) -> None:
    created = served.ok("ops", "create_tenant", slug="newco", name="N", plan="free")
    leftover = _plan_file(served, created["tenant"]["id"])
    other = _plan_file(served, _id(served, "acme"))
    assert served.drain() == 1
    assert not leftover.exists()
    assert other.exists()  # another tenant's: only a worker starting sweeps it
