"""Faults injected behind real parts: a provisioner that fails once per operation, a
PostgreSQL database that cannot be reached."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, text

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


@contextmanager
def unreachable(admin: Engine, name: str) -> Iterator[None]:
    """PostgreSQL database ``name`` refuses connections and drops the open ones, as during a
    restart, without touching the shared server; reachable again on exit. ``admin`` is an
    AUTOCOMMIT engine on another database of the server."""
    with admin.connect() as conn:
        conn.execute(text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :n AND pid <> pg_backend_pid()"
            ),
            {"n": name},
        )
    try:
        yield
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
