"""What a workflow kind is: its steps in order, and what undoes a failure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from paybill.server.provisioners.base import TenantFacts

if TYPE_CHECKING:
    from paybill.server.guards.call import Services
    from paybill.server.store import Tenant, WorkflowRun


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

    def tenant(self) -> Tenant:
        from paybill.server.store import Tenant

        tenant = self.session.get(Tenant, self.tenant_id)
        if tenant is None:
            raise RuntimeError(f"tenant {self.tenant_id} vanished")
        return tenant

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


_REGISTRY: dict[str, Definition] = {}


def register(definition: Definition) -> Definition:
    if definition.kind in _REGISTRY:
        raise RuntimeError(f"workflow kind {definition.kind!r} registered twice")
    _REGISTRY[definition.kind] = definition
    return definition


def definition_of(kind: str) -> Definition:
    """Raises: KeyError for a kind no module registered (a run from a newer version)."""
    from paybill.server.workflows import (  # noqa: F401 - registers the kinds
        billing_runs,
        migration,
        tenant_runs,
    )

    return _REGISTRY[kind]


def known_kinds() -> list[str]:
    definition_of("provision")  # imports the modules that register the kinds
    return sorted(_REGISTRY)
