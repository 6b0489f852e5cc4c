"""A tenant as read-only calls see it (its row, its plan's, its subscription's), kept apart
from any session, and put back into a call's session without a query.

A snapshot holds column values only, never an ORM object another session could expire,
refresh or write: ``attach`` builds fresh instances holding its values as loaded state
(no constructor, no attribute events), gives them their identity
(``make_transient_to_detached``) and adds them to the session, which then holds them as if it
had read the rows. JSON values (plan features) are copied for each call.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import inspect
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state

from paybill.server.store import Base, Plan, Subscription, Tenant

M = TypeVar("M", bound=Base)


@dataclass(frozen=True)
class TenantSnapshot:
    tenant: Mapping[str, Any]
    plan: Mapping[str, Any]
    subscription: Mapping[str, Any] | None


def _columns(row: Base) -> dict[str, Any]:
    return {attr.key: getattr(row, attr.key) for attr in inspect(type(row)).column_attrs}


def snapshot(tenant: Tenant) -> TenantSnapshot:
    """Column values of ``tenant``, its plan and its subscription (loading it if needed)."""
    sub = tenant.subscription
    return TenantSnapshot(
        _columns(tenant), _columns(tenant.plan), _columns(sub) if sub is not None else None
    )


def _loaded(model: type[M], values: Mapping[str, Any]) -> M:
    """An instance of ``model`` holding ``values`` as loaded state: no constructor, no
    attribute events, no history. Lists and dicts (JSON columns) are copied: a call may not
    change another's."""
    instance = cast(M, inspect(model).class_manager.new_instance())
    state = instance_state(instance)
    state.dict.update(
        (key, copy.deepcopy(value) if isinstance(value, (dict, list)) else value)
        for key, value in values.items()
    )
    return instance


def attach(session: Session, snap: TenantSnapshot) -> Tenant:
    """The snapshot's tenant in ``session``, with its plan and subscription, no query run.
    A tenant the session already holds is returned as it is (its state is the session's)."""
    key = inspect(Tenant).identity_key_from_primary_key((snap.tenant["id"],))
    held = session.identity_map.get(key)
    if isinstance(held, Tenant):
        return held
    plan = _loaded(Plan, snap.plan)
    sub = _loaded(Subscription, snap.subscription) if snap.subscription is not None else None
    tenant = _loaded(Tenant, snap.tenant)
    # Both sides of each relationship, as a load would leave them (Subscription.tenant is
    # its back-reference); set as loaded values, not assignments: nothing is to be flushed.
    instance_state(tenant).dict.update(plan=plan, subscription=sub)
    if sub is not None:
        instance_state(sub).dict["tenant"] = tenant
    rows = [row for row in (plan, sub, tenant) if row is not None]
    for row in rows:
        make_transient_to_detached(row)  # its identity key; other attributes load lazily
    if any(_held(session, row) for row in rows):
        # The session holds the plan or subscription already (loaded by another query):
        # merge keeps its instance rather than adding a second one with the same identity.
        return session.merge(tenant, load=False)
    session.add(tenant)  # cascades to the plan and the subscription, as persistent rows
    return tenant


def _held(session: Session, row: Base) -> bool:
    key = instance_state(row).key
    return key is not None and session.identity_map.get(key) is not None
