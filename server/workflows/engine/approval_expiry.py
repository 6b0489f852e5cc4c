"""Approvals voided at their expiry, not only when a call next touches them.

Both engines use ``expire_due``: the embedded worker every tick, the Temporal engine from the
activity an approval's workflow runs when its expiry timer fires. One transaction per pass:
an approval still pending and past its expiry is voided (``domain.approvals.void_expired``,
as the lazy path does) and audited in the same commit, so an approval is voided and audited
once however often the pass runs. A decision racing with it locks the row first (PostgreSQL
skips it here; the decision sees the expiry itself), so an approval is never both.
The approval's saved Terraform plan file (if any) is left to the plan-file sweeps, as after a
lazy void (``plan_files``: an expired approval no longer keeps its plan).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from paybill.server.core.vocabulary import ApprovalStatus, Decision
from paybill.server.domain import audit
from paybill.server.domain.approvals import EXPIRED, void_expired
from paybill.server.store import Approval

if TYPE_CHECKING:
    from paybill.server.workflows.engine.services import Services

EXPIRY_ACTOR = "approval-expiry"
EXPIRY_TOOL = "approval.expire"


def expire_due(services: Services, rule: str, approval_id: str | None = None) -> list[str]:
    """Void the pending approvals whose expiry has passed (only ``approval_id`` when given);
    their ids. ``rule``: who expired them (``worker:<owner>``), for the audit."""
    now = services.clock()
    query = select(Approval).where(
        Approval.status == ApprovalStatus.PENDING, Approval.expires_at <= now
    )
    if approval_id is not None:
        query = query.where(Approval.id == approval_id)
    if services.db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    expired: list[str] = []
    with Session(services.db.engine, expire_on_commit=False) as session, session.begin():
        for approval in session.scalars(query.limit(100)).all():
            void_expired(approval, now)
            services.audit.append(
                session,
                audit.AuditEntry(
                    principal=EXPIRY_ACTOR,
                    tool=EXPIRY_TOOL,
                    arguments={"approval_id": approval.id, "tool": approval.tool},
                    decision=Decision.ALLOWED,
                    rule=rule,
                    outcome="void",
                    tenant_id=approval.tenant_id,
                    detail=f"{EXPIRED} (requested by {approval.requested_by})",
                ),
            )
            expired.append(approval.id)
    return expired
