"""The audit log: every decision appended with a content MAC, sealed into an HMAC chain.

``append`` inserts the event in the caller's transaction with ``mac``, an HMAC with the audit
key (kept outside the database, ``audit_key``) over its content and its id; it takes no lock,
so concurrent calls never wait for each other. ``seal`` links events into the chain: each
gets its position ``seq``, the previous event's hash and ``hash``, an HMAC over its content,
id, MAC, position and that previous hash. One sealer at a time holds the lock: on
PostgreSQL a sealer of ``audit_log`` (a background thread, the worker's loop, a
verification, a checkpoint), never a call; on SQLite the append itself, under the write lock
its transaction already holds. The chain's order is the sealing order (``seq``), which need
not be id order. Events written before the chain was
keyed (``key_id`` NULL) form a legacy prefix verified as plain SHA-256 and reported as
unkeyed; events keyed before migration 0012 have no ``mac`` and their hash covers neither id
nor MAC. The chain proves nothing about events deleted from its end: that is the
checkpoint's job (``audit_checkpoint``, ``audit_log``).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from paybill.server.core.vocabulary import Decision
from paybill.server.domain.audit_checkpoint import Checkpoint
from paybill.server.domain.audit_key import AuditKey
from paybill.server.store import AuditEvent
from paybill.server.store.base import utcnow

GENESIS = "0" * 64
SECRET_NAMES = ("api_key", "apikey", "authorization", "password", "secret", "token", "credential")
log = logging.getLogger("paybill.audit")
# Transaction-level advisory lock key on PostgreSQL: one sealer at a time keeps the chain
# linear. An append only tries it; a dedicated sealer (``audit_log``) waits for it.
SEAL_LOCK = 0x70617962696C6C  # "paybill"
_BATCH = 500  # unsealed events read (and linked) at a time by a sealer
# The id is drawn before the insert (audit_events_id_seq: the SERIAL column's default
# sequence) so that the content MAC, which covers it, goes in with the row. On PostgreSQL an
# append only draws it: sealing is left to the sealers (``audit_log``), off the call path.
ID_SEQUENCE = "audit_events_id_seq"  # the SERIAL column's sequence
_PG_RESERVE = text(f"SELECT nextval('{ID_SEQUENCE}')")
# SQLite's transactions hold the write lock from BEGIN IMMEDIATE: nobody else inserts until
# the commit, so the next id is the one SQLite would assign, and the append seals inline
# (the lock a sealer needs is already held; the tip is a local read).
_SQLITE_RESERVE = text(
    "SELECT coalesce(max(id), 0) + 1, "
    "EXISTS (SELECT 1 FROM audit_events WHERE hash IS NULL) FROM audit_events"
)
_TABLE = cast(Table, AuditEvent.__table__)
_COLUMNS = tuple(column.key for column in _TABLE.columns)
# A Core insert built once (its compiled form cached), executed with the row's values: no
# unit of work and no statement construction per call.
_INSERT = insert(_TABLE)
# A sealer's batch: the unsealed events after an id, then their links in one executemany.
_UNSEALED = (
    select(_TABLE)
    .where(_TABLE.c.hash.is_(None), _TABLE.c.id > bindparam("after"))
    .order_by(_TABLE.c.id)
    .limit(_BATCH)
)
_LINK = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("at"))
    .values(seq=bindparam("to_seq"), prev_hash=bindparam("to_prev"), hash=bindparam("to"))
)


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
    """The event's chain MAC under ``key`` (its ``key_id`` must be the key's), or, for an
    unkeyed legacy event, the SHA-256 it was written with. It covers the id and the content
    MAC too when the event has one (events appended since migration 0012)."""
    if event.key_id is None:
        return hashlib.sha256(_canonical(_body(event))).hexdigest()
    if key is None or key.key_id != event.key_id:
        raise ValueError(f"event {event.id} is signed with key {event.key_id}")
    body = {**_body(event), "seq": event.seq, "key_id": event.key_id}
    if event.mac is not None:
        body |= {"id": event.id, "mac": event.mac}
    return key.mac(b"paybill-audit-event\0" + _canonical(body))


def content_mac(event: AuditEvent, key: AuditKey) -> str:
    """The MAC over the event's content, id and key id: what proves an unsealed event."""
    body = {**_body(event), "id": event.id, "key_id": event.key_id}
    del body["prev_hash"]
    return key.mac(b"paybill-audit-content\0" + _canonical(body))


