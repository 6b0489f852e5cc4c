"""Isolation migration: move a tenant's data between pooled, bridge and silo.

    vend_account → provision_target → copy_data → verify → switch_routing → cleanup_source
    → activate

``vend_account`` acts only for a move approved before the silo tenant's cloud account existed
(the approval bound the account to create, not a plan: ``executors.terraform.vend_first``); it
is the first thing the run creates in a cloud, after the approval and never before.

The tool that starts a run (``change_plan`` after its approval) applies the lifecycle action
``update`` and switches the plan in the same transaction. ``updating`` is the read-only window:
the data tools refuse writes (INVALID_TRANSITION) and serve reads from the tenant's record,
which points at the source until ``switch_routing``; the source is also made read-only for the
tenant's role (belt and braces). The window is bounded (``MAX_READ_ONLY_SECONDS``, checked
before the copy and before the switch) and its start and end are reported in the step outputs.

Every step converges when run again (a resumed run repeats its unfinished step). The routes
come from the run's input, never from the tenant record, which changes at the switch.

A failure before the switch rolls back: the partial target is removed, the source is
re-provisioned (writable again, infrastructure record and Terraform state back to the source
model), the plan is restored and the tenant goes ``updating → failed → active``. After the
switch the verified copy is live and the old one may be gone, so the run does not roll back:
the tenant stays ``failed`` and ``retry_workflow`` finishes the run.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.core.vocabulary import Isolation, StepStatus
from paybill.server.domain.audit_key import AuditKey
from paybill.server.domain.effects import sealed_digest
from paybill.server.domain.lifecycle import Lifecycle
from paybill.server.executors.dataplane import relocate
from paybill.server.executors.dataplane.checksums import TableChecksum
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.executors.terraform.provisioner import TerraformProvisioner
from paybill.server.executors.terraform.vend_first import KEY as VEND_FIRST
from paybill.server.store import Plan, Tenant, WorkflowRun
from paybill.server.workflows.engine.definitions import Definition, Step, StepContext
from paybill.server.workflows.engine.runs import enqueue

log = logging.getLogger("paybill.workflows.migration")

KIND = "isolation_migration"
# Longest a tenant may be held read-only; beyond it the run rolls back and writes resume.
MAX_READ_ONLY_SECONDS = 3600
SKIPPED_AFTER_SWITCH = {"skipped": "the tenant already reads from the target route"}


def run_input(
    tenant: Tenant,
    old: Plan,
    new: Plan,
    now: datetime,
    terraform_plan: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What a migration run needs: both plans and isolation models, and the window's start
    (``now``: when the tool applied ``update``). Call it before the tenant is switched.

    ``terraform_plan``: the saved plan an approval bound (``plan_file``, ``plan_sha256``),
    which ``provision_target`` applies instead of planning anew; or (``vend_first``) the
    account ``vend_account`` creates and the module and inputs planned with once it exists."""
    values: dict[str, Any] = {
        "from_plan": old.id,
        "to_plan": new.id,
        "from_isolation": tenant.isolation.value,
        "to_isolation": new.isolation.value,
        "read_only_since": now.isoformat(),
        "max_read_only_seconds": MAX_READ_ONLY_SECONDS,
    }
    if terraform_plan is not None:
        values["terraform_plan"] = terraform_plan
    return values


def start(
    session: Session,
    lifecycle: Lifecycle,
    tenant: Tenant,
    new: Plan,
    *,
    actor: str,
    reason: str,
    now: datetime,
    not_before: datetime | None = None,
) -> WorkflowRun:
    """Open the read-only window, switch the plan and record a migration run.

    For callers that apply a plan change outside ``change_plan`` (a scheduled downgrade at
    the period end): the same transaction must not have started another run of the tenant.

    Raises:
        InvalidTransition: the tenant is not ``active``.
        Conflict: the tenant already has a run in progress.
    """
    old, sub = tenant.plan, tenant.subscription
    lifecycle.apply(session, tenant, "update", actor=actor, reason=reason)
    tenant.plan = new
    if sub is not None:
        sub.plan_id, sub.scheduled_plan_id = new.id, None
    session.flush()
    return enqueue(
        session,
        tenant,
        ISOLATION_MIGRATION,
        created_by=actor,
        input=run_input(tenant, old, new, now),
        not_before=not_before,
    )


# -- helpers ---------------------------------------------------------------------------------


def _routes(context: StepContext) -> tuple[TenantRoute, TenantRoute]:
    source = TenantRoute(context.tenant_id, Isolation(context.input["from_isolation"]))
    target = TenantRoute(context.tenant_id, Isolation(context.input["to_isolation"]))
    return source, target


def _switched(context: StepContext, target: TenantRoute) -> bool:
    # ``facts`` was read when the step started, so slow steps hold no store transaction.
    return context.facts.isolation is target.isolation


