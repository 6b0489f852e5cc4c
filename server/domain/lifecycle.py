"""The tenant lifecycle: a state machine declared in ``policies/lifecycle.yaml``.

The definition is validated with pydantic, compiled into a ``python-statemachine`` chart (which
checks the graph: reachability, unknown targets) and applied to tenants with every transition
persisted. Concurrent transitions on one tenant cannot both win: ``Tenant.version`` is an
optimistic-lock column, so the loser's UPDATE matches no row and raises ``Conflict``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from statemachine.exceptions import TransitionNotAllowed
from statemachine.io import create_machine_class_from_definition
from statemachine.io.class_factory import StateDefinition

from paybill.server.core.errors import Conflict, InvalidInput, InvalidTransition
from paybill.server.core.policy_files import load_policy
from paybill.server.store import LifecycleTransition, Tenant

_NAME = re.compile(r"^[a-z][a-z_]{0,31}$")


class ActionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    sources: tuple[str, ...] = Field(alias="from", min_length=1)
    to: str


class LifecycleDefinition(BaseModel):
    """States and actions of the lifecycle, checked for internal consistency."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    initial: str
    states: tuple[str, ...]
    final: tuple[str, ...] = ()
    actions: dict[str, ActionSpec]

    @model_validator(mode="after")
    def _consistent(self) -> LifecycleDefinition:
        known = set(self.states)
        bad_names = [n for n in (*self.states, *self.actions) if not _NAME.match(n)]
        if bad_names:
            raise ValueError(f"state and action names must be snake_case: {bad_names}")
        referenced = {self.initial, *self.final}
        for spec in self.actions.values():
            referenced.update((*spec.sources, spec.to))
        if unknown := referenced - known:
            raise ValueError(f"unknown states referenced: {sorted(unknown)}")
        if leaving_final := [
            a for a, s in self.actions.items() if set(s.sources) & set(self.final)
        ]:
            raise ValueError(f"actions leave a final state: {leaving_final}")
        return self

    def allowed_actions(self, state: str) -> list[str]:
        return [name for name, spec in self.actions.items() if state in spec.sources]


def load_definition(directory: Path | None = None) -> LifecycleDefinition:
    """Load and validate ``lifecycle.yaml``.

    Raises:
        pydantic.ValidationError: the file is not a consistent lifecycle.
    """
    return load_policy("lifecycle.yaml", LifecycleDefinition, directory)


def _compile(definition: LifecycleDefinition) -> type[Any]:
    states: dict[str, StateDefinition] = {
        name: {"initial": name == definition.initial, "final": name in definition.final}
        for name in definition.states
    }
    for action, spec in definition.actions.items():
        for source in spec.sources:
            states[source].setdefault("on", {})[action] = [{"target": spec.to}]
    return create_machine_class_from_definition(
        "TenantLifecycle", states=states, allow_event_without_transition=False
    )


class _StateHolder:
    """What the chart mutates, so the ORM object changes only after the chart accepts."""

    def __init__(self, state: str) -> None:
        self.state = state


class Lifecycle:
    """Applies lifecycle actions to tenants and records each transition."""

    def __init__(self, definition: LifecycleDefinition) -> None:
        self.definition = definition
        self._chart = _compile(definition)

    @property
    def initial_state(self) -> str:
        return self.definition.initial

    def allowed_actions(self, state: str) -> list[str]:
        return self.definition.allowed_actions(state)

    def _action(self, action: str) -> ActionSpec:
        spec = self.definition.actions.get(action)
        if spec is None:
            raise InvalidInput(
                f"{action!r} is not a lifecycle action.",
                known_actions=list(self.definition.actions),
            )
        return spec

    def target_state(self, tenant: Tenant, action: str) -> str:
        """The state ``action`` would move ``tenant`` to, without applying it (for dry runs).

        Raises:
            InvalidInput: ``action`` is not a lifecycle action.
            InvalidTransition: ``action`` is not allowed in the tenant's state.
        """
        spec = self._action(action)
        if tenant.state not in spec.sources:
            raise InvalidTransition(
                tenant=tenant.slug,
                state=tenant.state,
                action=action,
                allowed=self.allowed_actions(tenant.state),
            )
        return spec.to

    def apply(
        self, session: Session, tenant: Tenant, action: str, *, actor: str, reason: str
    ) -> LifecycleTransition:
        """Move ``tenant`` by ``action``, record the transition and flush.

        Raises:
            InvalidInput: ``action`` is not a lifecycle action.
            InvalidTransition: ``action`` is not allowed in the tenant's state.
            Conflict: another transition changed the tenant first.
        """
        self._action(action)
        slug, source = tenant.slug, tenant.state  # read now: a failed flush expires the object
        holder = _StateHolder(source)
        try:
            self._chart(model=holder).send(action)
        except TransitionNotAllowed:
            raise InvalidTransition(
                tenant=tenant.slug,
                state=source,
                action=action,
                allowed=self.allowed_actions(source),
            ) from None
        tenant.state = holder.state
        record = LifecycleTransition(
            tenant_id=tenant.id,
            action=action,
            from_state=source,
            to_state=holder.state,
            actor=actor,
            reason=reason,
        )
        session.add(record)
        try:
            session.flush()
        except StaleDataError:
            raise Conflict(
                f"Tenant {slug!r} was changed by another request while {action} was "
                "being applied; read the tenant again and retry if the action still applies.",
                tenant=slug,
                action=action,
            ) from None
        return record
