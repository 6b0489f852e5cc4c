"""The append-only, hash-chained audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from paybill.server.core.vocabulary import Decision
from paybill.server.store.base import Base, created_at_column
from paybill.server.store.columns import enum_column_type


class AuditEvent(Base):
    """One decision (allowed or denied) and its outcome; ``hash`` (an HMAC with the audit key)
    covers ``prev_hash``."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = created_at_column()
    principal: Mapped[str] = mapped_column(String(100))
    tenant_id: Mapped[str | None] = mapped_column(String(36), index=True)
    tool: Mapped[str] = mapped_column(String(64))
    arguments: Mapped[dict[str, Any]]
    decision: Mapped[Decision] = mapped_column(enum_column_type(Decision, "audit_decision"))
    rule: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    # Position in the chain (1-based) and the HMAC key that signed the event; both NULL on
    # events written before the chain was keyed (verified as an unkeyed SHA-256 prefix).
    seq: Mapped[int | None] = mapped_column(Integer)
    key_id: Mapped[str | None] = mapped_column(String(32))
    # Unique: two writers racing on the same tip cannot fork the chain; the loser retries.
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
