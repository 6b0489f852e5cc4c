"""Provisioning through Terraform: the tenant's module for its cloud, then (for the local
target) its database objects. Selected with ``PAYBILL_PROVISIONER=terraform``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from paybill.server.core.vocabulary import CloudTarget, Isolation
from paybill.server.executors.clouds.vending import CloudAccountVendor
from paybill.server.executors.dataplane.engines import Engines
from paybill.server.executors.local import LocalProvisioner
from paybill.server.executors.provisioner import Progress, TenantFacts, no_progress
from paybill.server.executors.terraform.cli import (
    TenantWorkspace,
    Terraform,
    run_module,
    workspaces_root,
)
from paybill.server.executors.terraform.plan_policy import PlanPolicy


class TerraformProvisioner:
    name = "terraform"

    def __init__(
        self,
        data_dir: Path,
        engines: Engines,
        terraform: Terraform,
        policy: PlanPolicy,
        vendors: Sequence[CloudAccountVendor] = (),
        state_conn: str | None = None,
    ) -> None:
        self.root = workspaces_root(data_dir)
        self.state_conn = state_conn  # None: local state in each tenant's working directory
        self.vendors = {vendor.cloud: vendor for vendor in vendors}
        self.terraform = terraform
        self.policy = policy
        self.local = LocalProvisioner(data_dir, engines)

    def provision(self, tenant: TenantFacts, progress: Progress = no_progress) -> dict[str, Any]:
        vended: dict[str, Any] = {}
        vendor = self.vendors.get(tenant.cloud)
        if vendor is not None and tenant.isolation is Isolation.SILO:
            # A silo tenant's infrastructure lives in an account of its own: vend it first.
            progress(f"{tenant.cloud.value} account")
            vended = {"cloud_account": vendor.vend(tenant)}
        workspace = TenantWorkspace(self.root, tenant, self.state_conn)
        outputs = run_module(self.terraform, workspace, self.policy, progress=progress)
        result: dict[str, Any] = {"provisioner": self.name, **vended, "terraform": outputs}
        if tenant.cloud is CloudTarget.LOCAL:
            result["objects"] = self.local.provision(tenant)
        return result

    def destroy(self, tenant: TenantFacts, progress: Progress = no_progress) -> dict[str, Any]:
        # Offboarding's last step: the policy check allows destroying data stores here only.
        workspace = TenantWorkspace(self.root, tenant, self.state_conn)
        run_module(self.terraform, workspace, self.policy, destroy=True, progress=progress)
        result: dict[str, Any] = {"provisioner": self.name, "terraform": "destroyed"}
        if tenant.cloud is CloudTarget.LOCAL:
            result["objects"] = self.local.destroy(tenant, progress)
        return result

    def archive(self, tenant: TenantFacts, progress: Progress = no_progress) -> dict[str, Any]:
        # Archiving keeps the infrastructure (data stays until deletion); it only makes the
        # tenant's data read-only. Destroying it is the deletion step of offboarding.
        if tenant.cloud is CloudTarget.LOCAL:
            return {"provisioner": self.name, "objects": self.local.archive(tenant)}
        return {"provisioner": self.name, "read_only": False}
