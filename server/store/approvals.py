"""Approvals: a destructive call waiting for a human decision."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from paybill.server.core.vocabulary import ApprovalStatus
from paybill.server.store.base import Base, created_at_column, id_column
from paybill.server.store.columns import enum_column_type

PENDING = "status = 'pending'"


class Approval(Base):
    """A pending or decided approval, bound to the hash of exactly what will run."""

    __tablename__ = "approvals"
    # One pending approval per effect and requester: ``plan_hash`` covers the tool, its
    # canonical arguments and the tenant (id, version, state, plan). Racing identical requests
    # share one. The requester is part of the key: sharing another principal's approval would
    # let that principal approve what it asked for itself (four-eyes).
    __table_args__ = (
        Index(
            "uq_approvals_one_pending_per_effect",
            "plan_hash",
            "requested_by",
            unique=True,
            postgresql_where=text(PENDING),
            sqlite_where=text(PENDING),
        ),
    )

    id: Mapped[str] = id_column()
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    tool: Mapped[str] = mapped_column(String(64))
    arguments: Mapped[dict[str, Any]]
    plan_hash: Mapped[str] = mapped_column(String(64))
    # What the approver sees and approves: the canonical effect (``domain.effects``) and its
    # SHA-256, re-derived from the artefact that would run before the approved call runs.
    effect: Mapped[dict[str, Any] | None]
    effect_hash: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[ApprovalStatus] = mapped_column(
        enum_column_type(ApprovalStatus, "approval_status")
    )
    requested_by: Mapped[str] = mapped_column(String(100))
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = created_at_column()
