"""What a workflow kind is: its steps in order, and what undoes a failure."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.executors.provisioner import TenantFacts

if TYPE_CHECKING:
    from paybill.server.store import Tenant, WorkflowRun
    from paybill.server.workflows.engine.services import Services


@dataclass
class StepContext:
    """What a step may use. ``facts`` is read before the step starts, so a step doing slow
    external work (Terraform, cloud APIs) never holds a store transaction; steps that change
    store records use ``session``, which the worker commits with the step's success."""

    services: Services
    session: Session
    run_id: str
    tenant_id: str
    facts: TenantFacts
    input: dict[str, Any]
    actor: str
    progress: Callable[[str], None] = field(default=lambda _message: None)
    # Which execution of the step this is (its recorded ``attempts``): the success of an
    # execution that a later one superseded is not recorded.
    attempt: int = 0

    def tenant(self) -> Tenant:
        from paybill.server.store import Tenant

        tenant = self.session.get(Tenant, self.tenant_id)
        if tenant is None:
            raise RuntimeError(f"tenant {self.tenant_id} vanished")
        return tenant

    def tenant_work(self, _route: TenantRoute, _read_only: bool) -> AbstractContextManager[object]:
        """The gate of a step's tenant statements (``access.Gate``): the step's store
        transaction ends first, so it holds no store lock or connection while they run. What
        the step wrote before would commit with it: a step reads, counts, then writes.
        Steps take no concurrency slot (a tenant has one run at a time)."""
        self.session.commit()
        return nullcontext()

    def run(self) -> WorkflowRun:
        from paybill.server.store import WorkflowRun

        run = self.session.get(WorkflowRun, self.run_id)
        if run is None:
            raise RuntimeError(f"run {self.run_id} vanished")
        return run


StepFn = Callable[[StepContext], dict[str, Any]]
# Called in the transaction that records a failed run: move the tenant where it can be
# retried or compensated. ``message`` is the failed step's error.
FailureFn = Callable[[StepContext, str], None]


@dataclass(frozen=True)
class Step:
    name: str
    act: StepFn


@dataclass(frozen=True)
class Definition:
    kind: str
    steps: tuple[Step, ...]
    on_failure: FailureFn | None = None

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)


class Kinds:
    """The workflow kinds one version runs, listed explicitly (``workflows.kinds.KINDS``)."""

    def __init__(self, definitions: Iterable[Definition]) -> None:
        self._by_kind: dict[str, Definition] = {}
        for definition in definitions:
            if definition.kind in self._by_kind:
                raise ValueError(f"workflow kind {definition.kind!r} listed twice")
            self._by_kind[definition.kind] = definition

    def of(self, kind: str) -> Definition:
        """Raises: KeyError for a kind this version does not run (a run from a newer one)."""
        return self._by_kind[kind]

    def names(self) -> list[str]:
        return sorted(self._by_kind)
