"""Per-tenant quotas (calls per minute, rows) and usage metering for data calls."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from paybill.server.core.errors import QuotaExceeded
from paybill.server.executors.dataplane.access import Gate, tenant_transaction
from paybill.server.executors.dataplane.engines import Engines
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.executors.dataplane.schema import TENANT_TABLES
from paybill.server.store import Tenant, UsageCounter

_COUNTERS = cast(Table, UsageCounter.__table__)


def meter(
    session: Session, tenant: Tenant, now: datetime, *, rows_read: int = 0, rows_written: int = 0
) -> None:
    """Count one data call in the caller's (control-plane) transaction.

    Runs after the call's tenant work has committed, so it must not fail on a concurrent call
    of the same tenant: one upsert creates the day's counter or increments it in place (no
    lost update); a racing call that creates it first (the unique (tenant, day)) is waited
    for and then incremented.
    """
    values = {"tenant_id": tenant.id, "day": now.date(), "read": rows_read, "written": rows_written}
    session.execute(_upsert(session.get_bind().dialect.name), values)


@cache
def _upsert(dialect: str) -> Any:
    """The upsert, built once per dialect (its compiled form cached): only the values vary.
    The dialect's INSERT alone has ON CONFLICT (PostgreSQL, SQLite >= 3.24)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    row = insert(_COUNTERS).values(
        tenant_id=bindparam("tenant_id"),
        day=bindparam("day"),
        calls=1,
        rows_read=bindparam("read"),
        rows_written=bindparam("written"),
    )
    counters = _COUNTERS.c
    return row.on_conflict_do_update(
        index_elements=["tenant_id", "day"],
        set_={
            "calls": counters.calls + row.excluded.calls,
            "rows_read": counters.rows_read + row.excluded.rows_read,
            "rows_written": counters.rows_written + row.excluded.rows_written,
        },
    )


def row_counts(engines: Engines, route: TenantRoute, timeout_ms: int, gate: Gate) -> dict[str, int]:
    with tenant_transaction(
        engines, route, read_only=True, timeout_ms=timeout_ms, gate=gate
    ) as conn:
        return {
            name: conn.execute(
                select(func.count()).select_from(table).where(table.c.tenant_id == route.tenant_id)
            ).scalar_one()
            for name, table in TENANT_TABLES.items()
        }


def count_matching(
    engines: Engines,
    route: TenantRoute,
    table: Table,
    where: list[ColumnElement[bool]],
    timeout_ms: int,
    gate: Gate,
) -> int:
    """How many rows of ``table`` match ``where`` (``structured.tenant_rows``)."""
    with tenant_transaction(
        engines, route, read_only=True, timeout_ms=timeout_ms, gate=gate
    ) as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def pii_rows(engines: Engines, route: TenantRoute, timeout_ms: int, gate: Gate) -> int:
    """Rows holding a value in any PII column (``info={"pii": True}``): the tenant uses the
    ``data.pii`` feature as long as it stores such values."""
    total = 0
    with tenant_transaction(
        engines, route, read_only=True, timeout_ms=timeout_ms, gate=gate
    ) as conn:
        for table in TENANT_TABLES.values():
            pii = [c for c in table.columns if c.info.get("pii")]
            if pii:
                total += conn.execute(
                    select(func.count())
                    .select_from(table)
                    .where(table.c.tenant_id == route.tenant_id, or_(*(c.isnot(None) for c in pii)))
                ).scalar_one()
    return total


def require_row_room(tenant: Tenant, current_rows: int, adding: int) -> None:
    """Raises: QuotaExceeded when the plan's row limit would be passed."""
    limit = tenant.plan.max_rows
    if current_rows + adding > limit:
        raise QuotaExceeded(
            f"Plan {tenant.plan_id} allows {limit} rows; the tenant has {current_rows} and this "
            f"call adds {adding}. Delete rows or upgrade the plan.",
            limit=limit,
            current=current_rows,
            adding=adding,
        )
