"""Building a transcript's store in-process: principals, tenants, rows, billing state.

Tenants are created through the guard pipeline exactly as an operator's calls would create
them, so a seeded store is indistinguishable from one an agent built. Everything about
tenants lives in ``seed_tenants``: when onboarding changes (background workers), only that
function follows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from paybill.evals.transcript import Header, SeedPrincipal, SeedTenant
from paybill.server.app import build_pipeline, build_services
from paybill.server.core.settings import Settings
from paybill.server.core.vocabulary import Role
from paybill.server.domain.bootstrap import initialise
from paybill.server.domain.principals import add_principal
from paybill.server.guards.pipeline import Pipeline
from paybill.server.store import Subscription, Tenant
from paybill.server.store.database import Database
from paybill.server.workflows.engine.services import Services
from paybill.server.workflows.engine.worker import Worker

# The platform admin that seeds tenants; its calls are in the audit log like anyone's.
SEEDER = "eval-seed"


class SeedError(RuntimeError):
    """The seed could not be applied (a bad plan, a row the schema refuses...)."""


@dataclass(frozen=True)
class Seeded:
    """API keys of the seeded principals (plaintext: the HTTP server needs them)."""

    keys: dict[str, str]


def principals_of(header: Header) -> list[SeedPrincipal]:
    """The seed's principals plus the header's own principal if the seed omits it."""
    listed = list(header.seed.principals)
    if all(p.name != header.principal for p in listed):
        scoped = header.role.tenant_scoped
        listed.append(
            SeedPrincipal(
                name=header.principal, role=header.role, tenant=header.tenant if scoped else None
            )
        )
    return listed


def seed_key(header: Header) -> str:
    """Everything ``seed_store`` reads from ``header``: equal keys seed equal stores."""
    return json.dumps(
        {
            "backend": header.backend,
            "seed": header.seed.model_dump(mode="json"),
            "principals": [p.model_dump(mode="json") for p in principals_of(header)],
        },
        sort_keys=True,
    )


def seed_store(database_url: str, data_dir: Path, header: Header) -> Seeded:
    """Initialise the store at ``database_url`` and apply ``header.seed``.

    Raises:
        SeedError: a seeded call was refused, naming the call and the reason.
    """
    store = Database(database_url)
    try:
        initialise(store)
    finally:
        store.dispose()
    clock = _clock(header.seed.clock)
    settings = Settings(database_url=database_url, data_dir=data_dir, rate_per_minute=1_000_000)
    services = build_services(settings, clock=clock) if clock else build_services(settings)
    try:
        principals = principals_of(header)
        keys: dict[str, str] = {}
        with services.db.session() as session:
            keys[SEEDER] = add_principal(session, SEEDER, Role.PLATFORM_ADMIN)[1].plaintext
            for p in principals:
                if p.tenant is None:
                    keys[p.name] = add_principal(session, p.name, p.role)[1].plaintext
        seed_tenants(services, header.seed.tenants)
        with services.db.session() as session:
            for p in principals:
                if p.tenant is not None:
                    keys[p.name] = add_principal(session, p.name, p.role, p.tenant)[1].plaintext
        return Seeded(keys)
    finally:
        services.engines.dispose()
        services.db.dispose()


def seed_tenants(services: Services, tenants: list[SeedTenant]) -> None:
    """Onboard each tenant through the pipeline, then its rows, state and billing status.

    Raises:
        SeedError: a call was refused.
    """
    pipeline = build_pipeline(services)
    for t in tenants:
        first = t.onboard_plan or t.plan
        _call(pipeline, "create_tenant", {"slug": t.slug, "name": t.name, "plan": first})
        finish_workflows(services)
        if first != t.plan:
            _call(pipeline, "change_plan", {"tenant": t.slug, "plan": t.plan})
            finish_workflows(services)
        for table, rows in sorted(t.rows.items()):
            for start in range(0, len(rows), 500):
                chunk = rows[start : start + 500]
                _call(pipeline, "insert_rows", {"tenant": t.slug, "table": table, "rows": chunk})
        if t.state == "suspended":
            _call(pipeline, "suspend_tenant", {"tenant": t.slug, "reason": "seeded suspended"})
            finish_workflows(services)
    with services.db.session() as session:
        for t in tenants:
            sub = session.scalar(select(Subscription).join(Tenant).where(Tenant.slug == t.slug))
            if sub is None:
                raise SeedError(f"tenant {t.slug} has no subscription")
            sub.status = t.subscription_status
        session.commit()


def finish_workflows(services: Services) -> None:
    """Run the workflow runs a call left pending to completion, in this process."""
    Worker(services).run_pending()


def _call(pipeline: Pipeline, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    outcome = pipeline.call(tool, SEEDER, arguments)
    if outcome.is_error:
        error = outcome.payload.get("error", {})
        raise SeedError(f"seed {tool} {arguments}: {error.get('code')}: {error.get('message')}")
    return outcome.payload


def _clock(value: str | None) -> Any:
    if value is None:
        return None
    at = datetime.fromisoformat(value)
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return lambda: at
