"""Helpers for the data-moving tests: a data plane on the test store, tenants provisioned
through ``objects.provision``, rows written as the tenant's own role, and cleanup of the
cluster-wide objects (roles, silo databases) the store's database does not take with it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Row, func, select

from paybill.server.core.vocabulary import Isolation
from paybill.server.executors.dataplane import objects
from paybill.server.executors.dataplane.access import tenant_transaction, ungated
from paybill.server.executors.dataplane.credentials import TenantCredentials
from paybill.server.executors.dataplane.engines import Engines
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.executors.dataplane.schema import (
    customers,
    invoices,
    support_tickets,
    usage_events,
)

UTC = dt.UTC
DANGLING = 987_654_321  # an invoice pointing at no customer: kept as is, never remapped


@dataclass
class Lab:
    engines: Engines
    tenants: list[str] = field(default_factory=list)

    def tenant(self, isolation: Isolation = Isolation.POOLED) -> TenantRoute:
        route = TenantRoute(str(uuid.uuid4()), isolation)
        self.tenants.append(route.tenant_id)
        objects.provision(self.engines, route)
        return route


def open_lab(store_url: str, tmp_path: Path) -> Iterator[Lab]:
    engines = Engines(store_url, TenantCredentials(tmp_path / "data"))
    lab = Lab(engines)
    try:
        yield lab
    finally:
        if engines.postgres:
            for tenant_id in lab.tenants:
                for isolation in (Isolation.SILO, Isolation.BRIDGE):
                    objects.drop(engines, TenantRoute(tenant_id, isolation))
        engines.dispose()


def seed(engines: Engines, route: TenantRoute, tag: str) -> None:
    """Rows in every table, written as the tenant's role: unicode, quotes, newlines, NULLs,
    microsecond timestamps, and one invoice whose customer does not exist."""
    at = dt.datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
    with tenant_transaction(
        engines, route, read_only=False, timeout_ms=10_000, gate=ungated
    ) as conn:
        ids = []
        for i, (name, email, country) in enumerate(
            [
                (f"Ada {tag}", "ada@example.com", "GB"),
                (f"Zoë — 東京 {tag}", None, None),
                (f'O\'Brien "quoted"\n{tag}', "ob@example.ie", "IE"),
            ]
        ):
            row = {"tenant_id": route.tenant_id, "name": name, "email": email}
            row |= {"country": country, "created_at": at + dt.timedelta(days=i)}
            ids.append(conn.execute(customers.insert().returning(customers.c.id), row).scalar())
        base = {"tenant_id": route.tenant_id, "issued_at": at}
        conn.execute(
            invoices.insert(),
            [
                base
                | {"customer_id": ids[0], "amount_cents": 1200, "currency": "EUR"}
                | {"status": "paid", "paid_at": at + dt.timedelta(hours=1)},
                base
                | {"customer_id": ids[2], "amount_cents": 99, "currency": "USD"}
                | {"status": "open", "paid_at": None},
                base
                | {"customer_id": DANGLING, "amount_cents": 5, "currency": "EUR"}
                | {"status": "void", "paid_at": None},
            ],
        )
        conn.execute(
            usage_events.insert(),
            [
                {"tenant_id": route.tenant_id, "customer_id": c, "metric": m, "quantity": q}
                | {"occurred_at": at}
                for c, m, q in ((ids[0], "api_calls", 10), (ids[1], "seats", 3))
            ],
        )
        conn.execute(
            support_tickets.insert(),
            [
                {"tenant_id": route.tenant_id, "customer_id": ids[1], "subject": f"Help {tag}"}
                | {"body": "line one\nline two ✓", "status": "open", "priority": "high"}
                | {"channel": "email", "created_at": at},
                {"tenant_id": route.tenant_id, "customer_id": ids[0], "subject": "Refund"}
                | {"body": "", "status": "closed", "priority": "low", "channel": None}
                | {"created_at": at},
            ],
        )


def add_customer(engines: Engines, route: TenantRoute, name: str) -> int:
    """Insert a customer as the tenant's role, letting the database pick the id."""
    with tenant_transaction(
        engines, route, read_only=False, timeout_ms=10_000, gate=ungated
    ) as conn:
        row = {"tenant_id": route.tenant_id, "name": name}
        return conn.execute(customers.insert().returning(customers.c.id), row).scalar_one()


def tenant_view(engines: Engines, route: TenantRoute) -> list[Row]:
    """Invoices joined to their customers' names, read as the tenant's role."""
    statement = (
        select(invoices.c.amount_cents, customers.c.name)
        .select_from(
            invoices.outerjoin(
                customers,
                (customers.c.id == invoices.c.customer_id)
                & (customers.c.tenant_id == invoices.c.tenant_id),
            )
        )
        .where(invoices.c.tenant_id == route.tenant_id)
        .order_by(invoices.c.id)
    )
    with tenant_transaction(
        engines, route, read_only=True, timeout_ms=10_000, gate=ungated
    ) as conn:
        return list(conn.execute(statement))


def customer_count(engines: Engines, route: TenantRoute) -> int:
    with tenant_transaction(
        engines, route, read_only=True, timeout_ms=10_000, gate=ungated
    ) as conn:
        statement = select(func.count()).where(customers.c.tenant_id == route.tenant_id)
        return conn.execute(statement).scalar_one()
