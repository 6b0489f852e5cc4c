"""Keyed audit chain (chain position and key id per event); no TRUNCATE of the audit log.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN on both backends: a batch rebuild on SQLite would drop the
    # append-only triggers. Existing rows keep NULLs: they are the unkeyed legacy prefix.
    op.add_column("audit_events", sa.Column("seq", sa.Integer(), nullable=True))
    op.add_column("audit_events", sa.Column("key_id", sa.String(length=32), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        # Row triggers do not fire on TRUNCATE; SQLite has no TRUNCATE (its DELETE trigger
        # covers the "truncate optimisation" too, which is skipped when a trigger exists).
        op.execute(
            "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION paybill_audit_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
    op.drop_column("audit_events", "key_id")
    op.drop_column("audit_events", "seq")
