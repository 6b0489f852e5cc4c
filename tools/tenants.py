"""Tenant tools: create, read, list, suspend, resume."""

from __future__ import annotations

import base64
import binascii

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from paybill.server.core.errors import InvalidInput
from paybill.server.core.vocabulary import SLUG_PATTERN, CloudTarget, Isolation
from paybill.server.domain.tenants import create_tenant as record_tenant
from paybill.server.domain.tenants import get_plan
from paybill.server.guards.call import Call
from paybill.server.guards.spec import MutatingInput, Scope, ToolInput, ToolOutput, ToolSpec
from paybill.server.store import Plan, Tenant
from paybill.server.workflows.engine.runs import enqueue
from paybill.server.workflows.kinds.tenant_runs import PROVISION
from paybill.tools.models import SLUG_FIELD, DisplayName, RunOut, TenantOut, TenantRef
from paybill.tools.resolve import tenant_by_slug


def tenant_out(call: Call, tenant: Tenant) -> TenantOut:
    return TenantOut.of(tenant, call.services.lifecycle.allowed_actions(tenant.state))


class CreateTenantInput(MutatingInput):
    slug: str = Field(pattern=SLUG_PATTERN, max_length=63, description="DNS label, unique.")
    name: DisplayName = Field(min_length=1, max_length=200, description="Display name.")
    plan: str = Field(min_length=1, max_length=32, description="Plan id, see list_plans.")
    cloud: CloudTarget = Field(default=CloudTarget.LOCAL, description="Where to provision.")
    region: str = Field(default="local", pattern=r"^[a-z0-9-]{1,64}$")


class CreateTenantOutput(ToolOutput):
    tenant: TenantOut
    workflow: RunOut | None = Field(
        description="The provisioning run, pending until a worker executes it: follow it "
        "with get_workflow (wait_seconds). None for a dry run."
    )
    dry_run: bool


def _require_supported_isolation(call: Call, plan: Plan) -> None:
    if plan.isolation is not Isolation.POOLED and not call.services.engines.postgres:
        raise InvalidInput(
            f"Plan {plan.id} uses {plan.isolation.value} isolation, which needs PostgreSQL; "
            "this server runs on the embedded SQLite store, which supports pooled plans only.",
            plan=plan.id,
            isolation=plan.isolation.value,
        )


def create_tenant(call: Call, args: CreateTenantInput) -> CreateTenantOutput:
    services = call.services
    _require_supported_isolation(call, get_plan(call.session, args.plan))

    def record() -> Tenant:
        return record_tenant(
            call.session,
            services.lifecycle,
            slug=args.slug,
            name=args.name,
            plan_id=args.plan,
            actor=call.caller.name,
            cloud=args.cloud,
            region=args.region,
            now=call.now,
            trial_days=services.billing.trial_days,
        )

    if call.dry_run:
        # Record inside a savepoint so every check runs, then undo it.
        with call.session.begin_nested() as preview:
            out = tenant_out(call, record())
            preview.rollback()
        return CreateTenantOutput(tenant=out, workflow=None, dry_run=True)
    tenant = record()
    services.lifecycle.apply(
        call.session, tenant, "provision", actor=call.caller.name, reason="onboarding"
    )
    run = enqueue(
        call.session,
        tenant,
        PROVISION,
        created_by=call.caller.name,
        input=args.model_dump(mode="json", exclude={"idempotency_key", "dry_run"}),
    )
    return CreateTenantOutput(
        tenant=tenant_out(call, tenant), workflow=RunOut.of(run), dry_run=False
    )


def get_tenant(call: Call, args: TenantRef) -> TenantOut:
    return tenant_out(call, call.target())


class ListTenantsInput(ToolInput):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=200, description="next_cursor of a page.")
    state: str | None = Field(default=None, pattern=r"^[a-z_]{1,32}$")


class ListTenantsOutput(ToolOutput):
    tenants: list[TenantOut]
    next_cursor: str | None


