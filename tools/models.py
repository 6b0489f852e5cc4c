"""Output models shared by several tools."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from paybill.server.guards.spec import ToolInput, ToolOutput
from paybill.server.store import (
    Approval,
    AuditEvent,
    Plan,
    Tenant,
    TenantRunLock,
    WorkflowRun,
)

SLUG_FIELD = Field(min_length=1, max_length=63, description="The tenant's slug (a DNS label).")


class TenantRef(ToolInput):
    tenant: str = SLUG_FIELD


class PlanOut(ToolOutput):
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
        return cls(
            id=plan.id,
            name=plan.name,
            tier=plan.tier,
            price_cents=plan.price_cents,
            currency=plan.currency,
            billing_period_days=plan.billing_period_days,
            isolation=plan.isolation.value,
            max_seats=plan.max_seats,
            max_rows=plan.max_rows,
            queries_per_minute=plan.queries_per_minute,
            storage_mb=plan.storage_mb,
            features=list(plan.features),
        )


class SubscriptionOut(ToolOutput):
    status: str
    current_period_start: datetime
    current_period_end: datetime
    scheduled_plan: str | None
    trial_end: datetime | None = None
    past_due_since: datetime | None = Field(
        default=None, description="Start of the grace period before suspension."
    )


class TenantOut(ToolOutput):
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
            plan=tenant.plan_id,
            isolation=tenant.isolation.value,
            cloud=tenant.cloud.value,
            region=tenant.region,
            state=tenant.state,
            allowed_actions=allowed_actions,
            subscription=None
            if sub is None
            else SubscriptionOut(
                status=sub.status.value,
                current_period_start=sub.current_period_start,
                current_period_end=sub.current_period_end,
                scheduled_plan=sub.scheduled_plan_id,
                trial_end=sub.trial_end,
                past_due_since=sub.past_due_since,
            ),
            created_at=tenant.created_at,
        )


class StepOut(ToolOutput):
    position: int
    name: str
    status: str
    attempts: int = Field(description="Executions so far; more than 1 means it was resumed.")
    output: dict[str, Any] | None
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None


class RunLockOut(ToolOutput):
    """The tenant's run lock while this run holds it: one run per tenant at a time."""

    owner: str = Field(description="The worker executing the run.")
    acquired_at: datetime
    expires_at: datetime = Field(description="Renewed while the worker is alive.")


class RunOut(ToolOutput):
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
        return cls(
            id=run.id,
            tenant_id=run.tenant_id,
            kind=run.kind,
            status=run.status.value,
            progress=run.progress,
            error=run.error,
            created_by=run.created_by,
            created_at=run.created_at,
            not_before=run.not_before,
            finished_at=run.finished_at,
            lock=None
            if lock is None
            else RunLockOut(
                owner=lock.owner, acquired_at=lock.acquired_at, expires_at=lock.expires_at
            ),
            steps=[
                StepOut(
                    position=s.position,
                    name=s.name,
                    status=s.status.value,
                    attempts=s.attempts or 0,
                    output=s.output,
                    error=s.error,
                    started_at=s.started_at,
                    finished_at=s.finished_at,
                )
                for s in run.steps
            ],
        )


class ApprovalOut(ToolOutput):
    id: str
    tenant_id: str | None
    tool: str
    arguments: dict[str, Any]
    plan_hash: str
    status: str
    requested_by: str
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    expires_at: datetime
    created_at: datetime

    @classmethod
    def of(cls, a: Approval) -> ApprovalOut:
        return cls(
            id=a.id,
            tenant_id=a.tenant_id,
            tool=a.tool,
            arguments=a.arguments,
            plan_hash=a.plan_hash,
            status=a.status.value,
            requested_by=a.requested_by,
            decided_by=a.decided_by,
            decided_at=a.decided_at,
            reason=a.reason,
            expires_at=a.expires_at,
            created_at=a.created_at,
        )


class AuditEventOut(ToolOutput):
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
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, e: AuditEvent) -> AuditEventOut:
        return cls(
            id=e.id,
            occurred_at=e.occurred_at,
            principal=e.principal,
            tenant_id=e.tenant_id,
            tool=e.tool,
            arguments=e.arguments,
            decision=e.decision.value,
            rule=e.rule,
            outcome=e.outcome,
            error_code=e.error_code,
            prev_hash=e.prev_hash,
            hash=e.hash,
        )
