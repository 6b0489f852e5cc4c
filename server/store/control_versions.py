"""Versions of what decides a call, moved by database triggers on every write."""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from paybill.server.store.base import Base

# scope -> the tables whose writes move it (migration 0013 installs the triggers).
SCOPES: dict[str, tuple[str, ...]] = {
    "acl": ("casbin_rules",),
    "principals": ("principals",),
    "tenants": ("tenants", "plans", "subscriptions"),
}


class ControlVersion(Base):
    """One row per scope: a counter any writer of the scope's tables moves, in its own
    transaction (so the new version and the change it announces commit together)."""

    __tablename__ = "control_versions"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
