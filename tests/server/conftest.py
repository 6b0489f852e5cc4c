"""A served store with two tenants and a principal for every role."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from paybill.server.app import build_services
from paybill.server.domain import Role
from paybill.server.guards.call import Services
from paybill.server.guards.pipeline import Outcome, Pipeline
from paybill.server.principals import add_principal
from paybill.server.settings import Settings

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
    pipeline = Pipeline(services)
    for slug in ("acme", "globex"):
        outcome = pipeline.call(
            "create_tenant", "ops", {"slug": slug, "name": slug, "plan": "free"}
        )
        assert not outcome.is_error, outcome.payload
    # globex is on pro with pooled storage (moving its data is a separate workflow).
    upgraded = pipeline.call("change_plan", "ops", {"tenant": "globex", "plan": "pro"})
    assert not upgraded.is_error, upgraded.payload
    with services.db.session() as session:
        for name, (role, slug) in TENANT_PRINCIPALS.items():
            keys[name] = add_principal(session, name, role, slug)[1].plaintext
    return keys


@pytest.fixture
def served(settings: Settings) -> Iterator[Served]:
    services = build_services(settings)
    keys = populate(services)
    yield Served(services, Pipeline(services), keys)
    services.db.dispose()
