"""The audit log: events appended with a content MAC, then sealed into a hash chain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from paybill.server.core.vocabulary import Decision
from paybill.server.store.base import Base, created_at_column
from paybill.server.store.columns import enum_column_type


class AuditEvent(Base):
    """One decision (allowed or denied) and its outcome. ``mac`` (an HMAC with the audit key)
    covers its content and id from the start; ``seq``, ``prev_hash`` and ``hash`` (the chain
    link, an HMAC covering ``prev_hash``) are NULL until the sealer links it into the chain."""

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
    # events written before the chain was keyed (verified as an unkeyed SHA-256 prefix); seq
    # is NULL too until the event is sealed. Unique: the chain is walked in seq order.
    seq: Mapped[int | None] = mapped_column(Integer, index=True, unique=True)
    key_id: Mapped[str | None] = mapped_column(String(32))
    # The content MAC (content and id); NULL on events written before migration 0012.
    mac: Mapped[str | None] = mapped_column(String(64))
    # Unique: two sealers racing on the same tip cannot fork the chain.
    prev_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    hash: Mapped[str | None] = mapped_column(String(64), unique=True)

    # The sealer's queue: events not yet linked into the chain.
    __table_args__ = (
        Index(
            "ix_audit_events_unsealed",
            "id",
            postgresql_where=text("hash IS NULL"),
            sqlite_where=text("hash IS NULL"),
        ),
    )
