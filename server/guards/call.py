"""One tool call travelling through the pipeline, and what a guard may answer with."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from paybill.server.core.vocabulary import Role
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.executors.dataplane.visibility import VisibleSchema, visible_schema
from paybill.server.guards.spec import DataMode, ToolSpec

if TYPE_CHECKING:
    from paybill.server.executors.dataplane.sqlguard import GuardedSql
    from paybill.server.guards.retry import RetryTarget
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


ANONYMOUS = Caller(id="", name="<anonymous>", role=Role.TENANT_AGENT, tenant_id=None)


@dataclass(frozen=True)
class Outcome:
    payload: dict[str, Any]
    is_error: bool


@dataclass(frozen=True)
class Answer:
    """A guard answering the call itself (an idempotent replay) instead of passing it on:
    the outcome to return and the audit rule and outcome it is recorded with."""

    outcome: Outcome
    rule: str
    audited_as: str


@dataclass
class Call:
    """What a guard or handler knows about the call in flight."""

    services: Services
    session: Session
    spec: ToolSpec
    caller: Caller
    raw_arguments: dict[str, Any]
    registry: Mapping[str, ToolSpec]  # every tool, for executing an approved call
    principal: str | None = None  # the name the transport vouches for, until authenticated
    arguments: Any = None
    tenant: Tenant | None = None
    tenant_id: str | None = None  # kept apart from ``tenant``: it survives a rollback
    approval: Approval | None = None  # set when an approved action is being executed
    decided_by: str = ""  # the guard rule that let the call through, for the audit record
    # Tools the caller's roles grant in the call's domain, computed once by the authz guard.
    grants: frozenset[str] = field(default_factory=frozenset)
    sql: GuardedSql | None = None  # the statement the sql guard validated (and rewrote)
    retry: RetryTarget | None = None  # the failed run the retry guard admitted
    prepared: Any = None  # what the tool's own ``prepare`` check built (validated rows...)

    def target(self) -> Tenant:
        """The resolved tenant; only tenant-scoped specs (which always resolve one) use it."""
        if self.tenant is None:
            raise RuntimeError(f"{self.spec.name} resolved no tenant")
        return self.tenant

    def route(self) -> TenantRoute:
        """Where the target tenant's rows live."""
        tenant = self.target()
        return TenantRoute(tenant.id, tenant.isolation)

    def visible_schema(self) -> VisibleSchema:
        """The part of the tenant schema the caller may see: its role and the plan's features."""
        return visible_schema(self.caller.role, set(self.target().plan.features))

    def statement(self) -> GuardedSql:
        """The validated statement; only specs the sql guard applies to use it."""
        if self.sql is None:
            raise RuntimeError(f"{self.spec.name} has no validated statement")
        return self.sql

    @property
    def now(self) -> datetime:
        return self.services.clock()

    @property
    def dry_run(self) -> bool:
        return bool(getattr(self.arguments, "dry_run", False))

    @property
    def data_mode(self) -> DataMode | None:
        """What this call does to the tenant's rows, if anything (``ToolSpec.data_access``)."""
        access = self.spec.data_access
        if access is None:
            return None
        if self.dry_run:
            return access.dry_run
        if access.mode == "statement":
            return self.statement().kind
        return access.mode


# A guard passes the call on (None), answers it (an Answer), or refuses it (raises a
# PaybillError). Only the handler acts.
Guard = Callable[[Call], Answer | None]
