"""The tenant application schema, declared once for every isolation model.

Every table carries ``tenant_id``: in pooled storage it separates tenants (with row-level
security on PostgreSQL); in bridge and silo storage it is redundant but keeps one query path.
``tenant_id`` is never visible to callers. Columns marked ``info={"pii": True}`` are visible
only to tenant admins on plans with the ``data.pii`` feature.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
)

# SQLite only auto-numbers an INTEGER PRIMARY KEY; PostgreSQL gets a bigint identity.
ID_TYPE = BigInteger().with_variant(Integer, "sqlite")

tenant_metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _tenant_id() -> Column[str]:
    return Column("tenant_id", String(36), nullable=False)


customers = Table(
    "customers",
    tenant_metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    _tenant_id(),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=True, info={"pii": True}),
    Column("country", String(2), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index(None, "tenant_id", "id"),
)

invoices = Table(
    "invoices",
    tenant_metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    _tenant_id(),
    Column("customer_id", BigInteger, nullable=False),
    Column("amount_cents", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("paid_at", DateTime(timezone=True), nullable=True),
    Index(None, "tenant_id", "customer_id"),
)

usage_events = Table(
    "usage_events",
    tenant_metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    _tenant_id(),
    Column("customer_id", BigInteger, nullable=False),
    Column("metric", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index(None, "tenant_id", "occurred_at"),
)

support_tickets = Table(
    "support_tickets",
    tenant_metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    _tenant_id(),
    Column("customer_id", BigInteger, nullable=False),
    Column("subject", String(200), nullable=False),
    Column("body", Text, nullable=False, info={"free_text": True}),
    Column("status", String(16), nullable=False),
    Column("priority", String(8), nullable=False),
    Column("channel", String(16), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index(None, "tenant_id", "status"),
)

TENANT_TABLES: dict[str, Table] = {t.name: t for t in tenant_metadata.sorted_tables}
HIDDEN_COLUMNS = frozenset({"tenant_id"})
