"""Sweeping the Terraform plan files of runs that are over.

A run saves its plan in the tenant's working directory and removes it when it ends; a run
whose worker was killed never does. The tenant's run lock says when no run can be using a
plan file: a worker sweeps every tenant whose lock no live worker holds when it starts, and a
tenant's workspace when one of its runs ends (the lock still held by that run).

A plan kept for an approval (``approved-*.tfplan``) is swept with them once no pending or
approved approval and no unfinished run refers to it: the approval was executed (its run
applied and removed it), rejected, voided or expired."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from paybill.server.core.vocabulary import ApprovalStatus, RunStatus
from paybill.server.executors.terraform.cli import sweep_plan_files, workspaces_root
from paybill.server.store import Approval, TenantRunLock, WorkflowRun

if TYPE_CHECKING:
    from paybill.server.workflows.engine.services import Services

log = logging.getLogger("paybill.worker")


def sweep_idle_tenants(services: Services, now: datetime) -> int:
    """Remove the plan files of every tenant whose run lock no live worker holds."""
    with Session(services.db.engine) as session:
        busy = session.scalars(
            select(TenantRunLock.tenant_id).where(TenantRunLock.expires_at >= now)
        ).all()
        needed = approved_plans_needed(session, now)
    return _sweep(services, keep=frozenset(busy), keep_approved=needed)


def sweep_tenant(services: Services, tenant_id: str, session: Session) -> int:
    """Remove ``tenant_id``'s plan files; only while its run lock is held by a run ending
    (``session``: that run's transaction, which reads which approved plans are needed)."""
    needed = approved_plans_needed(session, services.clock(), tenant_id)
    return _sweep(services, tenant_id=tenant_id, keep_approved=needed)


def approved_plans_needed(
    session: Session, now: datetime, tenant_id: str | None = None
) -> frozenset[str]:
    """The approved plan files a live approval (pending and unexpired, or approved) or an
    unfinished run (its input's ``terraform_plan``) still refers to."""
    approvals = select(Approval.effect).where(
        or_(
            (Approval.status == ApprovalStatus.PENDING) & (Approval.expires_at >= now),
            Approval.status == ApprovalStatus.APPROVED,
        ),
        Approval.tool == "change_plan",
    )
    runs = select(WorkflowRun.input).where(
        WorkflowRun.status.in_((RunStatus.PENDING, RunStatus.RUNNING))
    )
    if tenant_id is not None:
        approvals = approvals.where(Approval.tenant_id == tenant_id)
        runs = runs.where(WorkflowRun.tenant_id == tenant_id)
    effects = session.scalars(approvals)
    names = {_plan_file((e or {}).get("details", {}).get("terraform")) for e in effects}
    names |= {_plan_file((i or {}).get("terraform_plan")) for i in session.scalars(runs)}
    return frozenset(n for n in names if n)


def _plan_file(reference: object) -> str | None:
    return reference.get("plan_file") if isinstance(reference, dict) else None


def _sweep(
    services: Services,
    *,
    tenant_id: str | None = None,
    keep: frozenset[str] = frozenset(),
    keep_approved: frozenset[str] = frozenset(),
) -> int:
    root = workspaces_root(services.settings.data_dir)
    try:
        removed = sweep_plan_files(
            root, tenant_id=tenant_id, keep=keep, keep_approved=keep_approved
        )
    except OSError:
        log.warning("sweeping Terraform plan files under %s failed", root, exc_info=True)
        return 0
    if removed:
        log.info("removed %d stale Terraform plan file(s)", len(removed))
    return len(removed)
