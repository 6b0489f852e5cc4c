"""The local provisioner: per-tenant routing records on this machine's disk.

It computes where a tenant's data lives for its isolation model (a tenant key in the shared
tables, a schema, or a database of its own) and writes that record under the data directory,
where the data plane reads it. Re-running writes the same record (idempotent).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from paybill.server.domain import Isolation
from paybill.server.errors import ProvisioningFailed
from paybill.server.provisioners.base import TenantFacts


def routing_for(tenant: TenantFacts) -> dict[str, Any]:
    ident = tenant.slug.replace("-", "_")
    if tenant.isolation is Isolation.POOLED:
        return {"isolation": "pooled", "schema": "tenant_pool", "tenant_key": tenant.id}
    if tenant.isolation is Isolation.BRIDGE:
        return {"isolation": "bridge", "schema": f"tenant_{ident}"}
    return {"isolation": "silo", "database": f"paybill_tenant_{ident}"}


class LocalProvisioner:
    name = "local"

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "tenants"

    def _write(self, tenant: TenantFacts, record: dict[str, Any]) -> Path:
        path = self.root / tenant.slug / "infrastructure.json"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(record, indent=2, sort_keys=True))
            os.replace(tmp, path)  # atomic: a crash never leaves half a record
        except OSError as exc:
            raise ProvisioningFailed(
                f"Could not write the local infrastructure record for {tenant.slug}: "
                f"{exc.strerror}.",
                tenant=tenant.slug,
            ) from None
        return path

    def provision(self, tenant: TenantFacts) -> dict[str, Any]:
        record = {
            "tenant_id": tenant.id,
            "plan": tenant.plan,
            "region": tenant.region,
            "state": "active",
            **routing_for(tenant),
        }
        path = self._write(tenant, record)
        return {"provisioner": self.name, "record": str(path), **record}

    def archive(self, tenant: TenantFacts) -> dict[str, Any]:
        record = {"tenant_id": tenant.id, "state": "archived", **routing_for(tenant)}
        path = self._write(tenant, record)
        return {"provisioner": self.name, "record": str(path), **record}
