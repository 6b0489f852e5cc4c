"""Fleet migrations: bring every tenant's storage to the tenant-schema head, in waves.

A target is one place tenant tables live: the shared pool (all pooled tenants), a bridge
tenant's schema, or a silo tenant's database. The first target is the canary; the rest go in
waves. The run stops at the first failure and reports every target: migrated, current,
failed, or not run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from paybill.server.core.vocabulary import Isolation
from paybill.server.executors.dataplane import migrate, objects
from paybill.server.executors.dataplane.engines import Engines
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.store import Tenant

# Lifecycle states in which a tenant's objects exist.
HAS_OBJECTS = ("active", "suspended", "updating", "offboarding", "archived")
Status = Literal["migrated", "current", "failed", "not_run"]


@dataclass
class TargetReport:
    target: str
    tenants: list[str]
    routes: list[TenantRoute] = field(repr=False)
    status: Status = "not_run"
    before: str | None = None
    after: str | None = None
    error: str | None = None


def targets(session: Session) -> list[TargetReport]:
    tenants = session.scalars(
        select(Tenant).where(Tenant.state.in_(HAS_OBJECTS)).order_by(Tenant.slug)
    ).all()
    pooled = [t for t in tenants if t.isolation is Isolation.POOLED]
    found = []
    if pooled:
        found.append(
            TargetReport(
                "pool",
                [t.slug for t in pooled],
                [TenantRoute(t.id, t.isolation) for t in pooled],
            )
        )
    for tenant in tenants:
        if tenant.isolation is not Isolation.POOLED:
            found.append(
                TargetReport(
                    f"{tenant.isolation.value}:{tenant.slug}",
                    [tenant.slug],
                    [TenantRoute(tenant.id, tenant.isolation)],
                )
            )
    return found


def waves(reports: list[TargetReport], size: int) -> list[list[TargetReport]]:
    """The canary alone, then groups of ``size``."""
    head, rest = reports[:1], reports[1:]
    return ([head] if head else []) + [rest[i : i + size] for i in range(0, len(rest), size)]


def migrate_fleet(
    session: Session, engines: Engines, *, wave_size: int = 5, revision: str = "head"
) -> list[TargetReport]:
    reports = targets(session)
    wanted = migrate.head() if revision == "head" else revision
    for wave in waves(reports, wave_size):
        for report in wave:
            first = report.routes[0]
            try:
                report.before = objects.target_revision(engines, first)
                if report.before == wanted:
                    report.status, report.after = "current", report.before
                    continue
                objects.migrate_target(engines, report.routes, revision)
                report.after = objects.target_revision(engines, first)
                report.status = "migrated"
            except Exception as exc:
                report.status = "failed"
                report.error = str(getattr(exc, "orig", exc)).splitlines()[0][:300]
                return reports
    return reports
