"""Approvals: a pending request bound to the hash of exactly what will run."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paybill.server.core.errors import ApprovalVoid, Conflict, Denied, InvalidInput, NotFound
from paybill.server.core.hashing import canonical_hash
from paybill.server.core.vocabulary import ApprovalStatus
from paybill.server.domain.effects import Effect
from paybill.server.store import Approval, Principal, Tenant

_NOT_PART_OF_PLAN = ("idempotency_key", "dry_run")


def _kept(arguments: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in arguments.items() if k not in _NOT_PART_OF_PLAN}


# A plan hash of this format starts with it; older ones are one SHA-256 hex digest of the
# whole plan (no ".": they are told apart by it).
_FORMAT = "2."
_HALF = 31  # hex digits (124 bits) of each half: the column holds 64 characters


def _arguments_digest(tool: str, arguments: dict[str, Any]) -> str:
    return canonical_hash({"tool": tool, "arguments": _kept(arguments)})[:_HALF]


def _tenant_facts(tenant: Tenant | None) -> dict[str, Any] | None:
    if tenant is None:
        return None
    return {
        "id": tenant.id,
        "version": tenant.version,
        "state": tenant.state,
        "plan": tenant.plan_id,
    }


def _tenant_digest(tenant: Tenant | None) -> str:
    return canonical_hash({"tenant": _tenant_facts(tenant)})[:_HALF]


def plan_hash(tool: str, arguments: dict[str, Any], tenant: Tenant | None) -> str:
    """Hash of what would run: the call and the tenant as it is now (any change voids it).

    Two halves (SHA-256, truncated to 124 bits each) after a format mark: the call's, then
    the tenant's, so a mismatch says which of them changed (``changed_part``).
    """
    return _FORMAT + _arguments_digest(tool, arguments) + _tenant_digest(tenant)


Changed = Literal["arguments", "tenant"]


def changed_part(approval: Approval, tenant: Tenant | None) -> Changed | None:
    """What no longer matches the approval's hash: its stored call (tool or arguments: the
    record was altered after the request, as only tampering can), the tenant, or nothing.
    An approval hashed in the older single-digest format cannot tell the two apart: any
    mismatch is reported as the tenant's, as it always was."""
    stored = approval.plan_hash
    if not stored.startswith(_FORMAT):
        kept = _kept(approval.arguments)
        whole = {"tool": approval.tool, "arguments": kept, "tenant": _tenant_facts(tenant)}
        return None if canonical_hash(whole) == stored else "tenant"
    calls, tenants = stored[len(_FORMAT) :][:_HALF], stored[len(_FORMAT) + _HALF :]
    if calls != _arguments_digest(approval.tool, approval.arguments):
        return "arguments"
    if tenants != _tenant_digest(tenant):
        return "tenant"
    return None


def requester_disabled(session: Session, approval: Approval) -> bool:
    """True when the principal the approved call would run as is disabled or gone."""
    disabled = session.scalar(
        select(Principal.disabled).where(Principal.name == approval.requested_by)
    )
    return disabled is None or disabled


def pending_request(
    session: Session,
    tool: str,
    arguments: dict[str, Any],
    tenant: Tenant | None,
    requested_by: str,
    now: datetime,
) -> Approval | None:
    """The requester's pending approval of this very call (``plan_hash``), if one is still
    open; an expired one is voided on the way."""
    existing = _pending(session, plan_hash(tool, arguments, tenant), requested_by)
    if existing is not None and existing.expires_at <= now:
        void_expired(existing, now)
        session.flush()
        return None
    return existing


