"""Role bindings name principals as 'user:<name>', apart from role names.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE casbin_rules SET v0 = 'user:' || v0 WHERE ptype = 'g' AND v0 NOT LIKE 'user:%'"
    )


def downgrade() -> None:
    op.execute("UPDATE casbin_rules SET v0 = substr(v0, 6) WHERE ptype = 'g' AND v0 LIKE 'user:%'")
