"""One pending approval per effect and one waiting scheduled downgrade per tenant.

Pending approvals left over from racing requests (the same plan hash) are voided, all but the
oldest; so are all but the newest waiting scheduled downgrade of a tenant (the latest request
wins), before the partial unique indexes are created.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "status = 'pending'"
PENDING_DOWNGRADE = "kind = 'scheduled_downgrade' AND status = 'pending'"


def upgrade() -> None:
    # Hashes of the earlier format never equal a new request's (format "2."): left pending,
    # one could run an effect a new approval of the same request already ran. Void them.
    op.execute(
        "UPDATE approvals SET status = 'void', decided_at = CURRENT_TIMESTAMP, reason = "
        "'requested before the approval format changed; request it again' "
        "WHERE status = 'pending' AND plan_hash NOT LIKE '2.%'"
    )
    op.execute(
        "UPDATE approvals SET status = 'void', decided_at = CURRENT_TIMESTAMP, "
        "reason = 'duplicate of an older pending "
        "approval of the same effect' WHERE status = 'pending' AND EXISTS (SELECT 1 FROM "
        "approvals AS older WHERE older.status = 'pending' AND older.plan_hash = "
        "approvals.plan_hash AND older.requested_by = approvals.requested_by AND "
        "(older.created_at < approvals.created_at OR (older.created_at = "
        "approvals.created_at AND older.id < approvals.id)))"
    )
    superseded = (
        "SELECT id FROM workflow_runs AS run WHERE kind = 'scheduled_downgrade' AND status = "
        "'pending' AND EXISTS (SELECT 1 FROM workflow_runs AS newer WHERE newer.kind = "
        "'scheduled_downgrade' AND newer.status = 'pending' AND newer.tenant_id = run.tenant_id "
        "AND (newer.created_at > run.created_at OR (newer.created_at = run.created_at AND "
        "newer.id > run.id)))"
    )
    # Ended the way a superseded downgrade ends by itself: its steps skipped.
    skip = f"UPDATE workflow_steps SET status = 'skipped' WHERE run_id IN ({superseded})"  # noqa: S608
    end = f"UPDATE workflow_runs SET status = 'succeeded', finished_at = CURRENT_TIMESTAMP WHERE id IN ({superseded})"  # noqa: S608, E501
    op.execute(skip)
    op.execute(end)
    op.create_index(
        "uq_approvals_one_pending_per_effect",
        "approvals",
        ["plan_hash", "requested_by"],
        unique=True,
        postgresql_where=sa.text(PENDING),
        sqlite_where=sa.text(PENDING),
    )
    op.create_index(
        "uq_workflow_runs_one_pending_downgrade",
        "workflow_runs",
        ["tenant_id"],
        unique=True,
        postgresql_where=sa.text(PENDING_DOWNGRADE),
        sqlite_where=sa.text(PENDING_DOWNGRADE),
    )


def downgrade() -> None:
    op.drop_index("uq_workflow_runs_one_pending_downgrade", table_name="workflow_runs")
    op.drop_index("uq_approvals_one_pending_per_effect", table_name="approvals")
