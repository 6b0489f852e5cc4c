"""The shared step machinery (``engine.steps``) run inside a Temporal activity.

Temporal, not a store lease, says which worker executes a run: ownership is "the run is not
finished" and liveness is the activity heartbeat. A worker presumed dead whose activity still
runs (a zombie) cannot record a stale outcome: a step's success is recorded only while the
step record is still that execution's (``engine.steps``, the attempt check).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session
from temporalio import activity

from paybill.server.store import WorkflowRun
from paybill.server.workflows.engine.runs import UNFINISHED
from paybill.server.workflows.engine.services import Services
from paybill.server.workflows.engine.steps import Steps


class TemporalSteps(Steps):
    def __init__(self, services: Services, owner: str, heartbeat_seconds: float) -> None:
        self.services = services
        self.owner = owner
        self.heartbeat_seconds = heartbeat_seconds

    def _owns(self, run: WorkflowRun) -> bool:
        return run.status in UNFINISHED

    def _renew(self, session: Session, run_id: str, tenant_id: str | None) -> None:
        activity.heartbeat()  # only called inside an activity: shows it is alive

    @contextmanager
    def _heartbeat(self, run_id: str, tenant_id: str | None) -> Iterator[None]:
        """Heartbeat while a long step (a Terraform apply) runs; the activity context is
        copied into the thread that beats."""
        stop = threading.Event()
        context = contextvars.copy_context()

        def beat() -> None:
            while not stop.wait(self.heartbeat_seconds / 3):
                context.run(activity.heartbeat)

        thread = threading.Thread(target=beat, name=f"heartbeat-{run_id[:8]}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _progress(self, run_id: str, tenant_id: str | None) -> Any:
        def report(message: str) -> None:
            activity.heartbeat(message)
            with self._session() as session, session.begin():
                session.execute(
                    update(WorkflowRun)
                    .where(WorkflowRun.id == run_id)
                    .values(progress=message[:200])
                    .execution_options(synchronize_session=False)
                )

        return report
