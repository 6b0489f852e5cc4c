"""One tool call travelling through the pipeline, and what a guard may answer with."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from paybill.server.core.vocabulary import Role
from paybill.server.domain import idempotency
from paybill.server.domain.confirmed_reads import Usage
from paybill.server.domain.control_versions import Versions, read_versions_drawing_audit_id
from paybill.server.executors.dataplane.metering import meter
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.executors.dataplane.visibility import VisibleSchema, visible_schema
from paybill.server.guards.confirm import Attempt, confirm, count_usage
from paybill.server.guards.spec import ApprovalNeedOut, DataMode, ToolSpec

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
    # A dry run of a gated tool: the approval the real call would need (the approval guard).
    approval_need: ApprovalNeedOut | None = None
    decided_by: str = ""  # the guard rule that let the call through, for the audit record
    # Tools the caller's roles grant in the call's domain, computed once by the authz guard.
    grants: frozenset[str] = field(default_factory=frozenset)
    sql: GuardedSql | None = None  # the statement the sql guard validated (and rewrote)
    retry: RetryTarget | None = None  # the failed run the retry guard admitted
    prepared: Any = None  # what the tool's own ``prepare`` check built (validated rows...)
    owner: Call | None = None  # the deciding call an approved call runs inside
    claimed: bool = False  # the idempotency key is marked in flight (``release_store``)
    # A tenant write of this call committed: a failure after it must not free the key.
    tenant_wrote: bool = False
    # The store's control versions as this call first read them (``versions``).
    observed: Versions | None = None
    # The id of the call's audit event, drawn with the versions (PostgreSQL), until used.
    audit_id: int | None = None
    # Decided on cached state, confirmed by the store before it acts (``guards.confirm``).
    attempt: Attempt | None = None
    stage: str = ""  # the pipeline stage running: where a deferred bucket take was asked

    def versions(self) -> Versions:
        """The store's control versions, read once per call (the first guard that asks):
        what the guards take from a cache must have been loaded at these versions. The same
        statement draws the id of the call's audit event (``take_audit_id``)."""
        if self.observed is None:
            if self.attempt is not None:  # what the caches were read at; confirmed later
                self.observed = self.attempt.expected
            else:
                self.observed, self.audit_id = read_versions_drawing_audit_id(self.session)
                self.services.seen_versions.saw(self.observed)
        return self.observed

    def take_audit_id(self) -> int | None:
        """The drawn audit event id, once: a second event of the call draws its own."""
        drawn, self.audit_id = self.audit_id, None
        return drawn

    @contextmanager
    def tenant_work(self, route: TenantRoute, read_only: bool) -> Iterator[None]:
        """The gate of every tenant statement of a tool call (``access.Gate``): the store
        transaction ends first, so no store lock or connection waits on tenant work, and the
        statement holds one of the tenant's concurrency slots while it runs.

        The slot is taken before the store transaction ends: a full tenant refuses the call
        while nothing of it is committed yet (an approval being executed stays pending).

        Raises:
            QuotaExceeded: the tenant's slots are all taken.
            Retry, RefusedAt: a confirmed read's confirmation (``guards.confirm``).
        """
        confirm(self, read_only=read_only)
        with self.services.tenant_slots.hold(route.tenant_id):
            self.release_store()
            yield
        # Reached only once the tenant transaction has committed (the gate is outermost).
        call: Call | None = None if read_only else self
        while call is not None:
            call.tenant_wrote, call = True, call.owner

    def release_store(self) -> None:
        """Commit what the guards and the handler recorded so far and return the connection.

        What a call writes before its tenant work is only what must hold while it runs: the
        guards' own records and, for a call with an idempotency key, the key marked in flight
        (the transaction's lock on it ends here). The handler's store writes come after, in
        the transaction the pipeline commits with the audit event.
        """
        if self.owner is not None:
            self.owner.release_store()
            return
        key = self.idempotency_key
        if key is not None and not self.claimed:
            arguments = self.arguments.model_dump(mode="json")
            idempotency.claim(self.session, self.caller.id, self.spec.name, key, arguments)
            self.claimed = True
        self.session.commit()

    def meter(self, *, rows_read: int = 0, rows_written: int = 0) -> None:
        """Count one data call of the target tenant: with a confirmed read's audit event, or
        in the call's transaction."""
        tenant, now = self.target(), self.now
        usage = Usage(tenant.id, now.date(), rows_read, rows_written)
        if not count_usage(self, usage):
            meter(self.session, tenant, now, rows_read=rows_read, rows_written=rows_written)

    @property
    def idempotency_key(self) -> str | None:
        """The call's key, or None when nothing is remembered (no key, or a dry run)."""
        key: str | None = getattr(self.arguments, "idempotency_key", None)
        return None if self.dry_run else key

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