def _window(context: StepContext, ended: datetime | None = None) -> dict[str, Any]:
    started = datetime.fromisoformat(context.input["read_only_since"])
    end = ended or context.services.clock()
    return {
        "started_at": started.isoformat(),
        "ended_at": end.isoformat(),
        "seconds": round((end - started).total_seconds(), 3),
        "max_seconds": context.input["max_read_only_seconds"],
    }


def _require_window_open(context: StepContext) -> None:
    """Raises: ProvisioningFailed when the read-only window outlasted its bound."""
    if "retry_of" in context.input:
        return  # an operator chose to finish a migration that failed without a rollback
    window = _window(context)
    if window["seconds"] > window["max_seconds"]:
        raise ProvisioningFailed(
            f"The tenant has been read-only for {window['seconds']:.0f} s, more than the "
            f"{window['max_seconds']} s a migration may hold it; the migration is rolled back "
            "and writes resume. Request the plan change again at a quieter time.",
            read_only_window=window,
        )


def _checksums(key: AuditKey, checks: dict[str, TableChecksum]) -> dict[str, dict[str, Any]]:
    """Per table, the rows and the checksum sealed with the server's key, as the approval's
    effect shows them: whoever reads runs must not be able to test guessed values (PII)
    against a plain digest."""
    return {
        name: {"rows": c.rows, "sha256": sealed_digest(key, c.sha256)} for name, c in checks.items()
    }


# -- steps -----------------------------------------------------------------------------------


def vend_account(context: StepContext) -> dict[str, Any]:
    """Create the silo tenant's cloud account the approval bound (``vend_first``), after the
    approval and before anything else; any other move has nothing to vend here."""
    _, target = _routes(context)
    bound = (context.input.get("terraform_plan") or {}).get(VEND_FIRST)
    if bound is None:
        return {"skipped": "no cloud account to create for this move"}
    if _switched(context, target):
        return SKIPPED_AFTER_SWITCH
    facts = replace(context.facts, isolation=target.isolation)
    return {
        "target": target.isolation.value,
        **_terraform(context).vend_approved(facts, bound, progress=context.progress),
    }


def provision_target(context: StepContext) -> dict[str, Any]:
    """The target through the provisioner: with ``local`` its database objects, with
    ``terraform`` the tenant's module re-applied for the target model (its plan policy
    decides, e.g. no data store destroyed), then the objects. A move approved with a saved
    plan applies exactly that file; Terraform refuses it when it went stale (the state
    changed since), and the run fails and rolls back. A move approved before its account
    existed plans now, in the account ``vend_account`` created, checks the policy, applies."""
    _, target = _routes(context)
    if _switched(context, target):
        return SKIPPED_AFTER_SWITCH
    facts = replace(context.facts, isolation=target.isolation)
    provisioner, approved = context.services.provisioner, context.input.get("terraform_plan")
    if approved is None:
        provisioned = provisioner.provision(facts, progress=context.progress)
    elif VEND_FIRST in approved:
        provisioned = _terraform(context).provision_vended(
            facts, approved[VEND_FIRST], progress=context.progress
        )
    else:
        provisioned = _terraform(context).provision_saved(
            facts, approved["plan_file"], approved["plan_sha256"], progress=context.progress
        )
    return {"target": target.isolation.value, **provisioned}


def _terraform(context: StepContext) -> TerraformProvisioner:
    """Raises: ProvisioningFailed when the server no longer provisions through Terraform."""
    provisioner = context.services.provisioner
    if not isinstance(provisioner, TerraformProvisioner):
        raise ProvisioningFailed(
            "The approved move binds Terraform (a saved plan or an account to create), but "
            "this server no longer provisions through Terraform; nothing was applied and the "
            "move is rolled back. Request the plan change again.",
        )
    return provisioner


def copy_data(context: StepContext) -> dict[str, Any]:
    source, target = _routes(context)
    if _switched(context, target):
        return SKIPPED_AFTER_SWITCH
    _require_window_open(context)
    engines = context.services.engines
    context.progress("making the source read-only")
    read_only = relocate.set_read_only(engines, source, True)
    context.progress(f"copying rows {source.isolation.value} → {target.isolation.value}")
    report = relocate.copy_tenant(engines, source, target)
    return {
        "source": source.isolation.value,
        "target": target.isolation.value,
        "source_read_only": read_only,
        "rows": report.rows,
        "total_rows": sum(report.rows.values()),
        "renumbered": report.renumbered,
    }


def verify(context: StepContext) -> dict[str, Any]:
    source, target = _routes(context)
    if _switched(context, target):
        return SKIPPED_AFTER_SWITCH
    checks = relocate.verify_copy(context.services.engines, source, target)
    return {
        "equal": True,
        "tables": _checksums(context.services.audit.key, checks),
        "total_rows": sum(c.rows for c in checks.values()),
    }


