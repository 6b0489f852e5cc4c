"""Faults injected behind real parts: a provisioner that fails once per operation."""

from __future__ import annotations

from typing import Any

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.executors.provisioner import TenantFacts, no_progress


class FailsOnce:
    """The real provisioner behind a fault that strikes once per operation."""

    name = "fails-once"

    def __init__(self, real: Any) -> None:
        self.real, self.failed = real, set()

    def _maybe_fail(self, operation: str) -> None:
        if operation not in self.failed:
            self.failed.add(operation)
            raise ProvisioningFailed(f"transient {operation} failure.")

    def provision(self, tenant: TenantFacts, progress: Any = no_progress) -> dict[str, Any]:
        self._maybe_fail("provision")
        return self.real.provision(tenant, progress)

    def archive(self, tenant: TenantFacts, progress: Any = no_progress) -> dict[str, Any]:
        self._maybe_fail("archive")
        return self.real.archive(tenant, progress)
