"""The one path every tool call takes.

    authenticate -> limits (size, rate) -> validate -> resolve tenant -> ACL + entitlements
    -> idempotency replay -> workflow gate (lifecycle, approval) -> handler -> audit

Each guard passes the call on or raises a ``PaybillError``; only the handler acts. The call
runs in one transaction: its effects and its audit event commit together. A refused or failed
call is rolled back and audited in a transaction of its own, so denials are on record too.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paybill.server.core.errors import (
    ApprovalRequired,
    Conflict,
    InternalError,
    InvalidInput,
    PaybillError,
    Unauthenticated,
)
from paybill.server.core.vocabulary import Decision, Role
from paybill.server.domain import audit, idempotency
from paybill.server.domain.principals import get_principal
from paybill.server.guards.authz import check_acl, check_entitlement
from paybill.server.guards.call import Call, Caller
from paybill.server.guards.limits import check_argument_size
from paybill.server.guards.spec import ToolSpec
from paybill.server.guards.workflow import check_workflow
from paybill.server.store import Approval
from paybill.server.workflows.engine.services import Services

log = logging.getLogger("paybill.pipeline")
ANONYMOUS = Caller(id="", name="<anonymous>", role=Role.TENANT_AGENT, tenant_id=None)


@dataclass(frozen=True)
class Outcome:
    payload: dict[str, Any]
    is_error: bool


def load_caller(session: Session, name: str | None) -> Caller:
    """Raises: Unauthenticated when ``name`` is not an active principal."""
    if not name:
        raise Unauthenticated("No principal: the server was started without one.")
    try:
        principal = get_principal(session, name)
    except PaybillError:
        raise Unauthenticated(f"Principal {name!r} is unknown or disabled.") from None
    return Caller(principal.id, principal.name, principal.role, principal.tenant_id)


def validate(spec: ToolSpec, raw: dict[str, Any]) -> Any:
    """Raises: InvalidInput naming each bad field (never echoing the values)."""
    try:
        return spec.input_model.model_validate(raw)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(arguments)", "problem": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        listed = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
        raise InvalidInput(
            f"Invalid arguments for {spec.name}: {listed}. Nothing was changed.",
            problems=problems,
        ) from None


def authorise(call: Call) -> None:
    """Tenant resolution, ACL and entitlements (also used for approved executions)."""
    if call.spec.tenant_of is not None:
        call.tenant = call.spec.tenant_of(call, call.arguments)
        call.tenant_id = call.tenant.id if call.tenant is not None else None
    check_acl(call)
    check_entitlement(call)


class Pipeline:
    def __init__(self, services: Services, specs: Iterable[ToolSpec]) -> None:
        self.services = services
        self.registry: dict[str, ToolSpec] = {spec.name: spec for spec in specs}

    def call(
        self,
        tool: str,
        principal: str | None,
        raw: dict[str, Any],
    ) -> Outcome:
        spec = self.registry[tool]
        session = Session(self.services.db.engine, expire_on_commit=False)
        call = Call(self.services, session, spec, ANONYMOUS, raw, registry=self.registry)
        stage = "authenticate"
        try:
            call.caller = load_caller(session, principal)
            stage = "limits"
            check_argument_size(raw, self.services.settings.max_argument_bytes)
            self.services.rate_limiter.take(call.caller.name)
            stage = "validate"
            call.arguments = validate(spec, raw)
            stage = "authorise"
            authorise(call)
            stage = "idempotency"
            replayed = self._replay(call)
            if replayed is not None:
                self._audit(call, Decision.ALLOWED, "idempotent replay", "replayed")
                session.commit()
                return replayed
            stage = "workflow"
            check_workflow(call)
            stage = "execute"
            payload = spec.handler(call, call.arguments).model_dump(mode="json")
            self._remember(call, payload, is_error=False)
            self._audit(call, Decision.ALLOWED, call.decided_by, "ok")
            session.commit()
        except PaybillError as error:
            return self._refused(call, stage, error)
        except IntegrityError:
            return self._refused(call, stage, _concurrent(tool))
        except Exception:
            return self._refused(call, stage, _internal(tool))
        finally:
            session.close()
        return Outcome(payload, is_error=False)

    def _replay(self, call: Call) -> Outcome | None:
        key = getattr(call.arguments, "idempotency_key", None)
        if key is None or call.dry_run:
            return None
        idempotency.lock(call.session, call.caller.id, call.spec.name, key)
        stored = idempotency.replay(
            call.session, call.caller.id, call.spec.name, key, _normalised(call)
        )
        if stored is None:
            return None
        return Outcome(stored["payload"], is_error=stored["is_error"])

    def _remember(self, call: Call, payload: dict[str, Any], *, is_error: bool) -> None:
        key = getattr(call.arguments, "idempotency_key", None)
        if key is None or call.dry_run:
            return
        idempotency.remember(
            call.session,
            call.caller.id,
            call.spec.name,
            key,
            _normalised(call),
            {"payload": payload, "is_error": is_error},
        )

    def _refused(self, call: Call, stage: str, error: PaybillError) -> Outcome:
        payload = error.to_payload()
        decision = Decision.ALLOWED if stage == "execute" else Decision.DENIED
        rule = f"{stage}:{error.code}"
        session = call.session
        try:
            # A pending approval is not a result to replay: once decided, a retry with the
            # same key must see the new state. A failed provisioning run is.
            if error.keeps_changes and not isinstance(error, ApprovalRequired):
                self._remember(call, payload, is_error=True)
            elif not error.keeps_changes:
                session.rollback()
            self._audit(call, decision, rule, error.code, error=error)
            session.commit()
        except Exception:
            log.exception("could not record the refusal of %s", call.spec.name)
            session.rollback()
            self._audit_fallback(call, rule)
            payload = InternalError().to_payload()
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
        audit.append(
            call.session,
            audit.AuditEntry(
                principal=call.caller.name,
                tool=call.spec.name,
                arguments=call.raw_arguments,
                decision=decision,
                rule=rule or call.spec.name,
                outcome=outcome,
                tenant_id=call.tenant_id,
                error_code=error.code if error else None,
                detail=error.message[:1000] if error else None,
            ),
        )


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


def _normalised(call: Call) -> dict[str, Any]:
    """The validated arguments, so explicit defaults (dry_run=false) match omitted ones."""
    return call.arguments.model_dump(mode="json")


def run_approved(call: Call, approval: Approval) -> dict[str, Any]:
    """Execute an approved call as its requester, through the same guards, in ``call``'s
    transaction; the caller (decide_approval) has already checked the approval's hash."""
    spec = call.registry[approval.tool]
    requester = load_caller(call.session, approval.requested_by)
    nested = Call(
        call.services,
        call.session,
        spec,
        requester,
        approval.arguments,
        registry=call.registry,
        approval=approval,
    )
    nested.arguments = validate(spec, approval.arguments)
    authorise(nested)
    check_workflow(nested)
    payload = spec.handler(nested, nested.arguments).model_dump(mode="json")
    audit.append(
        call.session,
        audit.AuditEntry(
            principal=requester.name,
            tool=spec.name,
            arguments=approval.arguments,
            decision=Decision.ALLOWED,
            rule=f"approval:{approval.id}:approved_by:{call.caller.name}",
            outcome="ok",
            tenant_id=nested.tenant_id,
        ),
    )
    return payload
