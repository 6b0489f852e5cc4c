"""One tool call travelling through the pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from paybill.server.core.vocabulary import Role
from paybill.server.guards.spec import ToolSpec

if TYPE_CHECKING:
    from paybill.server.store import Approval, Tenant
    from paybill.server.workflows.engine.services import Services


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
class Call:
    """What a guard or handler knows about the call in flight."""

    services: Services
    session: Session
    spec: ToolSpec
    caller: Caller
    raw_arguments: dict[str, Any]
    registry: Mapping[str, ToolSpec]  # every tool, for executing an approved call
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
