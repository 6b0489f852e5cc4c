"""The interface every provisioner (local, Terraform) implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from paybill.server.core.vocabulary import CloudTarget, Isolation


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


# Reports what a long operation is doing now ("terraform plan"); shown by get_workflow.
Progress = Callable[[str], None]


def no_progress(_message: str) -> None:
    """The default: nobody is listening."""


class Provisioner(Protocol):
    """Creates and removes a tenant's infrastructure. Both calls must be idempotent.

    Raises (both methods):
        ProvisioningFailed: the infrastructure could not be brought to the wanted state.
    """

    name: str

    def provision(self, tenant: TenantFacts, progress: Progress = no_progress) -> dict[str, Any]:
        """Bring the tenant's infrastructure up; return its connection and resource facts."""
        ...

    def archive(self, tenant: TenantFacts, progress: Progress = no_progress) -> dict[str, Any]:
        """Make the tenant's infrastructure read-only and record where it is kept."""
        ...

    def destroy(self, tenant: TenantFacts, progress: Progress = no_progress) -> dict[str, Any]:
        """Remove the tenant's infrastructure and data for good (the end of offboarding)."""
        ...
