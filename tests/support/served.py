"""A served store with two tenants and a principal for every role."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from paybill.server.app import build_pipeline, build_services
from paybill.server.core.settings import Settings
from paybill.server.core.vocabulary import Role
from paybill.server.domain.principals import add_principal
from paybill.server.guards.pipeline import Outcome, Pipeline
from paybill.server.workflows.engine.services import Services
from paybill.server.workflows.engine.worker import Worker

PLATFORM_PRINCIPALS = {
    "admin": Role.PLATFORM_ADMIN,
    "ops": Role.OPERATOR,
    "boss": Role.APPROVER,
    "billing": Role.BILLING_AGENT,
}
TENANT_PRINCIPALS = {
    "acme-admin": (Role.TENANT_ADMIN, "acme"),
    "acme-bot": (Role.TENANT_AGENT, "acme"),
}


@dataclass
class Served:
    """Services plus the pipeline, as the MCP server uses them; ``call`` returns an Outcome."""

    services: Services
    pipeline: Pipeline
    keys: dict[str, str]

    def env(self) -> dict[str, str]:
        """Environment for a `paybill` subprocess on this store."""
        settings = self.services.settings
        return {
            **os.environ,
            "PAYBILL_DATABASE_URL": settings.database_url,
            "PAYBILL_DATA_DIR": str(settings.data_dir),
        }

    def drain(self) -> int:
        """Execute every eligible workflow run now, as a worker would in the background."""
        return Worker(self.services).run_pending()

    def call(self, principal: str, tool: str, **arguments: Any) -> Outcome:
        return self.pipeline.call(tool, principal, arguments)

    def ok(self, principal: str, tool: str, **arguments: Any) -> dict[str, Any]:
        outcome = self.call(principal, tool, **arguments)
        assert not outcome.is_error, outcome.payload
        return outcome.payload

    def error(self, principal: str, tool: str, **arguments: Any) -> dict[str, Any]:
        outcome = self.call(principal, tool, **arguments)
        assert outcome.is_error, outcome.payload
        return outcome.payload["error"]


def make_settings(store_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(database_url=store_url, data_dir=tmp_path / "data", **overrides)


@pytest.fixture
def settings(store_url: str, tmp_path: Path) -> Settings:
    return make_settings(store_url, tmp_path, rate_per_minute=10_000)


def populate(services: Services) -> dict[str, str]:
    """Tenants acme (free) and globex (pro, pooled), active, and one principal per role."""
    keys: dict[str, str] = {}
    with services.db.session() as session:
        for name, role in PLATFORM_PRINCIPALS.items():
            keys[name] = add_principal(session, name, role)[1].plaintext
    pipeline = build_pipeline(services)
    for slug in ("acme", "globex"):
        outcome = pipeline.call(
            "create_tenant", "ops", {"slug": slug, "name": slug, "plan": "free"}
        )
        assert not outcome.is_error, outcome.payload
    Worker(services).run_pending()
    # globex is on pro with pooled storage: the plan switches, its data stays (no migration).
    upgraded = pipeline.call(
        "change_plan", "ops", {"tenant": "globex", "plan": "pro", "migrate_isolation": False}
    )
    assert not upgraded.is_error, upgraded.payload
    Worker(services).run_pending()
    with services.db.session() as session:
        for name, (role, slug) in TENANT_PRINCIPALS.items():
            keys[name] = add_principal(session, name, role, slug)[1].plaintext
    return keys


@pytest.fixture
def served(settings: Settings) -> Iterator[Served]:
    services = build_services(settings)
    keys = populate(services)
    yield Served(services, build_pipeline(services), keys)
    services.db.dispose()


class Clock:
    """A clock the test moves by hand (leases and schedules are compared against it)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clocked(store_url: str, tmp_path: Path) -> Iterator[tuple[Served, Clock]]:
    clock = Clock()
    settings = make_settings(store_url, tmp_path, rate_per_minute=10_000, worker_lease_seconds=30)
    services = build_services(settings, clock=clock)
    keys = populate(services)
    yield Served(services, build_pipeline(services), keys), clock
    services.db.dispose()