def _iso(moment: datetime) -> str:
    # Microseconds are kept on both backends; isoformat of an aware UTC datetime is stable.
    return moment.isoformat()


def append(
    session: Session, entry: AuditEntry, key: AuditKey, *, event_id: int | None = None
) -> AuditEvent:
    """Insert ``entry`` in the caller's transaction with its content MAC, never waiting for
    another caller: one Core INSERT (no unit of work), after the id is drawn. On PostgreSQL
    the event is committed unsealed and a sealer links it; on SQLite, whose transactions
    hold the database's write lock from their start, it is sealed here, after the committed
    events still unsealed. ``event_id``: an id already drawn from ``ID_SEQUENCE`` for this
    event (PostgreSQL; the pipeline draws it with the call's first read). The returned event
    is not attached to ``session``."""
    event = _event(entry, key)
    if session.get_bind().dialect.name == "postgresql":
        event.id = event_id if event_id is not None else session.execute(_PG_RESERVE).scalar_one()
        event.mac = content_mac(event, key)
    else:
        event.id, waiting = session.execute(_SQLITE_RESERVE).one()
        event.mac = content_mac(event, key)
        seal(session, key, last=event, others=bool(waiting))
        session.flush()  # the links of the others before this event's row
    session.execute(_INSERT, _row(event))
    return event


def event_row(entry: AuditEntry, key: AuditKey, event_id: int) -> dict[str, Any]:
    """The column values of ``entry`` as an unsealed event with the id ``event_id`` (drawn
    from ``ID_SEQUENCE``) and its content MAC: what ``append`` inserts on PostgreSQL, for a
    caller inserting it in a statement of its own (``confirmed_reads.finish``)."""
    row: dict[str, Any] = dict.fromkeys(_COLUMNS) | _values(entry, key) | {"id": event_id}
    # Plain values, not an ORM entity (whose construction cost more than the MAC).
    row["mac"] = content_mac(cast(AuditEvent, SimpleNamespace(**row)), key)
    return row


def _row(event: AuditEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in _COLUMNS}


def _event(entry: AuditEntry, key: AuditKey) -> AuditEvent:
    return AuditEvent(**_values(entry, key))


def _values(entry: AuditEntry, key: AuditKey) -> dict[str, Any]:
    """The columns an event takes from ``entry``, its time and its key (id and MAC later)."""
    return {
        "occurred_at": utcnow(),
        "principal": entry.principal,
        "tenant_id": entry.tenant_id,
        "tool": entry.tool,
        "arguments": redact(entry.arguments),
        "decision": entry.decision,
        "rule": entry.rule[:200],
        "outcome": entry.outcome,
        "error_code": entry.error_code,
        "detail": entry.detail,
        "key_id": key.key_id,
    }


def seal(
    session: Session, key: AuditKey, *, last: AuditEvent | None = None, others: bool = True
) -> int:
    """Link the unsealed events ``session`` sees into the chain, in id order, after its tip
    (unless ``others`` is False), then ``last`` (the caller's own new event); the caller holds
    the sealing lock, and its transaction reads at READ COMMITTED (each statement sees the
    previous sealer's commit). An event whose content MAC does not match is left unsealed
    (``verify`` fails on it) and logged. Returns how many were sealed."""
    seq, prev = _tip(session)
    sealed = after = 0
    while others:
        rows = session.execute(_UNSEALED, {"after": after}).all()
        links: list[dict[str, Any]] = []
        for row in rows:
            after = row.id
            # Plain values, not ORM entities: building and flushing those was most of a
            # sealer's CPU per event.
            event = cast(AuditEvent, SimpleNamespace(**row._mapping))
            if not _mac_matches(event, key):
                log.error("audit event %s does not match its MAC: left unsealed", event.id)
                continue
            seq, prev = _link(event, seq, prev, key)
            links.append(
                {"at": event.id, "to_seq": event.seq, "to_prev": event.prev_hash, "to": event.hash}
            )
            sealed += 1
        if links:
            session.execute(_LINK, links)
        if len(rows) < _BATCH:
            break
    if last is not None:
        _link(last, seq, prev, key)
        sealed += 1
    return sealed


