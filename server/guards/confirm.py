"""Confirmed reads: a call that changes nothing, decided on cached state, confirmed by the
store in one statement before it acts (PostgreSQL).

Every guard runs as always, on what this process cached at the control versions it last saw
(principals, tenants, the ACL index: all kept under those versions). The call's rate buckets
are not taken yet: their takes wait on the call (``take``). Before the call's first tenant
statement, or before its answer when it has no tenant work, ``confirm`` sends one statement
that checks the store is still at those versions and, only then, takes the buckets and
draws the audit event's id; the pipeline then inserts the audit event and the usage count in
one more statement (``domain.confirmed_reads``). So a revoked role, a disabled principal or
a suspended tenant committed before the confirmation refuses the call, exactly as a call
that read the versions first would.

Anything else sends the call back to be decided again from the store, from the start
(``Retry``): versions that moved, a guard refusing or answering (the refusal is re-derived
and audited by the ordinary path), any statement of the call's session before the
confirmation (a cache miss loading a row, an idempotency key, an approval), a tenant write,
or any failure. Nothing was taken, written or run on a tenant by then, so the second
decision is the only one that counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from paybill.server.core.errors import PaybillError
from paybill.server.core.ratelimit import Limiter, exceeded
from paybill.server.core.settings import is_postgres
from paybill.server.domain.confirmed_reads import BucketTake, Usage
from paybill.server.domain.confirmed_reads import confirm as confirm_in_store
from paybill.server.domain.control_versions import Versions
from paybill.server.domain.shared_rates import StoreRateLimiter

if TYPE_CHECKING:
    from paybill.server.guards.call import Call
    from paybill.server.guards.spec import ToolSpec
    from paybill.server.workflows.engine.services import Services

_ATTEMPT = "paybill.confirm.attempt"  # Session.info: the attempt the session serves


class Retry(Exception):
    """The attempt cannot be confirmed as it stands: decide the call again from the store.
    ``read_store``: because the call's session was used before the confirmation."""

    def __init__(self, why: str, *, read_store: bool = False) -> None:
        super().__init__(why)
        self.read_store = read_store
        self.in_handler = False  # raised while the tool's handler ran (the pipeline sets it)


class RefusedAt(Exception):
    """A rate bucket refused the confirmed call: ``error``, audited under ``stage`` (the
    stage whose guard asked for the take)."""

    def __init__(self, stage: str, error: PaybillError) -> None:
        super().__init__(error.message)
        self.stage = stage
        self.error = error


@dataclass(frozen=True)
class _Take:
    limiter: Limiter
    key: str
    per_minute: int | None
    stage: str


@dataclass
class Attempt:
    """A call being decided on cached state at ``expected``, until confirmed."""

    expected: Versions
    takes: list[_Take] = field(default_factory=list)
    confirmed: bool = False
    usage: Usage | None = None  # the tenant's usage to count with the audit event
    # The call's session began a transaction on a connection (only once confirmed): what
    # the call writes then commits with it.
    in_session: bool = False


class AttemptSession(Session):
    """A call's session that refuses to begin a transaction before its attempt is confirmed
    (``Retry``): what an unconfirmed call reads or writes in the store would not be covered by
    the confirmation."""


@event.listens_for(AttemptSession, "after_begin")
def _unconfirmed(session: Session, *_: Any) -> None:
    attempt: Attempt | None = session.info.get(_ATTEMPT)
    if attempt is None:
        return
    if not attempt.confirmed:
        raise Retry("the call's session was used before its confirmation", read_store=True)
    attempt.in_session = True


def attempt_for(services: Services, spec: ToolSpec, raw: dict[str, Any]) -> Attempt | None:
    """An attempt for a call of ``spec`` if it may be confirmed: a tool that changes nothing
    or runs a statement (a write is decided again before its tenant work), on a PostgreSQL
    store, with versions seen, and confirmed reads enabled."""
    if not (spec.read_only or spec.runs_sql) or "idempotency_key" in raw:
        return None
    if not confirms_reads(services):
        return None
    seen = services.seen_versions.get()
    return None if seen is None else Attempt(seen)


def confirms_reads(services: Services) -> bool:
    """Reads are confirmed on this store: PostgreSQL, and the setting on."""
    settings = services.settings
    return settings.confirmed_reads and is_postgres(settings.database_url)


def session_for(services: Services, attempt: Attempt) -> Session:
    session = AttemptSession(services.db.engine, expire_on_commit=False)
    session.info[_ATTEMPT] = attempt
    return session


def take(call: Call, limiter: Limiter, key: str, per_minute: int | None = None) -> None:
    """Take one call from ``key``'s bucket now, or, for an unconfirmed attempt, at its
    confirmation.

    Raises:
        QuotaExceeded: the bucket is empty (taken now).
    """
    attempt = call.attempt
    if attempt is None or attempt.confirmed:
        limiter.take(key, per_minute)
        return
    attempt.takes.append(_Take(limiter, key, per_minute, call.stage))


def confirm(call: Call, *, read_only: bool, event: dict[str, Any] | None = None) -> bool:
    """Confirm the call's attempt (once): the versions it was decided at are the store's,
    and its buckets are taken, in the order its guards asked. ``event``: the call's audit
    event (``audit.event_row``, its id drawn ahead: ``spare_audit_id``), written by the same
    statement if the call is granted; True when it was. It is not when a bucket is kept in
    this process (taken after the statement).

    Raises:
        Retry: the versions moved, or the call is about to write.
        RefusedAt: a bucket refused the call.
    """
    attempt = call.attempt
    if attempt is None or attempt.confirmed:
        return False
    if not read_only:
        raise Retry("a confirmed call never writes")
    takes: list[BucketTake] = []
    in_store: list[_Take] = []
    in_process: list[_Take] = []
    for deferred in attempt.takes:
        if isinstance(deferred.limiter, StoreRateLimiter):
            takes.append(BucketTake(deferred.limiter, deferred.key, deferred.per_minute))
            in_store.append(deferred)
        else:
            in_process.append(deferred)
    if in_process:
        event = None
    services = call.services
    ids = services.audit_ids
    confirmed = confirm_in_store(
        services.db.autocommit, attempt.expected, takes, spare=ids.wanted(), event=event
    )
    if confirmed.spare_id is not None:
        ids.add(confirmed.spare_id)
    if not confirmed.current:
        raise Retry("the control versions moved")
    attempt.confirmed = True
    call.audit_id = confirmed.audit_id  # a refusal's event takes it when no event was written
    if confirmed.refused is not None:
        refused = exceeded(confirmed.rate, confirmed.tokens)
        raise RefusedAt(in_store[confirmed.refused].stage, refused)
    for deferred in in_process:
        try:
            deferred.limiter.take(deferred.key, deferred.per_minute)
        except PaybillError as error:
            raise RefusedAt(deferred.stage, error) from None
    return event is not None


def spare_audit_id(call: Call) -> int | None:
    """An audit id drawn ahead, for a call that confirms and writes its event in one
    statement; None when none is left (the call draws its own)."""
    return call.services.audit_ids.take()


def count_usage(call: Call, usage: Usage) -> bool:
    """Keep ``usage`` for the confirmed call's last statement; False when the call is not
    one (the caller counts it in the session)."""
    attempt = call.attempt
    if attempt is None or not attempt.confirmed or attempt.in_session:
        return False
    attempt.usage = usage
    return True
