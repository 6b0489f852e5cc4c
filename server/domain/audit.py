"""The audit log: every decision appended to an HMAC-SHA256 chain, and its verification.

Each event's ``hash`` is an HMAC, with a key kept outside the database (``audit_key``), over
its content, its position ``seq`` and the previous event's hash. Events written before the
chain was keyed (``key_id`` NULL) form a legacy prefix verified as plain SHA-256 and reported
as unkeyed; no unkeyed event may follow a keyed one. The chain proves nothing about events
deleted from its end: that is the checkpoint's job (``audit_checkpoint``, ``audit_log``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from paybill.server.core.vocabulary import Decision
from paybill.server.domain.audit_checkpoint import Checkpoint
from paybill.server.domain.audit_key import AuditKey
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


def _body(event: AuditEvent) -> dict[str, Any]:
    return {
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


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def event_hash(event: AuditEvent, key: AuditKey | None = None) -> str:
    """The event's MAC under ``key`` (its ``key_id`` must be the key's), or, for an unkeyed
    legacy event, the SHA-256 it was written with."""
    if event.key_id is None:
        return hashlib.sha256(_canonical(_body(event))).hexdigest()
    if key is None or key.key_id != event.key_id:
        raise ValueError(f"event {event.id} is signed with key {event.key_id}")
    body = {**_body(event), "seq": event.seq, "key_id": event.key_id}
    return key.mac(b"paybill-audit-event\0" + _canonical(body))


def _iso(moment: datetime) -> str:
    # Microseconds are kept on both backends; isoformat of an aware UTC datetime is stable.
    return moment.isoformat()


def append(session: Session, entry: AuditEntry, key: AuditKey) -> AuditEvent:
    """Append ``entry`` to the chain inside the caller's transaction, signed with ``key``."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    tip = session.execute(
        select(AuditEvent.hash, AuditEvent.seq).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    if tip is None:
        seq = 1
    elif tip.seq is not None:
        seq = tip.seq + 1
    else:  # the first keyed event after the legacy prefix: counted once
        seq = count(session) + 1
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
        prev_hash=tip.hash if tip is not None else GENESIS,
        seq=seq,
        key_id=key.key_id,
    )
    event.hash = event_hash(event, key)
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify`` found. ``ok`` is False when an event does not fit the chain
    (``first_broken_id`` names it) or when the log does not reach its checkpoint."""

    checked: int  # events that verified, from the first
    first_broken_id: int | None = None
    reason: str | None = None
    keyed: int = 0  # of ``checked``, events signed with the key
    unkeyed: int = 0  # of ``checked``, the legacy SHA-256 prefix
    key_id: str | None = None  # the key the verifier holds
    checkpoint: str = "none"  # none | matched | broken
    checkpoint_count: int | None = None
    last_id: int | None = None
    last_hash: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


def verify(session: Session, key: AuditKey, checkpoint: Checkpoint | None = None) -> VerifyReport:
    """Recompute the chain from the first event; name the first event that does not fit, and
    check that the log reaches ``checkpoint`` with the hash it recorded there."""
    expected_prev = GENESIS
    checked = unkeyed = 0
    last: AuditEvent | None = None
    matched = checkpoint is not None and checkpoint.count == 0

    def report(broken: int | None, reason: str | None) -> VerifyReport:
        return VerifyReport(
            checked=checked,
            first_broken_id=broken,
            reason=reason,
            keyed=checked - unkeyed,
            unkeyed=unkeyed,
            key_id=key.key_id,
            checkpoint="none" if checkpoint is None else ("matched" if matched else "broken"),
            checkpoint_count=checkpoint.count if checkpoint else None,
            last_id=last.id if last else None,
            last_hash=last.hash if last else None,
        )

    query = select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=1000)
    for event in session.scalars(query):
        if event.prev_hash != expected_prev:
            return report(event.id, "prev_hash does not match the previous event")
        if event.key_id is None:
            if checked > unkeyed:
                return report(event.id, "an unkeyed event follows keyed ones")
            if checkpoint is not None and unkeyed >= checkpoint.unkeyed:
                return report(event.id, "more unkeyed events than when the log became keyed")
        elif event.key_id != key.key_id:
            return report(event.id, f"signed with key {event.key_id}, not the audit key")
        elif event.seq != checked + 1:
            return report(event.id, "its position in the chain does not match")
        if not hmac.compare_digest(event_hash(event, key), event.hash):
            return report(event.id, "content does not match its hash")
        if checkpoint is not None and event.id == checkpoint.last_id:
            if event.hash != checkpoint.last_hash or checked + 1 != checkpoint.count:
                return report(event.id, "differs from the event the checkpoint recorded")
            matched = True
        expected_prev = event.hash
        unkeyed += event.key_id is None
        checked += 1
        last = event
    if checkpoint is not None and not matched:
        return report(
            None,
            f"the log ends after {checked} events but the checkpoint recorded "
            f"{checkpoint.count} up to event {checkpoint.last_id}: events were deleted",
        )
    return report(None, None)


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent)) or 0
