"""The plan catalogue: validated from ``policies/plans.yaml`` and synced into the store."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from paybill.server.core.policy_files import load_policy
from paybill.server.core.vocabulary import Isolation
from paybill.server.store import Plan

PLAN_ID_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"


class PlanLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seats: int = Field(gt=0)
    rows: int = Field(gt=0)
    queries_per_minute: int = Field(gt=0)
    storage_mb: int = Field(gt=0)


class PlanSpec(BaseModel):
    """One plan as declared in the catalogue file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=PLAN_ID_PATTERN)
    name: str = Field(min_length=1, max_length=64)
    tier: int = Field(ge=0)
    price_cents: int = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    billing_period_days: int = Field(gt=0, le=366)
    isolation: Isolation
    limits: PlanLimits
    features: tuple[str, ...] = ()


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    plans: tuple[PlanSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids_and_tiers(self) -> Catalogue:
        ids = [p.id for p in self.plans]
        if len(set(ids)) != len(ids):
            raise ValueError("plan ids must be unique")
        tiers = [p.tier for p in self.plans]
        if len(set(tiers)) != len(tiers):
            raise ValueError("plan tiers must be unique: they order upgrades and downgrades")
        return self


def load_catalogue(directory: Path | None = None) -> Catalogue:
    """Load and validate the plan catalogue.

    Raises:
        pydantic.ValidationError: the file does not describe a valid catalogue.
    """
    return load_policy("plans.yaml", Catalogue, directory)


def _row_values(spec: PlanSpec) -> dict[str, object]:
    return {
        "name": spec.name,
        "tier": spec.tier,
        "price_cents": spec.price_cents,
        "currency": spec.currency,
        "billing_period_days": spec.billing_period_days,
        "isolation": spec.isolation,
        "max_seats": spec.limits.seats,
        "max_rows": spec.limits.rows,
        "queries_per_minute": spec.limits.queries_per_minute,
        "storage_mb": spec.limits.storage_mb,
        "features": list(spec.features),
    }


def sync_plans(session: Session, catalogue: Catalogue) -> list[str]:
    """Insert new plans and update changed ones; return the ids that changed.

    Plans missing from the file are kept: tenants may still reference them.
    """
    existing = {plan.id: plan for plan in session.scalars(select(Plan))}
    changed: list[str] = []
    for spec in catalogue.plans:
        values = _row_values(spec)
        plan = existing.get(spec.id)
        if plan is None:
            session.add(Plan(id=spec.id, **values))
            changed.append(spec.id)
        elif any(getattr(plan, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(plan, key, value)
            changed.append(spec.id)
    return changed