def switch_routing(context: StepContext) -> dict[str, Any]:
    """Point the tenant's record at the target; the old copy stays read-only until cleanup."""
    source, target = _routes(context)
    engines = context.services.engines
    if not _switched(context, target):
        _require_window_open(context)
        relocate.set_read_only(engines, source, True)
        tenant = context.tenant()
        tenant.isolation = target.isolation
        context.session.flush()
    # Cached connections of the tenant's role may point at the old (silo) database.
    engines.forget_tenant(source)
    return {
        "switched_at": context.services.clock().isoformat(),
        "reads_from": target.isolation.value,
        "old_copy": {"isolation": source.isolation.value, "read_only": True},
    }


def cleanup_source(context: StepContext) -> dict[str, Any]:
    source, target = _routes(context)
    if not _switched(context, target):
        # Never reachable in order; refuse rather than drop the only copy of live data.
        raise ProvisioningFailed(
            f"Refused to remove the {source.isolation.value} copy: the tenant still reads from "
            "it. The migration is rolled back instead.",
        )
    return relocate.cleanup(context.services.engines, source, live=target)


def activate(context: StepContext) -> dict[str, Any]:
    """End the window: the tenant is ``active`` on the target model."""
    tenant = context.tenant()
    lifecycle = context.services.lifecycle
    before = tenant.state
    if tenant.state != "active":
        _, target = _routes(context)
        lifecycle.apply(
            context.session,
            tenant,
            "updated",
            actor=context.actor,
            reason=f"isolation migration to {target.isolation.value} done",
        )
    return {"from": before, "to": tenant.state, "read_only_window": _window(context)}


# -- compensation ----------------------------------------------------------------------------


def roll_back(context: StepContext, message: str) -> None:
    """Called in the transaction that records the failure; never raises (a refused
    compensation would leave the tenant ``updating`` with nobody to move it)."""
    tenant = context.tenant()
    source, target = _routes(context)
    report: dict[str, Any] = {"read_only_window": _window(context)}
    if tenant.isolation is target.isolation:
        report["rolled_back"] = False
        _fail(
            context,
            tenant,
            f"isolation migration failed after the switch to {target.isolation.value} (the "
            f"verified copy is live): {message} Retry the run (retry_workflow) to finish it.",
        )
        _record(context, report)
        return
    try:
        report["removed_target"] = relocate.cleanup(context.services.engines, target, live=source)
        plan = context.session.get(Plan, context.input["from_plan"])
        if plan is None:
            raise RuntimeError(f"plan {context.input['from_plan']} vanished")
        facts = replace(context.facts, isolation=source.isolation, plan=plan.id, tier=plan.tier)
        # Infrastructure record (Terraform: the module) back to the source model, grants too.
        context.services.provisioner.provision(facts)
        relocate.set_read_only(context.services.engines, source, False)
    except Exception as exc:
        log.exception("rolling back isolation migration %s failed", context.run_id)
        report["rolled_back"] = False
        _fail(
            context,
            tenant,
            f"isolation migration failed ({message}) and its rollback did not complete "
            f"({type(exc).__name__}); the data is on {source.isolation.value}. Retry the run "
            "(retry_workflow) or have an operator repair it.",
        )
        _record(context, report)
        return
    tenant.plan = plan
    if tenant.subscription is not None:
        tenant.subscription.plan_id = plan.id
    _fail(context, tenant, f"isolation migration failed: {message}")
    lifecycle = context.services.lifecycle
    if "rollback_update" in lifecycle.allowed_actions(tenant.state):
        lifecycle.apply(
            context.session,
            tenant,
            "rollback_update",
            actor=context.actor,
            reason=f"isolation migration rolled back; data stays {source.isolation.value}, "
            f"plan back to {plan.id}",
        )
    report["rolled_back"] = True
    report["restored"] = {"plan": plan.id, "isolation": source.isolation.value}
    _record(context, report)


def _fail(context: StepContext, tenant: Tenant, reason: str) -> None:
    lifecycle = context.services.lifecycle
    if "fail" in lifecycle.allowed_actions(tenant.state):
        lifecycle.apply(context.session, tenant, "fail", actor=context.actor, reason=reason[:500])


def _record(context: StepContext, report: dict[str, Any]) -> None:
    """The rollback's outcome and the window's bounds, as the failed step's output."""
    failed = [s for s in context.run().steps if s.status is StepStatus.FAILED]
    if failed:
        failed[-1].output = {"rollback": report}
    context.session.flush()


ISOLATION_MIGRATION = Definition(
    kind=KIND,
    steps=(
        Step("vend_account", vend_account),
        Step("provision_target", provision_target),
        Step("copy_data", copy_data),
        Step("verify", verify),
        Step("switch_routing", switch_routing),
        Step("cleanup_source", cleanup_source),
        Step("activate", activate),
    ),
    on_failure=roll_back,
)
