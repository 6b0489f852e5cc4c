"""Workflow ids, signal and activity names: the contract between starters, workflows and
activities. Plain constants, so workflow code imports them inside the sandbox."""

from __future__ import annotations

from dataclasses import dataclass

RUN_WORKFLOW = "paybill.run"
TENANT_WORKFLOW = "paybill.tenant"
SCHEDULED_WORKFLOW = "paybill.scheduled"
BILLING_WORKFLOW = "paybill.billing_tick"
APPROVAL_WORKFLOW = "paybill.approval"

SUBMIT = "submit"  # a run for the tenant's queue (signal-with-start)
RESCHEDULE = "reschedule"  # a scheduled run's moment or input changed (schedule_replacing)
DECIDED = "decided"  # an approval was decided (approved, rejected or voided): re-read it

BEGIN = "paybill.begin_run"
ADVANCE = "paybill.advance_run"
SCHEDULE_OF = "paybill.schedule_of"
HAND_OVER = "paybill.hand_over"
BILLING_TICK = "paybill.billing_tick"
APPROVAL_EXPIRY = "paybill.approval_expiry"
EXPIRE_APPROVAL = "paybill.expire_approval"


# Ids start with the task queue: it names one Paybill deployment (one store) in a namespace,
# so two deployments sharing a namespace (staging beside production, the test suite's stores
# whose tenants share ids) never signal each other's workflows.


def run_id_of(queue: str, run_id: str) -> str:
    return f"{queue}:run-{run_id}"


def tenant_id_of(queue: str, tenant_id: str) -> str:
    return f"{queue}:tenant-{tenant_id}"


def billing_schedule_of(queue: str) -> str:
    return f"{queue}:billing-tick"


def scheduled_id_of(queue: str, run_id: str) -> str:
    return f"{queue}:scheduled-{run_id}"


def approval_id_of(queue: str, approval_id: str) -> str:
    return f"{queue}:approval-{approval_id}"


@dataclass(frozen=True)
class Timing:
    """Activity timeouts and retries, from the settings (a workflow input, so a workflow
    never reads settings itself)."""

    heartbeat_seconds: float
    step_seconds: float
    retry_seconds: float
    retry_max_seconds: float


@dataclass(frozen=True)
class RunRef:
    run_id: str
    timing: Timing


@dataclass(frozen=True)
class TenantQueue:
    # The task queue the ids are prefixed with, as input (recorded in the history): replay
    # must not depend on where a workflow happens to be replayed.
    queue: str
    tenant_id: str
    timing: Timing
    queued: list[str]


@dataclass(frozen=True)
class ApprovalRef:
    approval_id: str
    timing: Timing
