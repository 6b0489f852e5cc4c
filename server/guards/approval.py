"""The approval guard: destructive calls wait for a human decision on their effect.

A tool needs an approval always (``ToolSpec.requires_approval``) or when a predicate over the
call says so (``ToolSpec.approval_when``). The predicates are here, with what they look at to
decide (the statement, the rows a change would touch, the target plan), so no handler ever
decides about approvals.

An approval binds the call's *effect* (``ToolSpec.effect``: the statement and the rows it
touches, the saved Terraform plan, the data a move copies), derived before the approval is
created. An approved call runs only if its effect, derived again now, is still the approved
one; otherwise the approval is voided with the reason and nothing runs. A dry run asks the
predicates too and says whether, why and with what effect the real call would wait.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from paybill.server.core.errors import ApprovalRequired, ApprovalVoid
from paybill.server.domain.approvals import pending_request, request_approval, void
from paybill.server.domain.effects import CALL, Effect, changed_keys, effect_hash, tenant_facts
from paybill.server.domain.notifications import queue_pending
from paybill.server.domain.plan_changes import moves_data
from paybill.server.domain.tenants import get_plan
from paybill.server.executors.dataplane.metering import count_matching
from paybill.server.executors.dataplane.structured import table_for, tenant_rows
from paybill.server.guards.billing import check_billing
from paybill.server.guards.call import Call
from paybill.server.guards.lifecycle import require_data_state
from paybill.server.guards.quota import take
from paybill.server.guards.spec import ApprovalNeedOut, ApprovalRule, EffectOut, EffectSource
from paybill.server.guards.sql import statement
from paybill.server.store import Approval
from paybill.server.workflows.engine.started import note_approval

_NOT_PART_OF_EFFECT = ("idempotency_key", "dry_run")


class CallEffect:
    """The effect of a tool that declares none: the call itself (tool and arguments) on the
    tenant as it is now."""

    def derive(self, call: Call, *, preview: bool) -> Effect:
        arguments = call.arguments.model_dump(mode="json", exclude=set(_NOT_PART_OF_EFFECT))
        tenant = call.tenant
        where = f" on tenant {tenant.slug}" if tenant is not None else ""
        return Effect(
            kind=CALL,
            summary=f"{call.spec.name}{where}",
            tenant=tenant_facts(tenant),
            details={"tool": call.spec.name, "arguments": arguments},
        )

    def drift(self, call: Call, approval: Approval) -> str | None:
        return compared(approval, self.derive(call, preview=False))


def compared(approval: Approval, now: Effect) -> str | None:
    """Why ``now`` is not the effect ``approval`` approved, or None when it is."""
    if now.sha256 == approval.effect_hash:
        return None
    parts = changed_keys(approval.effect or {}, now.document)
    return f"the effect changed since it was approved ({', '.join(parts) or 'hash'})"


def effect_source(call: Call) -> EffectSource:
    return call.spec.effect or CallEffect()


def effect_out(effect: Effect) -> EffectOut:
    return EffectOut(**effect.document, sha256=effect.sha256)


def needed_rule(call: Call) -> ApprovalRule | None:
    """The rule under which ``call`` must wait for an approval, or None."""
    spec = call.spec
    if spec.requires_approval:
        return ApprovalRule("always", "every call of it does.")
    if spec.approval_when is not None:
        return spec.approval_when(call)
    return None


def check_approval(call: Call) -> None:
    """Raises:
    ApprovalRequired: the call needs an approval (a pending one is recorded, bound to
        the call's effect).
    ApprovalVoid: an approved call whose effect changed since its approval (the approval
        is recorded void; nothing ran).
    or whatever a predicate or an effect refuses with while it looks.
    """
    if call.approval is not None:
        _require_approved_effect(call, call.approval)
        return
    if not call.spec.gated:
        return
    rule = needed_rule(call)
    if call.dry_run:
        call.approval_need = _need(call, rule) if rule is not None else None
        return
    if rule is None:
        return
    source = effect_source(call)
    arguments = call.arguments.model_dump(mode="json")
    existing = pending_request(
        call.session, call.spec.name, arguments, call.tenant, call.caller.name, call.now
    )
    if existing is not None:
        why = _stale(call, source, existing)
        if why is None:
            raise _required(call, existing, rule)
        void(existing, call.now, f"superseded: {why}")
        call.session.flush()
        note_approval(call.session, existing.id)  # its workflow ends
    effect = source.derive(call, preview=False)
    approval = request_approval(
        call.session,
        tool=call.spec.name,
        arguments=arguments,
        tenant=call.tenant,
        requested_by=call.caller.name,
        now=call.now,
        ttl=timedelta(seconds=call.services.settings.approval_ttl_seconds),
        effect=effect,
    )
    # In this transaction: the approval and its webhook notification commit together.
    queue_pending(call.session, call.services.settings, approval, call.tenant, rule.rule, call.now)
    # On Temporal, its workflow (waiting for the decision or the expiry) starts after the commit.
    note_approval(call.session, approval.id)
    raise _required(call, approval, rule)


def _need(call: Call, rule: ApprovalRule) -> ApprovalNeedOut:
    effect = effect_source(call).derive(call, preview=True)
    return ApprovalNeedOut(rule=rule.rule, reason=rule.reason, effect=effect_out(effect))


def _required(call: Call, approval: Approval, rule: ApprovalRule) -> ApprovalRequired:
    effect: dict[str, Any] = approval.effect or {}
    return ApprovalRequired(
        f"{call.spec.name} needs approval: {rule.reason} Approval {approval.id} is pending "
        f"for this effect: {effect.get('summary', call.spec.name)}. A principal with the "
        "approver role decides it (console, `paybill approvals`, or decide_approval); it "
        "then runs as approved, unless what it would do changes first.",
        approval_id=approval.id,
        expires_at=approval.expires_at.isoformat(),
        rule=rule.rule,
        effect_summary=effect.get("summary"),
        effect_sha256=approval.effect_hash,
    )


def _stale(call: Call, source: EffectSource, approval: Approval) -> str | None:
    """Why ``approval``'s stored effect does not hold for ``call`` now, or None."""
    document = approval.effect
    if document is None or approval.effect_hash is None:
        return "the approval carries no effect"
    if effect_hash(document) != approval.effect_hash:
        return "tampered: the stored effect no longer matches its hash"
    return source.drift(call, approval)


def _require_approved_effect(call: Call, approval: Approval) -> None:
    """Raises: ApprovalVoid (recorded void) when what would run is not what was approved."""
    why = _stale(call, effect_source(call), approval)
    if why is None:
        return
    raise voided(call, approval, why)


def voided(call: Call, approval: Approval, why: str) -> ApprovalVoid:
    """Record ``approval`` void because ``why``; the refusal to raise (nothing ran)."""
    void(approval, call.now, why[:500])
    call.session.flush()
    return ApprovalVoid(
        f"Approval {approval.id} is void: {why}. Nothing ran. The requester must call "
        f"{approval.tool} again to request a fresh approval of what it would do now.",
        approval_id=approval.id,
        reason="effect_changed",
        why=why[:500],
    )


def sql_writes(call: Call) -> ApprovalRule | None:
    """Data-modifying SQL (a writer's INSERT, UPDATE or DELETE).

    Raises: SqlRejected (the statement is validated here, once for the whole call).
    """
    if statement(call).kind != "write":
        return None
    return ApprovalRule("sql_write", "the statement modifies the tenant's data.")


def bulk_change(call: Call) -> ApprovalRule | None:
    """An update or delete without a filter, or matching more rows than the bulk threshold.

    Raises:
        InvalidInput: the table or a filter is not one the caller may use.
        InvalidTransition, QuotaExceeded: counting reads the tenant's rows, so the read gate
            and the quota apply to it.
    """
    args = call.arguments
    if not args.filters:
        return ApprovalRule("bulk_change", "no filter: it would change every row of the table.")
    schema = call.visible_schema()
    table = table_for(schema, args.table)
    require_data_state(call, "read")
    take(call)
    filters = [(f.column, f.op, f.value) for f in args.filters]
    where = tenant_rows(schema, table, call.target().id, filters)
    settings = call.services.settings
    matching = count_matching(
        call.services.engines,
        call.route(),
        table,
        where,
        settings.statement_timeout_ms,
        call.tenant_work,
    )
    if matching <= settings.bulk_threshold:
        return None
    return ApprovalRule(
        "bulk_change",
        f"it matches {matching} rows, more than the bulk threshold of {settings.bulk_threshold}.",
    )


def isolation_move(call: Call) -> ApprovalRule | None:
    """A plan change that moves the tenant's data to another isolation model.

    Billing admission is checked first, so no approver is ever asked about a change that
    would be refused anyway.

    Raises:
        NotFound: no such plan.
        InvalidInput: a move was asked for on the SQLite store.
        BillingBlocked: the subscription is not in good standing for an upgrade.
    """
    tenant, args = call.target(), call.arguments
    new = get_plan(call.session, args.plan)
    if new.id == tenant.plan_id:
        return None
    postgres = call.services.engines.postgres
    if not moves_data(tenant, new, requested=args.migrate_isolation, postgres=postgres):
        return None
    check_billing(call)
    return ApprovalRule(
        "isolation_move",
        f"it moves the tenant's data from {tenant.isolation.value} to {new.isolation.value}.",
    )
