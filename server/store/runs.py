"""Workflow runs, their steps and the per-tenant run lock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from paybill.server.core.vocabulary import RunStatus, StepStatus
from paybill.server.store.base import Base, created_at_column, id_column, updated_at_column
from paybill.server.store.columns import enum_column_type

PENDING_DOWNGRADE = "kind = 'scheduled_downgrade' AND status = 'pending'"


class WorkflowRun(Base):
    """A durable run of a workflow (provisioning, plan change, offboarding...)."""

    __tablename__ = "workflow_runs"
    # One scheduled downgrade waiting per tenant: a new request replaces the waiting one
    # (change_plan), and racing requests cannot both insert one.
    __table_args__ = (
        Index(
            "uq_workflow_runs_one_pending_downgrade",
            "tenant_id",
            unique=True,
            postgresql_where=text(PENDING_DOWNGRADE),
            sqlite_where=text(PENDING_DOWNGRADE),
        ),
    )

    id: Mapped[str] = id_column()
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[RunStatus] = mapped_column(enum_column_type(RunStatus, "run_status"))
    input: Mapped[dict[str, Any]]
    error: Mapped[dict[str, Any] | None]
    created_by: Mapped[str] = mapped_column(String(100))
    # Worker lease: who is executing the run and until when the claim holds.
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None]
    # Not claimable before this moment (a downgrade scheduled for the period end...).
    not_before: Mapped[datetime | None]
    # What the running step reports now ("terraform plan"...), for get_workflow.
    progress: Mapped[str | None] = mapped_column(String(200))
    finished_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()

    steps: Mapped[list[WorkflowStep]] = relationship(
        back_populates="run", order_by="WorkflowStep.position", cascade="all, delete-orphan"
    )


class WorkflowStep(Base):
    """One step of a run, recorded before and after it executes."""

    __tablename__ = "workflow_steps"
    __table_args__ = (UniqueConstraint("run_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("workflow_runs.id"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    status: Mapped[StepStatus] = mapped_column(enum_column_type(StepStatus, "step_status"))
    output: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    # Incremented (and committed) before every execution: more than 1 means a resumed step.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    run: Mapped[WorkflowRun] = relationship(back_populates="steps")


class TenantRunLock(Base):
    """One run per tenant at a time: the run holding the lock, its worker and the expiry.

    A worker renews the expiry while it works; an expired lock may be taken over (the worker
    died), and a platform admin may break one (audited)."""

    __tablename__ = "tenant_run_locks"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("workflow_runs.id"))
    owner: Mapped[str] = mapped_column(String(100))
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]
