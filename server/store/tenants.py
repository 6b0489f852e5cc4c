"""Plans, tenants, subscriptions and the lifecycle transition log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from paybill.server.core.vocabulary import CloudTarget, Isolation, SubscriptionStatus
from paybill.server.store.base import (
    Base,
    created_at_column,
    id_column,
    updated_at_column,
)
from paybill.server.store.columns import enum_column_type


class Plan(Base):
    """A sellable plan: price, isolation model, limits and feature entitlements."""

    __tablename__ = "plans"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    tier: Mapped[int] = mapped_column(Integer)
    price_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    billing_period_days: Mapped[int] = mapped_column(Integer)
    isolation: Mapped[Isolation] = mapped_column(enum_column_type(Isolation, "plan_isolation"))
    max_seats: Mapped[int] = mapped_column(Integer)
    max_rows: Mapped[int] = mapped_column(Integer)
    queries_per_minute: Mapped[int] = mapped_column(Integer)
    storage_mb: Mapped[int] = mapped_column(Integer)
    features: Mapped[list[str]]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Tenant(Base):
    """A customer of the SaaS; ``state`` follows the lifecycle in ``policies/lifecycle.yaml``."""

    __tablename__ = "tenants"

    id: Mapped[str] = id_column()
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"))
    isolation: Mapped[Isolation] = mapped_column(enum_column_type(Isolation, "tenant_isolation"))
    cloud: Mapped[CloudTarget] = mapped_column(enum_column_type(CloudTarget, "tenant_cloud"))
    region: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(32))
    # Optimistic concurrency: every UPDATE checks and bumps it (see the mapper args).
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    plan: Mapped[Plan] = relationship(lazy="joined")
    subscription: Mapped[Subscription | None] = relationship(back_populates="tenant")

    __mapper_args__ = {"version_id_col": version}


class Subscription(Base):
    """A tenant's billing state, period and any plan change scheduled for the period end."""

    __tablename__ = "subscriptions"

    id: Mapped[str] = id_column()
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), unique=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"))
    status: Mapped[SubscriptionStatus] = mapped_column(
        enum_column_type(SubscriptionStatus, "subscription_status")
    )
    current_period_start: Mapped[datetime]
    current_period_end: Mapped[datetime]
    trial_end: Mapped[datetime | None]
    past_due_since: Mapped[datetime | None]
    scheduled_plan_id: Mapped[str | None] = mapped_column(ForeignKey("plans.id"))
    # When the latest billing event applied was created (by the billing system): an older
    # event delivered after it is ignored (set_billing_state's event_created).
    last_event_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    tenant: Mapped[Tenant] = relationship(back_populates="subscription")


class LifecycleTransition(Base):
    """One applied lifecycle transition: who moved the tenant, from where to where, and why."""

    __tablename__ = "lifecycle_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
