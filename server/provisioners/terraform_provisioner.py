"""Provisioning through Terraform: the tenant's module for its cloud, then (for the local
target) its database objects. Selected with ``PAYBILL_PROVISIONER=terraform``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paybill.server.dataplane.engines import Engines
from paybill.server.domain import CloudTarget
from paybill.server.provisioners.base import TenantFacts
from paybill.server.provisioners.local import LocalProvisioner
from paybill.server.provisioners.plan_policy import PlanPolicy
from paybill.server.provisioners.terraform import TenantWorkspace, Terraform, run_module


class TerraformProvisioner:
    name = "terraform"

    def __init__(
        self, data_dir: Path, engines: Engines, terraform: Terraform, policy: PlanPolicy
    ) -> None:
        self.root = data_dir / "terraform"
        self.terraform = terraform
        self.policy = policy
        self.local = LocalProvisioner(data_dir, engines)

    def provision(self, tenant: TenantFacts) -> dict[str, Any]:
        outputs = run_module(self.terraform, TenantWorkspace(self.root, tenant), self.policy)
        result: dict[str, Any] = {"provisioner": self.name, "terraform": outputs}
        if tenant.cloud is CloudTarget.LOCAL:
            result["objects"] = self.local.provision(tenant)
        return result

    def archive(self, tenant: TenantFacts) -> dict[str, Any]:
        # Archiving keeps the infrastructure (data stays until deletion); it only makes the
        # tenant's data read-only. Destroying it is the deletion step of offboarding.
        if tenant.cloud is CloudTarget.LOCAL:
            return {"provisioner": self.name, "objects": self.local.archive(tenant)}
        return {"provisioner": self.name, "read_only": False}
