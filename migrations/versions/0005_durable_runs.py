"""Durable workflow runs: per-tenant run locks, scheduled runs, progress and step attempts.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workflow_runs") as batch:
        batch.add_column(sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("progress", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("workflow_steps") as batch:
        batch.add_column(
            sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
    op.create_table(
        "tenant_run_locks",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_tenant_run_locks_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["workflow_runs.id"], name=op.f("fk_tenant_run_locks_run_id_workflow_runs")
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_run_locks")),
    )


def downgrade() -> None:
    op.drop_table("tenant_run_locks")
    with op.batch_alter_table("workflow_steps") as batch:
        batch.drop_column("attempts")
    with op.batch_alter_table("workflow_runs") as batch:
        batch.drop_column("finished_at")
        batch.drop_column("progress")
        batch.drop_column("not_before")
