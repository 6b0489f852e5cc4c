"""Rows written straight into a tenant's data store, past the tools (e.g. PII values a
caller without PII rights could not insert), and the sentinels the SQL guard tests seed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from paybill.server.executors.dataplane.access import tenant_transaction, ungated
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.executors.dataplane.schema import TENANT_TABLES
from paybill.server.store import Tenant
from paybill.server.workflows.engine.services import Services

PII_SENTINEL = "pii-sentinel-7f3a@example.invalid"
OTHER_TENANT_SENTINEL = "other-tenant-sentinel-91c2"


def route_of(services: Services, slug: str) -> TenantRoute:
    with services.db.session() as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == slug)).one()
        return TenantRoute(tenant.id, tenant.isolation)


def insert_raw(services: Services, slug: str, table: str, rows: list[dict[str, Any]]) -> None:
    route = route_of(services, slug)
    with tenant_transaction(
        services.engines, route, read_only=False, timeout_ms=5000, gate=ungated
    ) as conn:
        conn.execute(
            TENANT_TABLES[table].insert(), [{**row, "tenant_id": route.tenant_id} for row in rows]
        )


def seed_sentinels(services: Services) -> None:
    """globex customers with a PII sentinel email (globex's plan has no data.pii); acme
    rows that globex must never see."""
    insert_raw(
        services,
        "globex",
        "customers",
        [
            {"name": "Gina", "email": PII_SENTINEL, "country": "US"},
            {"name": "Gus", "email": None, "country": None},
        ],
    )
    insert_raw(
        services,
        "globex",
        "invoices",
        [{"customer_id": 1, "amount_cents": 100, "currency": "EUR", "status": "open"}],
    )
    insert_raw(
        services, "acme", "customers", [{"name": OTHER_TENANT_SENTINEL, "email": PII_SENTINEL}]
    )
