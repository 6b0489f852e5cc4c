"""The one path every tool call takes: the guards of ``CHAIN`` in order, then the handler.

Each guard passes the call on, answers it (an idempotent replay) or raises a
``PaybillError``; only the handler acts. A call without tenant work runs in one transaction:
its effects and its audit event commit together. A call with tenant work ends its store
transaction before the first tenant statement (``Call.tenant_work``): no store lock or
connection waits on a tenant; its store writes after that (metering, the idempotent result,
the audit event) commit together at the end. A refused or failed call is rolled back (to
that point) and audited in a transaction of its own, so denials are on record too.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paybill.server.core.errors import (
    ApprovalRequired,
    Conflict,
    InternalError,
    NotFound,
    PaybillError,
)
from paybill.server.core.vocabulary import Decision
from paybill.server.domain import audit, confirmed_reads
from paybill.server.executors.dataplane.metering import meter
from paybill.server.guards.approval import check_approval
from paybill.server.guards.arguments import check_arguments
from paybill.server.guards.authenticate import authenticate
from paybill.server.guards.authz import authorise
from paybill.server.guards.billing import check_billing
from paybill.server.guards.call import ANONYMOUS, Call, Guard, Outcome
from paybill.server.guards.confirm import (
    Attempt,
    RefusedAt,
    Retry,
    attempt_for,
    confirm,
    session_for,
    spare_audit_id,
)
from paybill.server.guards.idempotency import forget, remember, replay
from paybill.server.guards.lifecycle import check_action, check_data_state
from paybill.server.guards.limits import check_limits
from paybill.server.guards.observe import CallObserver, CallRecord, CallTrace, Observers
from paybill.server.guards.quota import check_quota
from paybill.server.guards.retry import check_retry
from paybill.server.guards.spec import ToolSpec
from paybill.server.guards.sql import check_sql
from paybill.server.guards.tenant import resolve_tenant
from paybill.server.guards.validate import validate
from paybill.server.store import Approval
from paybill.server.store.outage import unavailable
from paybill.server.workflows.engine.services import Services

__all__ = ["CHAIN", "Outcome", "Pipeline", "Stage", "run_approved"]

log = logging.getLogger("paybill.pipeline")
EXECUTE = "execute"
UNKNOWN_TOOL = "<unknown>"  # the audit record's tool for a call naming no tool


@dataclass(frozen=True)
class Stage:
    """One guard and the stage its refusals are audited under (rule ``{stage}:{code}``)."""

    name: str
    guard: Guard


# Stage names are part of the audit record. The guards of the last stage checked inside the
# handlers until they became guards: their refusals keep the stage (and the "allowed"
# decision of a call that passed the gates) they were always recorded under. The approval
# predicates may run the sql guard, the data gate and the quota earlier, in "workflow".
CHAIN: tuple[Stage, ...] = (
    Stage("authenticate", authenticate),
    Stage("limits", check_limits),  # argument size, calls per minute per principal
    Stage("validate", validate),
    Stage("authorise", resolve_tenant),
    Stage("authorise", authorise),  # Casbin ACL, plan entitlements
    Stage("idempotency", replay),  # may answer with the first result
    Stage("workflow", check_action),  # the tool's lifecycle action
    Stage("workflow", check_approval),
    Stage(EXECUTE, check_sql),
    Stage(EXECUTE, check_retry),
    Stage(EXECUTE, check_arguments),  # against the tenant's schema, before the data gates
    Stage(EXECUTE, check_data_state),  # lifecycle states that serve reads or writes
    Stage(EXECUTE, check_quota),  # per tenant, the plan's queries per minute
    Stage(EXECUTE, check_billing),  # after the retry guard: it names the billed run
)
# An approved call runs again as its requester inside decide_approval's transaction; the
# deciding call was the one rate-limited, and idempotency belongs to it.
APPROVED_CHAIN = tuple(stage for stage in CHAIN if stage.name not in ("limits", "idempotency"))


class Pipeline:
    def __init__(
        self,
        services: Services,
        specs: Iterable[ToolSpec],
        observer: CallObserver | None = None,
    ) -> None:
        self.services = services
        self.registry: dict[str, ToolSpec] = {spec.name: spec for spec in specs}
        self.observer = observer or Observers()
        # Tools whose handler reads the store: a confirmed read of one confirms before the
        # handler runs (the handler then reads in the call's session, after it).
        self._confirm_first: set[str] = set()

    def call(self, tool: str, principal: str | None, raw: dict[str, Any]) -> Outcome:
        spec = self.registry[tool]
        trace = CallTrace(tool, principal)
        attempt = attempt_for(self.services, spec, raw)
        if attempt is not None:
            try:
                return self._call(spec, principal, raw, trace, attempt)
            except Retry as why:
                log.debug("%s decided again from the store: %s", tool, why)
                if why.read_store and why.in_handler:
                    # Its handler reads the store: later calls confirm before it runs.
                    self._confirm_first.add(tool)
        return self._call(spec, principal, raw, trace, None)

    def _call(
        self,
        spec: ToolSpec,
        principal: str | None,
        raw: dict[str, Any],
        trace: CallTrace,
        attempt: Attempt | None,
    ) -> Outcome:
        """One decision of the call: on cached state to be confirmed (``attempt``), which
        may raise ``Retry``, or from the store."""
        services = self.services
        if attempt is None:
            session = Session(services.db.engine, expire_on_commit=False)
        else:
            session = session_for(services, attempt)
        call = Call(services, session, spec, ANONYMOUS, raw, self.registry, principal=principal)
        call.attempt = attempt
        try:
            outcome, decision = self._run(call, trace)
        finally:
            session.close()
        self.observer.finished(_record(call, trace, outcome, decision))
        return outcome

    def _run(self, call: Call, trace: CallTrace) -> tuple[Outcome, Decision]:
        """The guards, then the handler; the outcome and the decision it was audited with."""
        session = call.session
        stage = CHAIN[0].name
        handling = False  # the handler is running (a Retry from it says so)
        try:
            for step in CHAIN:
                stage = call.stage = step.name
                started = trace.now()
                answer = step.guard(call)
                trace.mark(stage, started)
                if answer is not None:
                    _unless_unconfirmed(call)
                    self._audit(call, Decision.ALLOWED, answer.rule, answer.audited_as)
                    session.commit()
                    return answer.outcome, Decision.ALLOWED
            stage = call.stage = EXECUTE
            started = trace.now()
            if call.attempt is not None and call.spec.name in self._confirm_first:
                confirm(call, read_only=True)
            handling = True
            payload = _handled(call)
            trace.mark("handler", started)
            started = trace.now()
            if call.attempt is not None:
                self._finish_confirmed(call)
            else:
                remember(call, payload, is_error=False)
                self._audit(call, Decision.ALLOWED, call.decided_by, "ok")
                session.commit()
            trace.mark("audit", started)
        except Retry as why:
            why.in_handler = handling
            raise
        except RefusedAt as bucket:
            outcome = self._refused(call, bucket.stage, bucket.error)
            return outcome, _refusal_decision(call, bucket.stage)
        except PaybillError as error:
            _unless_unconfirmed(call)
            return self._refused(call, stage, error), _refusal_decision(call, stage)
        except IntegrityError:
            _unless_unconfirmed(call)
            refused = self._refused(call, stage, _concurrent(call.spec.name), unforeseen=True)
            return refused, _refusal_decision(call, stage)
        except Exception as exc:
            _unless_unconfirmed(call)
            failure = unavailable(exc) or _internal(call.spec.name)
            refused = self._refused(call, stage, failure, unforeseen=True)
            return refused, _refusal_decision(call, stage)
        return Outcome(payload, is_error=False), Decision.ALLOWED

    def _finish_confirmed(self, call: Call) -> None:
        """The end of a call decided on cached state: confirm it (a call without tenant work
        has not yet), then its audit event and usage in one statement, or in the call's
        transaction if something of the call used it after the confirmation."""
        attempt, services = call.attempt, call.services
        if attempt is None:
            raise RuntimeError("only an attempt is confirmed")
        if not attempt.confirmed and not attempt.in_session:
            # No tenant work: one statement confirms the call and writes its event, under an
            # id drawn ahead (its content MAC covers it), when one is left.
            drawn = spare_audit_id(call)
            if drawn is not None:
                entry = _entry(call, Decision.ALLOWED, call.decided_by, "ok")
                row = audit.event_row(entry, services.audit.key, drawn)
                if confirm(call, read_only=True, event=row):
                    services.audit.committed(services.db.engine)
                    return
        confirm(call, read_only=True)
        if attempt.in_session:
            if attempt.usage is not None:
                usage = attempt.usage
                meter(
                    call.session,
                    call.target(),
                    call.now,
                    rows_read=usage.rows_read,
                    rows_written=usage.rows_written,
                )
            self._audit(call, Decision.ALLOWED, call.decided_by, "ok")
            call.session.commit()
            return
        event_id = call.take_audit_id()
        if event_id is None:
            raise RuntimeError("a confirmation draws the audit event's id")
        entry = _entry(call, Decision.ALLOWED, call.decided_by, "ok")
        row = audit.event_row(entry, services.audit.key, event_id)
        confirmed_reads.finish(services.db.autocommit, row, attempt.usage)
        services.audit.committed(services.db.engine)

    def unknown_tool(self, tool: str, principal: str | None) -> Outcome:
        """A call naming no tool: the typed NOT_FOUND every refusal uses, audited under the
        tool ``<unknown>`` with the name asked for (cut short) as its argument."""
        name = tool[:100]
        caller = (principal or ANONYMOUS.name)[:100]
        error: PaybillError = NotFound(
            f"No tool named {name!r}. Call tools/list for the tools this server offers.",
            tool=name,
        )
        stage = "validate"
        try:
            self.services.rate_limiter.take(caller)  # counts against the caller's rate
        except PaybillError as exceeded:
            error, stage = exceeded, "limits"
        except Exception as exc:  # the store keeping the shared buckets failed: fail closed
            failure = unavailable(exc) or _internal(UNKNOWN_TOOL)
            return Outcome(failure.to_payload(), is_error=True)
        try:
            with self.services.db.session() as session:
                self.services.audit.append(
                    session,
                    audit.AuditEntry(
                        principal=caller,
                        tool=UNKNOWN_TOOL,
                        arguments={"tool": name},
                        decision=Decision.DENIED,
                        rule=f"{stage}:{error.code}",
                        outcome=error.code,
                        error_code=error.code,
                        detail=error.message,
                    ),
                )
        except Exception:
            log.exception("could not record a call of an unknown tool")
            return Outcome(InternalError().to_payload(), is_error=True)
        return Outcome(error.to_payload(), is_error=True)

    def _refused(
        self, call: Call, stage: str, error: PaybillError, *, unforeseen: bool = False
    ) -> Outcome:
        """Roll back, record and answer a refused or failed call. An ``unforeseen`` failure
        (the store failing, a bug) after a tenant write committed leaves the claimed key in
        flight, so a retry with it cannot write again."""
        payload = error.to_payload()
        decision = _refusal_decision(call, stage)
        rule = f"{stage}:{error.code}"
        session = call.session
        try:
            # A pending approval is not a result to replay: once decided, a retry with the
            # same key must see the new state. A failed provisioning run is.
            if error.keeps_changes and not isinstance(error, ApprovalRequired):
                remember(call, payload, is_error=True)
            else:
                if not error.keeps_changes:
                    session.rollback()
                if not (unforeseen and call.tenant_wrote):
                    forget(call)  # a key claimed before tenant work: free for a retry again
            self._audit(call, decision, rule, error.code, error=error)
            session.commit()
        except Exception as exc:
            log.exception("could not record the refusal of %s", call.spec.name)
            session.rollback()
            self._audit_fallback(call, rule)
            payload = (unavailable(exc) or InternalError()).to_payload()
        return Outcome(payload, is_error=True)

    def _audit_fallback(self, call: Call, rule: str) -> None:
        """Never fail open: record the refusal even when its arguments cannot be stored."""
        try:
            call.raw_arguments = {"unrecordable_arguments": True}
            self._audit(call, Decision.DENIED, rule, "INTERNAL")
            call.session.commit()
        except Exception:
            log.exception("audit fallback failed for %s", call.spec.name)
            call.session.rollback()

    def _audit(
        self,
        call: Call,
        decision: Decision,
        rule: str,
        outcome: str,
        error: PaybillError | None = None,
    ) -> None:
        call.services.audit.append(
            call.session,
            _entry(call, decision, rule, outcome, error),
            event_id=call.take_audit_id(),
        )


def _entry(
    call: Call, decision: Decision, rule: str, outcome: str, error: PaybillError | None = None
) -> audit.AuditEntry:
    return audit.AuditEntry(
        principal=call.caller.name,
        tool=call.spec.name,
        arguments=call.raw_arguments,
        decision=decision,
        rule=rule or call.spec.name,
        outcome=outcome,
        tenant_id=call.tenant_id,
        error_code=error.code if error else None,
        detail=error.message[:1000] if error else None,
    )


def _unless_unconfirmed(call: Call) -> None:
    """Raises: Retry for a call decided on cached state and not confirmed: a refusal or an
    answer is re-derived from the store, and audited there."""
    if call.attempt is not None and not call.attempt.confirmed:
        raise Retry("refused or answered before the confirmation")


def _refusal_decision(call: Call, stage: str) -> Decision:
    """A call that passed every gate and then failed was allowed; one a gate refused (or a
    handler that is itself a gate, ``refusals_denied``) was denied."""
    allowed = stage == EXECUTE and not call.spec.refusals_denied
    return Decision.ALLOWED if allowed else Decision.DENIED


def _record(call: Call, trace: CallTrace, outcome: Outcome, decision: Decision) -> CallRecord:
    code = str(outcome.payload["error"]["code"]) if outcome.is_error else "ok"
    return CallRecord(
        trace=trace,
        principal=call.caller.name if call.caller is not ANONYMOUS else (call.principal or ""),
        tenant_id=call.tenant_id,
        decision=decision.value,
        code=code,
        ended_ns=trace.now(),
    )


def _handled(call: Call) -> dict[str, Any]:
    """The handler's result; a gated tool's dry run says whether the real call would wait for
    an approval, and on what (the approval guard put it on the call)."""
    output = call.spec.handler(call, call.arguments)
    if call.spec.gated and call.dry_run:
        need = call.approval_need
        output = output.model_copy(update={"approval_required": need is not None, "approval": need})
    return output.model_dump(mode="json")


def _concurrent(tool: str) -> Conflict:
    # A concurrent call created the same thing first (slug, idempotency key...).
    return Conflict(
        f"A concurrent request changed the same records while {tool} ran; nothing was "
        "changed by this call. Read the current state and retry if needed."
    )


def _internal(tool: str) -> InternalError:
    reference = uuid.uuid4().hex[:12]
    log.exception("internal error in %s (reference %s)", tool, reference)
    return InternalError(reference)


def run_approved(call: Call, approval: Approval) -> dict[str, Any]:
    """Execute an approved call as its requester, through the same guards, in ``call``'s
    transaction; the caller (decide_approval) has already checked the approval's hash.

    An approved call with tenant work commits ``call``'s transaction, and with it the
    approval's ``approved`` status, before its first tenant statement: an approval executes
    at most once. A crash or a failure after that point leaves it ``approved``, never
    ``executed`` (and never pending again); the requester asks anew.
    """
    spec = call.registry[approval.tool]
    nested = Call(
        call.services,
        call.session,
        spec,
        ANONYMOUS,
        approval.arguments,
        call.registry,
        principal=approval.requested_by,
        approval=approval,
        owner=call,
    )
    for step in APPROVED_CHAIN:
        if step.guard(nested) is not None:
            raise RuntimeError(f"{step.name} answered an approved call of {spec.name}")
    payload = spec.handler(nested, nested.arguments).model_dump(mode="json")
    call.services.audit.append(
        call.session,
        audit.AuditEntry(
            principal=nested.caller.name,
            tool=spec.name,
            arguments=approval.arguments,
            decision=Decision.ALLOWED,
            rule=f"approval:{approval.id}:approved_by:{call.caller.name}",
            outcome="ok",
            tenant_id=nested.tenant_id,
        ),
        event_id=nested.take_audit_id(),
    )
    return payload
