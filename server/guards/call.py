"""One tool call travelling through the pipeline, and the services it may use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from paybill.server.domain import Role
from paybill.server.guards.spec import ToolSpec

if TYPE_CHECKING:
    from paybill.server.acl import Acl
    from paybill.server.billing_policy import BillingPolicy
    from paybill.server.dataplane.engines import Engines
    from paybill.server.guards.limits import RateLimiter
    from paybill.server.lifecycle import Lifecycle
    from paybill.server.provisioners.base import Provisioner
    from paybill.server.settings import Settings
    from paybill.server.store import Approval, Tenant
    from paybill.server.store.database import Database


@dataclass(frozen=True)
class Caller:
    """The authenticated principal, detached from any session."""

    id: str
    name: str
    role: Role
    tenant_id: str | None

    @property
    def domain(self) -> str:
        return self.tenant_id or "*"


@dataclass
class Services:
    """Long-lived collaborators shared by every call (built once per server)."""

    db: Database
    settings: Settings
    lifecycle: Lifecycle
    acl: Acl
    engines: Engines
    provisioner: Provisioner
    rate_limiter: RateLimiter  # per principal
    tenant_rate: RateLimiter  # per tenant, at the plan's queries_per_minute
    clock: Callable[[], datetime]
    # Reads that must not take SQLite's write lock (waiting on a run while a worker writes).
    reader: Engine
    billing: BillingPolicy  # policies/billing.yaml
    registry: dict[str, ToolSpec] = field(default_factory=dict)


@dataclass
class Call:
    """What a guard or handler knows about the call in flight."""

    services: Services
    session: Session
    spec: ToolSpec
    caller: Caller
    raw_arguments: dict[str, Any]
    arguments: Any = None
    tenant: Tenant | None = None
    tenant_id: str | None = None  # kept apart from ``tenant``: it survives a rollback
    approval: Approval | None = None  # set when an approved action is being executed
    decided_by: str = ""  # the guard rule that let the call through, for the audit record

    def target(self) -> Tenant:
        """The resolved tenant; only tenant-scoped specs (which always resolve one) use it."""
        if self.tenant is None:
            raise RuntimeError(f"{self.spec.name} resolved no tenant")
        return self.tenant

    @property
    def now(self) -> datetime:
        return self.services.clock()

    @property
    def dry_run(self) -> bool:
        return bool(getattr(self.arguments, "dry_run", False))
