"""Provisioning through Terraform: the tenant's module for its cloud, then (for the local
target) its database objects. Selected with ``PAYBILL_PROVISIONER=terraform``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.core.vocabulary import CloudTarget, Isolation
from paybill.server.executors.clouds.vending import (
    CloudAccountVendor,
    archiver,
    terraform_account,
)
from paybill.server.executors.dataplane.engines import Engines
from paybill.server.executors.local import LocalProvisioner
from paybill.server.executors.provisioner import Progress, TenantFacts, no_progress
from paybill.server.executors.terraform import archiving, vend_first
from paybill.server.executors.terraform.cli import (
    TenantWorkspace,
    Terraform,
    run_module,
    workspaces_root,
)
from paybill.server.executors.terraform.plan_policy import PlanPolicy
from paybill.server.executors.terraform.saved_plans import (
    APPROVED_PLAN,
    SavedPlan,
    apply_saved,
    plan_checked,
    saved_plan_problem,
)


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
        platform: Mapping[str, str] | None = None,
    ) -> None:
        self.root = workspaces_root(data_dir)
        self.platform = dict(platform or {})  # the deployment's shared ids, for every module
        self.state_conn = state_conn  # None: local state in each tenant's working directory
        self.vendors = {vendor.cloud: vendor for vendor in vendors}
        self.terraform = terraform
        self.policy = policy
        self.local = LocalProvisioner(data_dir, engines)

    def provision(self, tenant: TenantFacts, progress: Progress = no_progress) -> dict[str, Any]:
        vended = self._vend(tenant, progress)
        workspace = self._workspace(tenant, vended)
        outputs = run_module(self.terraform, workspace, self.policy, progress=progress)
        result: dict[str, Any] = {"provisioner": self.name, **vended, "terraform": outputs}
        if tenant.cloud is CloudTarget.LOCAL:
            result["objects"] = self.local.provision(tenant)
        return result

    def plan_saved(self, tenant: TenantFacts, *, keep: bool) -> SavedPlan:
        """Plan the tenant's module for ``tenant`` (the facts after an approved change) and
        check it; ``keep``: the file stays for the approval to apply (``saved_plans``).

        Creates nothing in a cloud: a silo tenant's account is only looked up. When it does
        not exist yet there is no plan (``file`` None) and the summary binds what the run
        will vend and plan with instead (``vend_first``).

        Raises: ProvisioningFailed (the lookup, terraform failed, or the policy refuses the
        plan)."""
        found = self._lookup(tenant)
        if found is None:
            return SavedPlan(vend_first.summary(self._binding(tenant)), None)
        workspace = self._workspace(tenant, found)
        return plan_checked(self.terraform, workspace, self.policy, keep=keep)

    def vend_approved(
        self, tenant: TenantFacts, bound: Mapping[str, Any], progress: Progress = no_progress
    ) -> dict[str, Any]:
        """Vend the account an approval bound (``vend_first``): the run's first step, after
        the approval. Idempotent: a repeated step finds the account.

        Raises:
            ProvisioningFailed: the account, module or inputs are no longer the approved ones
                (nothing is vended), or vending failed.
        """
        self._require_bound(tenant, bound, "nothing was vended")
        return self._vend(tenant, progress)

    def provision_vended(
        self, tenant: TenantFacts, bound: Mapping[str, Any], progress: Progress = no_progress
    ) -> dict[str, Any]:
        """``provision`` for a move approved before its account existed: plan in the account
        now vended, check the plan against the policy, apply it.

        Raises:
            ProvisioningFailed: the module or inputs are no longer the approved ones (nothing
                is applied), or vending, Terraform or the policy check failed.
        """
        self._require_bound(tenant, bound, "nothing was applied")
        return self.provision(tenant, progress)

    def _binding(self, tenant: TenantFacts) -> dict[str, Any]:
        vendor = self.vendors[tenant.cloud]
        return vend_first.binding(tenant, vendor.planned(tenant), self.platform)

    def _require_bound(self, tenant: TenantFacts, bound: Mapping[str, Any], then: str) -> None:
        problem = vend_first.binding_problem(bound, self._binding(tenant))
        if problem is not None:
            raise ProvisioningFailed(
                f"The approved move cannot run as approved: {problem}; {then}. Request the "
                "plan change again for a fresh approval.",
            )

    def saved_plan_problem(self, tenant: TenantFacts, name: str, sha256: str) -> str | None:
        return saved_plan_problem(self._workspace(tenant), name, sha256)

    def discard_saved(self, tenant: TenantFacts, name: str) -> None:
        """Remove an approved plan file no approval will apply any more."""
        if APPROVED_PLAN.match(name):
            (self._workspace(tenant).path / name).unlink(missing_ok=True)

    def provision_saved(
        self,
        tenant: TenantFacts,
        plan_file: str,
        plan_sha256: str,
        progress: Progress = no_progress,
    ) -> dict[str, Any]:
        """``provision`` by applying exactly an approved saved plan (then the outputs and,
        for the local target, the database objects).

        Raises: ProvisioningFailed (the file is missing or altered, the account it was
        planned in is gone, the policy refuses it, or Terraform refuses it as stale)."""
        if self._lookup(tenant) is None:
            # The plan was made inside an account that existed then; vending now would make
            # another one, which nobody approved and the plan does not target.
            raise ProvisioningFailed(
                f"The approved Terraform plan was made in {tenant.slug!r}'s "
                f"{tenant.cloud.value} account, which no longer exists; nothing was vended or "
                "applied. Request the plan change again for a fresh plan and approval.",
            )
        vended = self._vend(tenant, progress)
        workspace = self._workspace(tenant, vended)
        outputs = apply_saved(
            self.terraform, workspace, self.policy, plan_file, plan_sha256, progress
        )
        result: dict[str, Any] = {
            "provisioner": self.name,
            **vended,
            "terraform": outputs,
            "plan_sha256": plan_sha256,
        }
        if tenant.cloud is CloudTarget.LOCAL:
            result["objects"] = self.local.provision(tenant)
        return result

    def _lookup(self, tenant: TenantFacts) -> dict[str, Any] | None:
        """``_vend`` without creating anything: None when the silo account is missing."""
        vendor = self.vendors.get(tenant.cloud)
        if vendor is None or tenant.isolation is not Isolation.SILO:
            return {}
        found = vendor.find(tenant)
        return None if found is None else {"cloud_account": found}

    def _vend(self, tenant: TenantFacts, progress: Progress) -> dict[str, Any]:
        vendor = self.vendors.get(tenant.cloud)
        if vendor is None or tenant.isolation is not Isolation.SILO:
            return {}
        # A silo tenant's infrastructure lives in an account of its own: vend it first.
        progress(f"{tenant.cloud.value} account")
        return {"cloud_account": vendor.vend(tenant)}

    def _workspace(
        self, tenant: TenantFacts, vended: Mapping[str, Any] | None = None, *, protect: bool = True
    ) -> TenantWorkspace:
        account = terraform_account(vended.get("cloud_account", {})) if vended else {}
        return TenantWorkspace(
            self.root,
            tenant,
            self.state_conn,
            account=account,
            platform=self.platform,
            protect=protect,
        )

    def destroy(self, tenant: TenantFacts, progress: Progress = no_progress) -> dict[str, Any]:
        """Offboarding's last step: the policy check allows destroying data stores here only.
        Terraform destroys in the silo tenant's account, looked up (never created: an account
        made now would hold nothing to destroy).

        Raises:
            ProvisioningFailed: the silo tenant's account is gone, or Terraform or the policy
                check failed.
        """
        found = self._lookup(tenant)
        if found is None:
            raise ProvisioningFailed(
                f"No {tenant.cloud.value} account of {tenant.slug!r} was found, so Terraform "
                "cannot destroy in it; nothing was changed and the tenant stays archived. If "
                "the account was closed by hand, its resources went with it: remove the "
                f"working directory <data dir>/terraform/{tenant.id}/{tenant.cloud.value} "
                "(its state) by hand.",
                tenant=tenant.slug,
            )
        workspace = self._workspace(tenant, found, protect=False)
        if tenant.cloud is not CloudTarget.LOCAL:
            # Cloud data stores are deletion-protected (AWS and GCP refuse to delete them
            # otherwise): one apply lifts the protection, which the plan policy allows in
            # offboarding only; the destroy then removes them (AWS: after a final snapshot).
            progress("lift deletion protection")
            run_module(self.terraform, workspace, self.policy, offboarding=True, progress=progress)
        run_module(self.terraform, workspace, self.policy, destroy=True, progress=progress)
        result: dict[str, Any] = {"provisioner": self.name, "terraform": "destroyed"}
        if tenant.cloud is CloudTarget.LOCAL:
            result["objects"] = self.local.destroy(tenant, progress)
        return result

    def archive(self, tenant: TenantFacts, progress: Progress = no_progress) -> dict[str, Any]:
        """Archiving keeps the tenant's data until deletion destroys it: local, read-only
        database objects; an AWS silo tenant, a snapshot of its stopped RDS instance; a GCP
        silo tenant, a backup of its stopped Cloud SQL instance (``archiving``).

        Raises:
            ProvisioningFailed: a target Paybill cannot archive (nothing is changed; the
                message says where the data is and what to do by hand), or the archive
                itself failed.
        """
        if tenant.cloud is CloudTarget.LOCAL:
            return {"provisioner": self.name, "objects": self.local.archive(tenant)}
        vendor = self.vendors.get(tenant.cloud)
        found = archiver(vendor) if vendor and archiving.vendor_archives(tenant) else None
        if found is None:
            workspace = self._workspace(tenant).path.relative_to(self.root.parent)
            raise ProvisioningFailed(
                archiving.refusal(tenant, self.platform, workspace.as_posix()),
                cloud=tenant.cloud.value,
                isolation=tenant.isolation.value,
            )
        progress(f"{tenant.cloud.value} backup and stop")
        return {"provisioner": self.name, "archive": found.archive(tenant)}

    def archive_does(self, tenant: TenantFacts) -> str:
        """What ``archive`` will do for ``tenant``, for the offboarding approval's effect."""
        configured = tenant.cloud in self.vendors
        return archiving.does(tenant, vendor_configured=configured)
