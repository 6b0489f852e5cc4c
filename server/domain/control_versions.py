"""Where a call learns whether what decides it changed: the store's control versions.

Triggers on the decisive tables (``store.control_versions.SCOPES``) move a scope's version in
the writer's own transaction, whoever writes (a replica, the CLI, the worker, raw SQL). A call
reads the versions once and drops what was cached under older ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from paybill.server.store import ControlVersion

_AUDIT_ID = ""  # no scope is named so: the row carrying the drawn id
# The versions and, in the same round trip, the id of the call's audit event (a sequence
# value: drawn outside any transaction's rollback, never handed out twice).
# The sequence is audit.ID_SEQUENCE; the row's scope is _AUDIT_ID.
_READ_AND_DRAW = text(
    "SELECT scope, version FROM control_versions "
    "UNION ALL SELECT '', nextval('audit_events_id_seq')"
)


@dataclass(frozen=True)
class Versions:
    acl: int
    principals: int
    tenants: int


def read_versions(session: Session) -> Versions:
    """One read of the versions row set.

    Raises: RuntimeError when a scope's row is missing (a store not migrated to 0013).
    """
    rows = session.execute(select(ControlVersion.scope, ControlVersion.version)).all()
    return _versions({scope: version for scope, version in rows})


def read_versions_drawing_audit_id(session: Session) -> tuple[Versions, int | None]:
    """``read_versions`` and, on PostgreSQL, the id of the call's audit event drawn in the
    same statement (``audit.append`` takes it): a call's first store round trip does both.
    On SQLite the id is None (the append draws it under the write lock).

    Raises: RuntimeError when a scope's row is missing (a store not migrated to 0013).
    """
    if session.get_bind().dialect.name != "postgresql":
        return read_versions(session), None
    rows: dict[str, int] = {scope: value for scope, value in session.execute(_READ_AND_DRAW)}
    audit_id = rows.pop(_AUDIT_ID)
    return _versions(rows), int(audit_id)


def _versions(rows: dict[str, int]) -> Versions:
    try:
        return Versions(rows["acl"], rows["principals"], rows["tenants"])
    except KeyError as missing:
        raise RuntimeError(f"control_versions has no {missing} row: run paybill migrate") from None
