"""Where a call learns whether what decides it changed: the store's control versions.

Triggers on the decisive tables (``store.control_versions.SCOPES``) move a scope's version in
the writer's own transaction, whoever writes (a replica, the CLI, the worker, raw SQL). A call
reads the versions once and drops what was cached under older ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from paybill.server.store import ControlVersion


@dataclass(frozen=True)
class Versions:
    acl: int
    principals: int
    tenants: int


def read_versions(session: Session) -> Versions:
    """One read of the versions row set.

    Raises: RuntimeError when a scope's row is missing (a store not migrated to 0013).
    """
    rows = dict(session.execute(select(ControlVersion.scope, ControlVersion.version)).all())
    try:
        return Versions(rows["acl"], rows["principals"], rows["tenants"])
    except KeyError as missing:
        raise RuntimeError(f"control_versions has no {missing} row: run paybill migrate") from None
