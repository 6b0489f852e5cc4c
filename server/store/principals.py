"""Principals (who calls) and their API keys, stored only as hashes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from paybill.server.core.vocabulary import Role
from paybill.server.store.base import Base, created_at_column, id_column
from paybill.server.store.columns import enum_column_type


class Principal(Base):
    """A named caller with one role, bound to a tenant when the role is tenant-scoped."""

    __tablename__ = "principals"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[Role] = mapped_column(enum_column_type(Role, "principal_role"))
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = created_at_column()
    # Console sessions issued before this time are refused (logging out ends them all).
    sessions_valid_after: Mapped[datetime | None]

    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="principal")


class ApiKey(Base):
    """A bearer key: the public ``prefix`` finds the row, ``key_hash`` proves the secret."""

    __tablename__ = "api_keys"

    id: Mapped[str] = id_column()
    principal_id: Mapped[str] = mapped_column(ForeignKey("principals.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    principal: Mapped[Principal] = relationship(back_populates="api_keys")
