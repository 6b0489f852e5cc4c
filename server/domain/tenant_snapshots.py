"""A tenant as read-only calls see it (its row, its plan's, its subscription's), kept apart
from any session, and put back into a call's session without a query.

A snapshot holds column values only, never an ORM object another session could expire,
refresh or write: ``attach`` builds fresh instances from it, marks them as loaded
(``make_transient_to_detached``) and merges them without a load, so the call's session holds
them as if it had read the rows. JSON values (plan features) are copied for each call.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.orm import Session, make_transient_to_detached

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


def _built(model: type[M], values: Mapping[str, Any]) -> M:
    return model(**{key: copy.deepcopy(value) for key, value in values.items()})


def attach(session: Session, snap: TenantSnapshot) -> Tenant:
    """The snapshot's tenant in ``session``, with its plan and subscription, no query run.
    A tenant the session already holds is returned as it is (its state is the session's)."""
    key = inspect(Tenant).identity_key_from_primary_key((snap.tenant["id"],))
    held = session.identity_map.get(key)
    if isinstance(held, Tenant):
        return held
    plan = _built(Plan, snap.plan)
    sub = _built(Subscription, snap.subscription) if snap.subscription is not None else None
    tenant = _built(Tenant, snap.tenant)
    tenant.plan, tenant.subscription = plan, sub
    for row in (plan, sub, tenant):
        if row is not None:
            make_transient_to_detached(row)  # as if just loaded: no history to flush
    return session.merge(tenant, load=False)
