"""Output models shared by several tools, read from store rows by pydantic
(``from_attributes``): a field is the row's attribute of the same name."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field

from paybill.server.core.vocabulary import check_display_name
from paybill.server.guards.spec import ToolInput, ToolOutput
from paybill.server.store import (
    Approval,
    AuditEvent,
    Plan,
    Subscription,
    Tenant,
    TenantRunLock,
    WorkflowRun,
)

SLUG_FIELD = Field(min_length=1, max_length=63, description="The tenant's slug (a DNS label).")
# A name people read: no control, bidi, zero-width, private-use or separator characters.
DisplayName = Annotated[str, AfterValidator(check_display_name)]


class TenantRef(ToolInput):
    tenant: str = SLUG_FIELD


class RecordOut(ToolOutput):
    """An output read from a store row's attributes."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)


class PlanOut(RecordOut):
    id: str
    name: str
    tier: int
    price_cents: int
    currency: str
    billing_period_days: int
    isolation: str
    max_seats: int
    max_rows: int
    queries_per_minute: int
    storage_mb: int
    features: list[str]

    @classmethod
    def of(cls, plan: Plan) -> PlanOut:
        return cls.model_validate(plan)


class SubscriptionOut(RecordOut):
    status: str
    current_period_start: datetime
    current_period_end: datetime
    scheduled_plan: str | None
    trial_end: datetime | None = None
    past_due_since: datetime | None = Field(
        default=None, description="Start of the grace period before suspension."
    )

    @classmethod
    def of(cls, sub: Subscription) -> SubscriptionOut:
        # Read the row, then name the scheduled plan as clients know it (the column ends _id).
        fields = {name: getattr(sub, name, None) for name in cls.model_fields}
        return cls.model_validate({**fields, "scheduled_plan": sub.scheduled_plan_id})


class TenantOut(RecordOut):
    id: str
    slug: str
    name: str
    plan: str
    isolation: str
    cloud: str
    region: str
    state: str
    allowed_actions: list[str]
    subscription: SubscriptionOut | None
    created_at: datetime

    @classmethod
    def of(cls, tenant: Tenant, allowed_actions: list[str]) -> TenantOut:
        sub = tenant.subscription
        return cls(
            id=tenant.id,
            slug=tenant.slug,
            name=tenant.name,
            plan=tenant.plan_id,  # the id; ``tenant.plan`` is the related row
            isolation=tenant.isolation,
            cloud=tenant.cloud,
            region=tenant.region,
            state=tenant.state,
            allowed_actions=allowed_actions,
            subscription=None if sub is None else SubscriptionOut.of(sub),
            created_at=tenant.created_at,
        )


class StepOut(RecordOut):
    position: int
    name: str
    status: str
    attempts: int = Field(description="Executions so far; more than 1 means it was resumed.")
    output: dict[str, Any] | None
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None


class RunLockOut(RecordOut):
    """The tenant's run lock while this run holds it: one run per tenant at a time."""

    owner: str = Field(description="The worker executing the run.")
    acquired_at: datetime
    expires_at: datetime = Field(description="Renewed while the worker is alive.")


class RunOut(RecordOut):
    id: str
    tenant_id: str | None
    kind: str
    status: str = Field(description="pending, running, succeeded or failed.")
    progress: str | None = Field(description="What the running step is doing now.")
    error: dict[str, Any] | None
    created_by: str
    created_at: datetime
    not_before: datetime | None = Field(description="A scheduled run waits until then.")
    finished_at: datetime | None
    lock: RunLockOut | None
    steps: list[StepOut]

    @classmethod
    def of(cls, run: WorkflowRun, lock: TenantRunLock | None = None) -> RunOut:
        # The lock is not an attribute of the run: it is read (or not) by the caller.
        fields = {name: getattr(run, name) for name in cls.model_fields if name != "lock"}
        return cls.model_validate({**fields, "lock": lock})


class ApprovalOut(RecordOut):
    id: str
    tenant_id: str | None
    tool: str
    arguments: dict[str, Any]
    plan_hash: str
    effect: dict[str, Any] | None = Field(
        description="What the approval binds, as the approver sees it: kind, summary, tenant, "
        "details (docs/approvals.md); null on approvals older than effect binding."
    )
    effect_hash: str | None = Field(description="SHA-256 of the effect's canonical JSON.")
    status: str
    requested_by: str
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    expires_at: datetime
    created_at: datetime

    @classmethod
    def of(
        cls,
        approval: Approval,
        arguments: dict[str, Any] | None = None,
        effect: dict[str, Any] | None = None,
    ) -> ApprovalOut:
        """The approval, with ``arguments`` and ``effect`` (redacted for the reader) in place
        of its own."""
        out = cls.model_validate(approval)
        update: dict[str, Any] = {}
        if arguments is not None:
            update["arguments"] = arguments
        if effect is not None:
            update["effect"] = effect
        return out.model_copy(update=update) if update else out


class AuditEventOut(RecordOut):
    id: int
    occurred_at: datetime
    principal: str
    tenant_id: str | None
    tool: str
    arguments: dict[str, Any]
    decision: str
    rule: str
    outcome: str
    error_code: str | None
    prev_hash: str | None = Field(description="Null until the event is sealed into the chain.")
    hash: str | None = Field(description="Null until the event is sealed into the chain.")
    seq: int | None = Field(
        default=None,
        description="Position in the chain; null on unkeyed legacy events and until sealed.",
    )
    key_id: str | None = Field(
        default=None, description="The audit key that signed it; null on unkeyed legacy events."
    )

    @classmethod
    def of(cls, event: AuditEvent, arguments: dict[str, Any] | None = None) -> AuditEventOut:
        """The event, with ``arguments`` (redacted for the reader) in place of its own."""
        out = cls.model_validate(event)
        return out if arguments is None else out.model_copy(update={"arguments": arguments})
