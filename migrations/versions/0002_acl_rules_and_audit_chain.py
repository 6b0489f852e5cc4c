"""Casbin role bindings table; audit chain cannot fork (unique prev_hash).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _restore_sqlite_triggers() -> None:
    # SQLite's batch mode rebuilds the table and drops its triggers: put 0001's back.
    if op.get_bind().dialect.name != "sqlite":
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(f"DROP TRIGGER IF EXISTS audit_events_no_{verb.lower()}")
        op.execute(
            f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
        )


def upgrade() -> None:
    op.create_table(
        "casbin_rules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ptype", sa.String(length=255), nullable=False),
        *(sa.Column(f"v{i}", sa.String(length=255), nullable=True) for i in range(6)),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_casbin_rules")),
    )
    with op.batch_alter_table("audit_events") as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_audit_events_prev_hash"), ["prev_hash"])
    _restore_sqlite_triggers()


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_events_prev_hash"), type_="unique")
    _restore_sqlite_triggers()
    op.drop_table("casbin_rules")