def _decode_cursor(cursor: str) -> str:
    try:
        slug = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("cursor is not one this server issued.", cursor=cursor) from None
    if not slug.startswith("t:"):
        raise InvalidInput("cursor is not one this server issued.", cursor=cursor)
    return slug[2:]


def list_tenants(call: Call, args: ListTenantsInput) -> ListTenantsOutput:
    # The subscription is joined like the plan: one statement per page, whatever its size.
    query = (
        select(Tenant)
        .options(joinedload(Tenant.subscription))
        .order_by(Tenant.slug)
        .limit(args.limit + 1)
    )
    if call.caller.tenant_id is not None:
        query = query.where(Tenant.id == call.caller.tenant_id)
    if args.state:
        query = query.where(Tenant.state == args.state)
    if args.cursor:
        query = query.where(Tenant.slug > _decode_cursor(args.cursor))
    rows = list(call.session.scalars(query))
    page = rows[: args.limit]
    more = len(rows) > args.limit
    cursor = base64.urlsafe_b64encode(f"t:{page[-1].slug}".encode()).decode() if more else None
    return ListTenantsOutput(tenants=[tenant_out(call, t) for t in page], next_cursor=cursor)


class LifecycleChangeInput(MutatingInput):
    tenant: str = SLUG_FIELD
    reason: str = Field(min_length=3, max_length=500, description="Why; kept in the audit log.")


class LifecycleChangeOutput(ToolOutput):
    tenant: TenantOut
    from_state: str
    to_state: str
    dry_run: bool


def _lifecycle_change(call: Call, args: LifecycleChangeInput) -> LifecycleChangeOutput:
    tenant, action = call.target(), call.spec.lifecycle_action or ""
    lifecycle = call.services.lifecycle
    source = tenant.state
    if call.dry_run:
        target = lifecycle.target_state(tenant, action)
        return LifecycleChangeOutput(
            tenant=tenant_out(call, tenant), from_state=source, to_state=target, dry_run=True
        )
    lifecycle.apply(call.session, tenant, action, actor=call.caller.name, reason=args.reason)
    return LifecycleChangeOutput(
        tenant=tenant_out(call, tenant), from_state=source, to_state=tenant.state, dry_run=False
    )


TOOLS = [
    ToolSpec(
        name="create_tenant",
        writes="additions",  # a tenant, its subscription and its provisioning run
        title="Create tenant",
        description="Record a tenant on a plan and start provisioning it (isolation follows "
        "the plan). Returns at once with the tenant (provisioning) and its workflow run; "
        "get_workflow with wait_seconds follows the run until the tenant is active.",
        input_model=CreateTenantInput,
        output_model=CreateTenantOutput,
        handler=create_tenant,
        scope=Scope.PLATFORM,
    ),
    ToolSpec(
        name="get_tenant",
        title="Get tenant",
        description="A tenant's plan, isolation, lifecycle state, subscription and the "
        "lifecycle actions allowed now.",
        input_model=TenantRef,
        output_model=TenantOut,
        handler=get_tenant,
        scope=Scope.TENANT,
        tenant_of=tenant_by_slug,
    ),
    ToolSpec(
        name="list_tenants",
        title="List tenants",
        description="Tenants visible to the caller, by slug, with cursor pagination.",
        input_model=ListTenantsInput,
        output_model=ListTenantsOutput,
        handler=list_tenants,
        scope=Scope.CALLER,
    ),
    ToolSpec(
        name="suspend_tenant",
        title="Suspend tenant",
        description="Suspend an active tenant (reversible with resume_tenant).",
        input_model=LifecycleChangeInput,
        output_model=LifecycleChangeOutput,
        handler=_lifecycle_change,
        scope=Scope.TENANT,
        tenant_of=tenant_by_slug,
        lifecycle_action="suspend",
    ),
    ToolSpec(
        name="resume_tenant",
        title="Resume tenant",
        description="Resume a suspended tenant.",
        input_model=LifecycleChangeInput,
        output_model=LifecycleChangeOutput,
        handler=_lifecycle_change,
        scope=Scope.TENANT,
        tenant_of=tenant_by_slug,
        lifecycle_action="resume",
    ),
]
