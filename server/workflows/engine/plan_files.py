"""Sweeping the Terraform plan files of runs that are over.

A run saves its plan in the tenant's working directory and removes it when it ends; a run
whose worker was killed never does. The tenant's run lock says when no run can be using a
plan file: a worker sweeps every tenant whose lock no live worker holds when it starts, and a
tenant's workspace when one of its runs ends (the lock still held by that run)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from paybill.server.executors.terraform.cli import sweep_plan_files, workspaces_root
from paybill.server.store import TenantRunLock

if TYPE_CHECKING:
    from paybill.server.workflows.engine.services import Services

log = logging.getLogger("paybill.worker")


def sweep_idle_tenants(services: Services, now: datetime) -> int:
    """Remove the plan files of every tenant whose run lock no live worker holds."""
    with Session(services.db.engine) as session:
        busy = session.scalars(
            select(TenantRunLock.tenant_id).where(TenantRunLock.expires_at >= now)
        ).all()
    return _sweep(services, keep=frozenset(busy))


def sweep_tenant(services: Services, tenant_id: str) -> int:
    """Remove ``tenant_id``'s plan files; only while its run lock is held by a run ending."""
    return _sweep(services, tenant_id=tenant_id)


def _sweep(
    services: Services, *, tenant_id: str | None = None, keep: frozenset[str] = frozenset()
) -> int:
    root = workspaces_root(services.settings.data_dir)
    try:
        removed = sweep_plan_files(root, tenant_id=tenant_id, keep=keep)
    except OSError:
        log.warning("sweeping Terraform plan files under %s failed", root, exc_info=True)
        return 0
    if removed:
        log.info("removed %d stale Terraform plan file(s)", len(removed))
    return len(removed)
