"""The interface every provisioner (local, Terraform) implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from paybill.server.domain import CloudTarget, Isolation


@dataclass(frozen=True)
class TenantFacts:
    """What a provisioner needs to know about a tenant; never credentials."""

    id: str
    slug: str
    plan: str
    tier: int
    isolation: Isolation
    cloud: CloudTarget
    region: str


class Provisioner(Protocol):
    """Creates and removes a tenant's infrastructure. Both calls must be idempotent.

    Raises (both methods):
        ProvisioningFailed: the infrastructure could not be brought to the wanted state.
    """

    name: str

    def provision(self, tenant: TenantFacts) -> dict[str, Any]:
        """Bring the tenant's infrastructure up; return its connection and resource facts."""
        ...

    def archive(self, tenant: TenantFacts) -> dict[str, Any]:
        """Make the tenant's infrastructure read-only and record where it is kept."""
        ...
