"""The store's business state, to prove that a refused call changed nothing.

Audit events, idempotency records and usage counters are left out on purpose: a refusal is
audited and metered. Timestamps are left out too; everything else a tool could change is in:
plans, tenants, subscriptions, lifecycle transitions, principals and keys, Casbin rules,
approvals, workflow runs and steps, and a checksum of every tenant's rows in every table.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, and_, or_, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from paybill.server.core.vocabulary import RunStatus
from paybill.server.executors.dataplane.engines import Engines
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.executors.dataplane.schema import TENANT_TABLES
from paybill.server.store import (
    ApiKey,
    Approval,
    CasbinRule,
    LifecycleTransition,
    Plan,
    Principal,
    Subscription,
    Tenant,
    WorkflowRun,
    WorkflowStep,
)

Snapshot = dict[str, Any]


def _rows(session: Session, columns: list[Any], order: Any) -> list[list[Any]]:
    return [
        [c.value if hasattr(c, "value") else c for c in row]
        for row in session.execute(select(*columns).order_by(order))
    ]


def take(store: Engine, engines: Engines) -> Snapshot:
    """Everything a tool call could change that a refusal must leave alone."""
    with Session(store) as s:
        tenants = list(s.scalars(select(Tenant).order_by(Tenant.slug)))
        state: Snapshot = {
            "plans": _rows(
                s,
                [
                    Plan.id,
                    Plan.tier,
                    Plan.price_cents,
                    Plan.isolation,
                    Plan.max_rows,
                    Plan.max_seats,
                    Plan.queries_per_minute,
                    Plan.features,
                ],
                Plan.id,
            ),
            "tenants": [
                [t.id, t.slug, t.name, t.plan_id, t.isolation.value, t.state, t.version]
                for t in tenants
            ],
            "subscriptions": _rows(
                s,
                [
                    Subscription.tenant_id,
                    Subscription.plan_id,
                    Subscription.status,
                    Subscription.scheduled_plan_id,
                    Subscription.current_period_end,
                ],
                Subscription.tenant_id,
            ),
            "lifecycle_transitions": _rows(
                s,
                [LifecycleTransition.id, LifecycleTransition.action, LifecycleTransition.to_state],
                LifecycleTransition.id,
            ),
            "principals": _rows(
                s,
                [Principal.name, Principal.role, Principal.tenant_id, Principal.disabled],
                Principal.name,
            ),
            "api_keys": _rows(s, [ApiKey.prefix, ApiKey.revoked_at], ApiKey.prefix),
            "casbin_rules": _rows(
                s, [CasbinRule.ptype, CasbinRule.v0, CasbinRule.v1, CasbinRule.v2], CasbinRule.id
            ),
            "approvals": _rows(
                s, [Approval.id, Approval.tool, Approval.status, Approval.decided_by], Approval.id
            ),
            "workflow_runs": _rows(s, [WorkflowRun.id, WorkflowRun.status], WorkflowRun.id),
            "workflow_steps": _rows(
                s,
                [WorkflowStep.run_id, WorkflowStep.position, WorkflowStep.status],
                WorkflowStep.id,
            ),
        }
        state["tenant_rows"] = {t.slug: _tenant_rows(engines, t) for t in tenants}
    return json.loads(json.dumps(state, default=str))


def _tenant_rows(engines: Engines, tenant: Tenant) -> dict[str, str]:
    """table -> "count:sha256" of the tenant's rows, read with the store's own credentials."""
    route = TenantRoute(tenant.id, tenant.isolation)
    try:
        with engines.for_route(route, read_only=True).connect() as conn, conn.begin():
            if engines.postgres:
                conn.execute(
                    text("SELECT set_config('search_path', :s, true)"), {"s": route.schema}
                )
            sums = {}
            for name, table in sorted(TENANT_TABLES.items()):
                rows = conn.execute(
                    select(table).where(table.c.tenant_id == tenant.id).order_by(table.c.id)
                ).all()
                digest = hashlib.sha256(json.dumps([list(r) for r in rows], default=str).encode())
                sums[name] = f"{len(rows)}:{digest.hexdigest()[:16]}"
            return sums
    except SQLAlchemyError:
        return {"_storage": "unavailable"}


def changes(before: Snapshot, after: Snapshot, allowed: frozenset[str]) -> str | None:
    """The first section (outside ``allowed``) that differs, described; None if none does."""
    for section in sorted(set(before) | set(after)):
        if section in allowed or before.get(section) == after.get(section):
            continue
        old, new = before.get(section), after.get(section)
        if isinstance(old, dict) and isinstance(new, dict):
            for key in sorted(set(old) | set(new)):
                if old.get(key) != new.get(key):
                    return f"{section}.{key} changed: {old.get(key)} -> {new.get(key)}"
        if isinstance(old, list) and isinstance(new, list):
            added = [r for r in new if r not in old]
            removed = [r for r in old if r not in new]
            return f"{section} changed: added {added[:3]}, removed {removed[:3]}"
        return f"{section} changed"
    return None


def settle(store: Engine, timeout_seconds: float = 60.0) -> bool:
    """Wait until no workflow run is running or due (a background worker would otherwise
    change the store under a snapshot); True once settled, False on timeout. Runs scheduled
    for later (a downgrade at the period end) are settled by definition."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        with Session(store) as s:
            now = datetime.now(UTC)
            busy = s.scalar(
                select(WorkflowRun.id)
                .where(
                    or_(
                        WorkflowRun.status == RunStatus.RUNNING,
                        and_(
                            WorkflowRun.status == RunStatus.PENDING,
                            or_(WorkflowRun.not_before.is_(None), WorkflowRun.not_before <= now),
                        ),
                    )
                )
                .limit(1)
            )
        if busy is None:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
