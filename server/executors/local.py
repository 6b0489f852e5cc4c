"""The local provisioner: the tenant's database objects on the store's own server.

pooled: a login role and row-level-secured rows in the shared ``tenant_pool`` tables;
bridge: a schema of its own; silo: a database of its own (PostgreSQL). It also writes the
tenant's routing record under the data directory. Every step converges, so re-running
provisioning changes nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.executors.dataplane import objects
from paybill.server.executors.dataplane.engines import Engines
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.executors.provisioner import Progress, TenantFacts, no_progress

ObjectStep = Callable[[Engines, TenantRoute], dict[str, Any]]


class LocalProvisioner:
    name = "local"

    def __init__(self, data_dir: Path, engines: Engines) -> None:
        self.root = data_dir / "tenants"
        self.engines = engines

    def _write(self, tenant: TenantFacts, record: dict[str, Any]) -> Path:
        path = self.root / tenant.slug / "infrastructure.json"
        try:
            # Owner only, like the credentials and the store: the record names the tenant's
            # role, schema and database.
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            path.parent.mkdir(mode=0o700, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)  # a leftover temporary file may be more permissive
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(json.dumps(record, indent=2, sort_keys=True))
            os.replace(tmp, path)  # atomic: a crash never leaves half a record
        except OSError as exc:
            raise ProvisioningFailed(
                f"Could not write the local infrastructure record for {tenant.slug}: "
                f"{exc.strerror}.",
                tenant=tenant.slug,
            ) from None
        return path

    def _apply(self, tenant: TenantFacts, state: str, step: ObjectStep) -> dict[str, Any]:
        facts = step(self.engines, TenantRoute(tenant.id, tenant.isolation))
        record = {"tenant_id": tenant.id, "isolation": tenant.isolation.value, "state": state}
        path = self._write(tenant, {**record, **facts})
        # Relative to the data directory: step outputs are read by agents, never a server path.
        where = path.relative_to(self.root.parent).as_posix()
        return {"provisioner": self.name, "record": where, **record, **facts}

    def provision(self, tenant: TenantFacts, progress: Progress = no_progress) -> dict[str, Any]:
        progress("database objects")
        return self._apply(tenant, "active", objects.provision)

    def archive(self, tenant: TenantFacts, progress: Progress = no_progress) -> dict[str, Any]:
        progress("read-only database objects")
        return self._apply(tenant, "archived", objects.archive)

    def destroy(self, tenant: TenantFacts, progress: Progress = no_progress) -> dict[str, Any]:
        progress("drop database objects")
        return self._apply(tenant, "deleted", objects.drop)
