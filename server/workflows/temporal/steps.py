"""The shared step machinery (``engine.steps``) run inside a Temporal activity.

Temporal, not a store lease, says which worker executes a run: ownership is "the run is not
finished" and liveness is the activity heartbeat. A worker presumed dead whose activity still
runs (a zombie) cannot record a stale outcome: a step's success is recorded only while the
step record is still that execution's (``engine.steps``, the attempt check).
"""

from __future__ import annotations

import contextvars
from contextlib import AbstractContextManager

from sqlalchemy.orm import Session
from temporalio import activity

from paybill.server.store import WorkflowRun
from paybill.server.workflows.engine.runs import UNFINISHED
from paybill.server.workflows.engine.services import Services
from paybill.server.workflows.engine.steps import Steps, beating


class TemporalSteps(Steps):
    def __init__(self, services: Services, owner: str, heartbeat_seconds: float) -> None:
        self.services = services
        self.owner = owner
        self.heartbeat_seconds = heartbeat_seconds

    def _owns(self, run: WorkflowRun) -> bool:
        return run.status in UNFINISHED

    def _renew(self, session: Session, run_id: str, tenant_id: str | None) -> None:
        activity.heartbeat()  # only called inside an activity: shows it is alive

    def _heartbeat(self, run_id: str, tenant_id: str | None) -> AbstractContextManager[None]:
        """Heartbeat while a long step (a Terraform apply) runs; the activity context is
        copied into the thread that beats."""
        context = contextvars.copy_context()

        def beat() -> bool:
            context.run(activity.heartbeat)
            return True

        return beating(self.heartbeat_seconds / 3, beat, f"heartbeat-{run_id[:8]}")
