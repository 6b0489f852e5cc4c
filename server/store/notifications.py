"""The approval-notification outbox: one row per pending approval to announce to a webhook.

Written in the transaction that creates the approval, so a notification is never lost and
the call never waits on the network; deliverers claim rows (``claimed_at``) and send them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from paybill.server.store.base import Base, created_at_column, id_column
from paybill.server.store.columns import enum_column_type


class NotificationStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt failed; logged once, never tried again


class ApprovalNotification(Base):
    __tablename__ = "approval_notifications"
    __table_args__ = (Index("ix_approval_notifications_due", "status", "next_attempt_at"),)

    id: Mapped[str] = id_column()
    # One notification per approval: a racing identical request that re-uses the winner's
    # approval cannot queue a second one.
    approval_id: Mapped[str] = mapped_column(ForeignKey("approvals.id"), unique=True)
    body: Mapped[dict[str, Any]]  # the JSON sent, fixed when the approval was created
    status: Mapped[NotificationStatus] = mapped_column(
        enum_column_type(NotificationStatus, "notification_status")
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    # A deliverer's claim; one older than the claim lease is a dead deliverer's, taken over.
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
