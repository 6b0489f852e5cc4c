"""Idempotency keys: the first result of a mutating call is replayed, never re-executed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from paybill.server.core.errors import Conflict
from paybill.server.core.hashing import canonical_hash
from paybill.server.store import IdempotencyRecord

_NOT_PART_OF_REQUEST = ("idempotency_key",)
# The response of a key whose call is still running: claimed before the call's store
# transaction ends for its tenant work, which no lock then covers.
IN_FLIGHT: dict[str, Any] = {"in_flight": True}


def request_hash(tool: str, arguments: dict[str, Any]) -> str:
    kept = {k: v for k, v in arguments.items() if k not in _NOT_PART_OF_REQUEST}
    return canonical_hash({"tool": tool, "arguments": kept})


def lock(session: Session, principal_id: str, tool: str, key: str) -> None:
    """PostgreSQL: one call per (principal, tool, key) at a time, so a concurrent retry
    waits and then replays the first result instead of running again."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
            {"k": f"idempotency:{principal_id}:{tool}:{key}"},
        )


def replay(
    session: Session, principal_id: str, tool: str, key: str, arguments: dict[str, Any]
) -> dict[str, Any] | None:
    """The stored response for this key, or None when the key is new.

    Raises:
        Conflict: the key was used with other arguments, or its first call is still running.
    """
    record = _record(session, principal_id, tool, key)
    if record is None:
        return None
    if record.request_hash != request_hash(tool, arguments):
        raise Conflict(
            f"Idempotency key {key!r} was already used for {tool} with other arguments; "
            "use a new key for a new request.",
            idempotency_key=key,
        )
    if record.response == IN_FLIGHT:
        raise Conflict(
            f"A {tool} call with idempotency key {key!r} is still running; retry with the "
            "same key in a moment to get its result. If the server restarted meanwhile, that "
            "call's effect is unknown: check the current state, then use a new key.",
            idempotency_key=key,
            retry_after_seconds=1,
        )
    return record.response


def _record(session: Session, principal_id: str, tool: str, key: str) -> IdempotencyRecord | None:
    return session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.principal_id == principal_id,
            IdempotencyRecord.tool == tool,
            IdempotencyRecord.key == key,
        )
    )


def claim(
    session: Session, principal_id: str, tool: str, key: str, arguments: dict[str, Any]
) -> None:
    """Mark the key in flight (committed by the caller), so a concurrent retry is refused
    instead of running the call a second time."""
    remember(session, principal_id, tool, key, arguments, IN_FLIGHT)


def forget(session: Session, principal_id: str, tool: str, key: str) -> None:
    """Free a claimed key: the call ended without a result to replay."""
    record = _record(session, principal_id, tool, key)
    if record is not None and record.response == IN_FLIGHT:
        session.delete(record)
        session.flush()


def remember(
    session: Session,
    principal_id: str,
    tool: str,
    key: str,
    arguments: dict[str, Any],
    response: dict[str, Any],
) -> None:
    record = _record(session, principal_id, tool, key)
    if record is not None and record.response == IN_FLIGHT:
        record.response = response  # this call's own claim
        session.flush()
        return
    session.add(
        IdempotencyRecord(
            principal_id=principal_id,
            tool=tool,
            key=key,
            request_hash=request_hash(tool, arguments),
            response=response,
        )
    )
    session.flush()
