"""The audit log: every decision appended to a SHA-256 hash chain, and its verification."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from paybill.server.core.vocabulary import Decision
from paybill.server.store import AuditEvent
from paybill.server.store.base import utcnow

GENESIS = "0" * 64
SECRET_NAMES = ("api_key", "apikey", "authorization", "password", "secret", "token", "credential")
# Transaction-level advisory lock key on PostgreSQL: one appender at a time keeps the chain linear.
_PG_LOCK_KEY = 0x70617962696C6C  # "paybill"


def redact(value: Any) -> Any:
    """Replace values of secret-looking keys, recursively; audit rows never hold secrets."""
    if isinstance(value, dict):
        return {
            k: "[redacted]" if any(s in str(k).lower() for s in SECRET_NAMES) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


@dataclass(frozen=True)
class AuditEntry:
    """What a caller reports; the log adds time and the chain."""

    principal: str
    tool: str
    arguments: dict[str, Any]
    decision: Decision
    rule: str
    outcome: str
    tenant_id: str | None = None
    error_code: str | None = None
    detail: str | None = None


def event_hash(event: AuditEvent) -> str:
    body = {
        "occurred_at": _iso(event.occurred_at),
        "principal": event.principal,
        "tenant_id": event.tenant_id,
        "tool": event.tool,
        "arguments": event.arguments,
        "decision": Decision(event.decision).value,
        "rule": event.rule,
        "outcome": event.outcome,
        "error_code": event.error_code,
        "detail": event.detail,
        "prev_hash": event.prev_hash,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _iso(moment: datetime) -> str:
    # Microseconds are kept on both backends; isoformat of an aware UTC datetime is stable.
    return moment.isoformat()


def append(session: Session, entry: AuditEntry) -> AuditEvent:
    """Append ``entry`` to the chain inside the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    tip = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    event = AuditEvent(
        occurred_at=utcnow(),
        principal=entry.principal,
        tenant_id=entry.tenant_id,
        tool=entry.tool,
        arguments=redact(entry.arguments),
        decision=entry.decision,
        rule=entry.rule[:200],
        outcome=entry.outcome,
        error_code=entry.error_code,
        detail=entry.detail,
        prev_hash=tip or GENESIS,
    )
    event.hash = event_hash(event)
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class VerifyReport:
    checked: int
    first_broken_id: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_broken_id is None


def verify(session: Session) -> VerifyReport:
    """Recompute the chain from the first event; name the first event that does not fit."""
    expected_prev = GENESIS
    checked = 0
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        if event.prev_hash != expected_prev:
            return VerifyReport(checked, event.id, "prev_hash does not match the previous event")
        if event_hash(event) != event.hash:
            return VerifyReport(checked, event.id, "content does not match its hash")
        expected_prev = event.hash
        checked += 1
    return VerifyReport(checked)


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent)) or 0
