"""Names of a tenant's database objects, derived from its id (never from caller input)."""

from __future__ import annotations

from dataclasses import dataclass

from paybill.server.core.vocabulary import Isolation

POOL_SCHEMA = "tenant_pool"
SILO_SCHEMA = "app"


def _hex(tenant_id: str) -> str:
    compact = tenant_id.replace("-", "")
    if len(compact) != 32 or not all(c in "0123456789abcdef" for c in compact):
        raise ValueError(f"not a tenant id: {tenant_id!r}")
    return compact


@dataclass(frozen=True)
class TenantRoute:
    """Where a tenant's rows live and which role reads them."""

    tenant_id: str
    isolation: Isolation

    @property
    def role(self) -> str:
        return f"pb_t_{_hex(self.tenant_id)}"

    @property
    def schema(self) -> str:
        if self.isolation is Isolation.POOLED:
            return POOL_SCHEMA
        if self.isolation is Isolation.BRIDGE:
            return f"t_{_hex(self.tenant_id)}"
        return SILO_SCHEMA

    @property
    def database(self) -> str | None:
        """A database of its own (silo), or None for the control plane's database."""
        if self.isolation is Isolation.SILO:
            return f"pb_silo_{_hex(self.tenant_id)}"
        return None