def request_approval(
    session: Session,
    *,
    tool: str,
    arguments: dict[str, Any],
    tenant: Tenant | None,
    requested_by: str,
    now: datetime,
    ttl: timedelta,
    effect: Effect,
) -> Approval:
    """Create a pending approval bound to ``effect``, or return the pending one a racing
    identical request created first.

    One pending approval per call (``plan_hash``: the tool, its canonical arguments and the
    tenant as it is now) and requester: a partial unique index enforces it, so of racing
    identical requests one inserts and the others get its approval. The caller voids an
    older pending one whose effect no longer holds first (``pending_request``). Another
    principal asking for the same effect gets an approval of its own: sharing one would make
    it the approval's requester in name only, free to decide what it asked for (four-eyes).
    """
    digest = plan_hash(tool, arguments, tenant)
    approval = Approval(
        tenant_id=tenant.id if tenant else None,
        tool=tool,
        arguments=_kept(arguments),
        plan_hash=digest,
        effect=effect.document,
        effect_hash=effect.sha256,
        status=ApprovalStatus.PENDING,
        requested_by=requested_by,
        expires_at=now + ttl,
    )
    try:
        with session.begin_nested():
            session.add(approval)
    except IntegrityError:
        # A racing identical request inserted first (PostgreSQL waited for it to commit).
        winner = _pending(session, digest, requested_by)
        if winner is None:
            raise  # it was decided in the meantime: the pipeline answers CONFLICT
        return winner
    return approval


def _pending(session: Session, digest: str, requested_by: str) -> Approval | None:
    return session.scalar(
        select(Approval)
        .where(
            Approval.plan_hash == digest,
            Approval.requested_by == requested_by,
            Approval.status == ApprovalStatus.PENDING,
        )
        .execution_options(populate_existing=True)
    )


def pending_for_decision(
    session: Session, approval_id: str, decider: str, now: datetime, *, dry_run: bool = False
) -> Approval:
    """Load an approval that ``decider`` may decide now.

    Raises:
        NotFound: no such approval.
        Conflict: already decided, or expired (then marked void).
        Denied: the decider requested it (four-eyes rule).
    """
    # Locked (and re-read) so two deciders racing on PostgreSQL cannot both act on "pending".
    approval = session.scalar(
        select(Approval)
        .where(Approval.id == approval_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if approval is None:
        raise NotFound(f"No approval {approval_id!r}.", approval_id=approval_id)
    if approval.status is not ApprovalStatus.PENDING:
        raise Conflict(
            f"Approval {approval_id} is already {approval.status.value}.",
            approval_id=approval_id,
            status=approval.status.value,
        )
    if approval.expires_at <= now:
        if not dry_run:  # a dry run changes nothing, not even an expired approval
            void_expired(approval, now)
        raise ApprovalVoid(
            f"Approval {approval_id} expired; the requester must ask again.",
            approval_id=approval_id,
            status=approval.status.value,
        )
    if approval.requested_by == decider:
        raise Denied(
            "An approval must be decided by someone other than its requester.",
            approval_id=approval_id,
        )
    return approval


def void_same_effect(session: Session, executed: Approval, now: datetime) -> list[str]:
    """Void the other requesters' pending approvals of the effect ``executed`` just had: what
    they asked for has happened, and nothing is left pending to run it twice. Their ids."""
    others = session.scalars(
        select(Approval).where(
            Approval.plan_hash == executed.plan_hash,
            Approval.status == ApprovalStatus.PENDING,
            Approval.id != executed.id,
        )
    )
    voided = []
    for other in others:
        void(other, now, f"the same effect was approved and executed as approval {executed.id}")
        voided.append(other.id)
    return voided


EXPIRED = "expired before a decision"


def void_expired(approval: Approval, now: datetime) -> None:
    """An approval whose expiry passed without a decision: when a call touches it (lazily),
    and at its expiry by the workflow engine (``workflows.engine.approval_expiry``)."""
    void(approval, now, EXPIRED)


def void(approval: Approval, now: datetime, reason: str) -> None:
    approval.status = ApprovalStatus.VOID
    approval.decided_at = now
    approval.reason = reason


def check_decision(decision: str) -> ApprovalStatus:
    if decision == "approve":
        return ApprovalStatus.APPROVED
    if decision == "reject":
        return ApprovalStatus.REJECTED
    raise InvalidInput("decision must be 'approve' or 'reject'.", decision=decision)
