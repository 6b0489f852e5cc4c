"""The interface of cloud account vendors: a dedicated AWS account or GCP project per silo
tenant, created before the tenant's Terraform module runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.core.vocabulary import CloudTarget
from paybill.server.executors.provisioner import TenantFacts

# Tag (AWS) and label (GCP) keys every vended account carries. GCP labels only allow
# lowercase letters, digits, "_" and "-", so the same keys work on both clouds.
TENANT_TAG = "paybill_tenant_id"
TIER_TAG = "paybill_tier"
SLUG_TAG = "paybill_slug"


class CloudAccountVendor(Protocol):
    """Creates (or finds) the cloud account that holds one silo tenant's infrastructure.

    ``vend`` must be idempotent: a second call finds what the first created and changes
    nothing. It returns plain facts (ids, names, tags, what it changed), never credentials.

    Raises:
        ProvisioningFailed: the account could not be created, found or configured.
    """

    cloud: CloudTarget

    def vend(self, tenant: TenantFacts) -> dict[str, Any]:
        """Create or find the tenant's account; return its facts."""
        ...

    def find(self, tenant: TenantFacts) -> dict[str, Any] | None:
        """The facts ``vend`` would return for an account that already exists (the keys
        ``terraform_account`` reads among them), or None when there is none yet. Read-only:
        it never creates, tags or configures anything, so an approval may be asked with it.

        Raises:
            ProvisioningFailed: the lookup failed, or the account found belongs to another
                tenant or is not active.
        """
        ...

    def planned(self, tenant: TenantFacts) -> dict[str, Any]:
        """What ``vend`` would create for the tenant, in words an approver can check (names,
        email or parent, labels/tags); computed, no call to the cloud.

        Raises:
            ProvisioningFailed: the vendor is not configured (email domain, parent).
        """
        ...


class DataStoreArchiver(Protocol):
    """A vendor that can also archive a silo tenant's dedicated data store (offboarding)."""

    def archive(self, tenant: TenantFacts) -> dict[str, Any]:
        """Snapshot and stop the tenant's data store; return what was done.

        Raises:
            ProvisioningFailed: it could not be found or archived.
        """
        ...


def archiver(vendor: CloudAccountVendor) -> DataStoreArchiver | None:
    """``vendor`` (resolved if lazy) when it can archive, else None."""
    resolved = vendor.resolve() if isinstance(vendor, LazyVendor) else vendor
    archive = getattr(resolved, "archive", None)
    return resolved if callable(archive) else None  # type: ignore[return-value]


class LazyVendor:
    """A vendor whose cloud SDK (the ``aws`` or ``gcp`` extra) is imported on first ``vend``,
    so a server that never vends an account needs neither SDK installed."""

    def __init__(
        self, cloud: CloudTarget, extra: str, build: Callable[[], CloudAccountVendor]
    ) -> None:
        self.cloud = cloud
        self.extra = extra
        self._build = build
        self._vendor: CloudAccountVendor | None = None

    def resolve(self) -> CloudAccountVendor:
        """The vendor itself, importing its SDK now.

        Raises:
            ProvisioningFailed: the SDK is missing; the message names the extra to install.
        """
        if self._vendor is None:
            try:
                self._vendor = self._build()
            except ModuleNotFoundError as exc:
                raise ProvisioningFailed(
                    f"Vending a dedicated {self.cloud} account needs the cloud SDK, which is "
                    f"not installed (missing module {exc.name!r}). Install it with "
                    f"`pip install 'paybill[{self.extra}]'`, then retry_workflow."
                ) from None
        return self._vendor

    def vend(self, tenant: TenantFacts) -> dict[str, Any]:
        return self.resolve().vend(tenant)

    def find(self, tenant: TenantFacts) -> dict[str, Any] | None:
        return self.resolve().find(tenant)

    def planned(self, tenant: TenantFacts) -> dict[str, Any]:
        return self.resolve().planned(tenant)


def terraform_account(vended: Mapping[str, Any]) -> dict[str, str]:
    """The module's ``account`` variable from a vendor's facts: where Terraform must create
    the silo tenant's resources (the modules' README lists the keys per cloud).

    AWS: the member account and the role Terraform assumes there (the organisation's access
    role: the tenant role is tag-scoped and may not create the VPC). GCP: the project."""
    cloud = vended.get("cloud")
    if cloud == CloudTarget.AWS.value:
        return {"id": str(vended["account_id"]), "role_arn": str(vended["access_role_arn"])}
    if cloud == CloudTarget.GCP.value:
        return {"project_id": str(vended["project_id"])}
    return {}
