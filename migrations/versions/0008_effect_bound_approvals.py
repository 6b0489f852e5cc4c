"""Approvals bound to their effect: the canonical effect an approver sees, and its SHA-256.

Pending approvals requested before this revision carry no effect, so nothing could check at
execution that what runs is what was approved: they are voided (the requester asks again).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("effect", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("effect_hash", sa.String(64), nullable=True))
    op.execute(
        "UPDATE approvals SET status = 'void', decided_at = CURRENT_TIMESTAMP, reason = "
        "'requested before approvals were bound to their effect; request it again' "
        "WHERE status = 'pending'"
    )


def downgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.drop_column("effect_hash")
        batch.drop_column("effect")
