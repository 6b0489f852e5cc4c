"""Token buckets in the store, so that rate limits hold across replicas (PostgreSQL).

The table exists on both backends; only PostgreSQL stores use it (SQLite keeps its buckets
in process memory). On PostgreSQL it is UNLOGGED: a bucket is worth a minute at most, so it
is not worth WAL on every call; a crash empties it, which leaves every bucket full, as a
restart of an in-memory limiter does.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("tokens", sa.Double(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_buckets")),
        prefixes=["UNLOGGED"] if postgres else [],
    )


def downgrade() -> None:
    op.drop_table("rate_buckets")