def _link(event: AuditEvent, seq: int, prev: str, key: AuditKey) -> tuple[int, str]:
    event.seq, event.prev_hash = seq + 1, prev
    event.hash = event_hash(event, key)
    return event.seq, event.hash


def _mac_matches(event: AuditEvent, key: AuditKey) -> bool:
    return (
        event.key_id == key.key_id
        and event.mac is not None
        and hmac.compare_digest(content_mac(event, key), event.mac)
    )


def _tip(session: Session) -> tuple[int, str]:
    """The chain's last position and hash: the sealed event with the highest seq, else the
    end of the unkeyed legacy prefix (its length), else the genesis."""
    tip = session.execute(
        select(AuditEvent.seq, AuditEvent.hash)
        .where(AuditEvent.seq.is_not(None))
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).first()
    if tip is not None and tip.hash is not None:
        return tip.seq, tip.hash
    legacy = session.scalar(
        select(AuditEvent.hash)
        .where(AuditEvent.hash.is_not(None))
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    if legacy is None:
        return 0, GENESIS
    counted = select(func.count()).where(AuditEvent.hash.is_not(None))
    return session.scalar(counted) or 0, legacy


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify`` found. ``ok`` is False when an event does not fit the chain, an
    unsealed event does not match its MAC (``first_broken_id`` names it) or when the log does
    not reach its checkpoint."""

    checked: int  # chain events that verified, from the first
    first_broken_id: int | None = None
    reason: str | None = None
    keyed: int = 0  # of ``checked``, events signed with the key
    unkeyed: int = 0  # of ``checked``, the legacy SHA-256 prefix
    key_id: str | None = None  # the key the verifier holds
    checkpoint: str = "none"  # none | matched | broken
    checkpoint_count: int | None = None
    last_id: int | None = None
    last_hash: str | None = None
    unsealed: int = 0  # events not yet in the chain, each checked against its content MAC

    @property
    def ok(self) -> bool:
        return self.reason is None


def _chain(session: Session) -> Iterator[AuditEvent]:
    """Sealed events in chain order: the legacy prefix (no seq) by id, then by seq. An
    event with a hash but no seq that is not legacy lands in the first part and fails."""
    legacy = (
        select(AuditEvent)
        .where(AuditEvent.seq.is_(None), AuditEvent.hash.is_not(None))
        .order_by(AuditEvent.id)
    )
    chained = select(AuditEvent).where(AuditEvent.seq.is_not(None)).order_by(AuditEvent.seq)
    return itertools.chain.from_iterable(
        session.scalars(q.execution_options(yield_per=1000)) for q in (legacy, chained)
    )


def verify(session: Session, key: AuditKey, checkpoint: Checkpoint | None = None) -> VerifyReport:
    """Recompute the chain from the first event in ``seq`` order; name the first event that
    does not fit, check that the log reaches ``checkpoint`` with the hash it recorded there,
    then check every unsealed event against its content MAC."""
    expected_prev = GENESIS
    checked = unkeyed = unsealed = 0
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
            unsealed=unsealed,
        )

    for event in _chain(session):
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
        if event.hash is None or not hmac.compare_digest(event_hash(event, key), event.hash):
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
    pending = (
        select(AuditEvent)
        .where(AuditEvent.seq.is_(None), AuditEvent.hash.is_(None))
        .order_by(AuditEvent.id)
        .execution_options(yield_per=1000)
    )
    for event in session.scalars(pending):
        if event.key_id != key.key_id:
            return report(event.id, f"unsealed, signed with key {event.key_id}, not the audit key")
        if event.prev_hash is not None or not _mac_matches(event, key):
            return report(event.id, "unsealed, and its content does not match its MAC")
        unsealed += 1
    return report(None, None)
