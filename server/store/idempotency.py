"""Idempotency records: the first result of a mutating call, kept for replays."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from paybill.server.store.base import Base, created_at_column


class IdempotencyRecord(Base):
    """The first result of a mutating call, replayed for the same key and arguments."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("principal_id", "tool", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    principal_id: Mapped[str] = mapped_column(ForeignKey("principals.id"))
    tool: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = created_at_column()
