"""Token buckets shared by every replica (``domain.shared_rates``): one row per key."""

from __future__ import annotations

from sqlalchemy import Boolean, Double, String
from sqlalchemy.orm import Mapped, mapped_column

from paybill.server.store.base import Base


class RateBucket(Base):
    """A key's bucket as of its last take: ``tokens`` left at ``at`` (epoch seconds, the
    database's clock), and whether that take was ``granted``. Reused by every take of the
    key; a row idle for a minute says nothing (its bucket is full again) and is swept."""

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(String, primary_key=True)
    tokens: Mapped[float] = mapped_column(Double)
    at: Mapped[float] = mapped_column(Double)
    granted: Mapped[bool] = mapped_column(Boolean)
