"""The tenant workflows: provisioning, plan changes and offboarding.

The tool that starts a run applies the first lifecycle transition itself (so the request and
the state change commit together, and the state machine refuses a second request); the steps
here do the rest. Infrastructure steps call the provisioner, which converges, so a resumed
run changes nothing that is already in place.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from paybill.server.domain.billing_policy import load_billing_policy
from paybill.server.executors.dataplane.export import ExportCorrupt, export_tenant, verify_export
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.store import Principal, WorkflowRun
from paybill.server.workflows.engine.definitions import Definition, Step, StepContext
from paybill.server.workflows.engine.runs import enqueue

EXPORTS = "exports"  # the data directory's folder of offboarding exports


def _transition(action: str, reason: str) -> Any:
    def step(context: StepContext) -> dict[str, str]:
        tenant = context.tenant()
        lifecycle = context.services.lifecycle
        if tenant.state == lifecycle.definition.actions[action].to:
            # Applied before a crash whose step record did not commit: nothing to do.
            return {"from": tenant.state, "to": tenant.state}
        record = lifecycle.apply(
            context.session, tenant, action, actor=context.actor, reason=reason
        )
        return {"from": record.from_state, "to": record.to_state}

    return step


def _fail_tenant(context: StepContext, message: str) -> None:
    """A failed provisioning or update leaves the tenant ``failed``: retry or offboard it."""
    tenant = context.tenant()
    if "fail" in context.services.lifecycle.allowed_actions(tenant.state):
        context.services.lifecycle.apply(
            context.session, tenant, "fail", actor=context.actor, reason=message[:500]
        )


def provision_infrastructure(context: StepContext) -> dict[str, Any]:
    provisioner = context.services.provisioner
    return provisioner.provision(context.facts, progress=context.progress)


def archive_infrastructure(context: StepContext) -> dict[str, Any]:
    return context.services.provisioner.archive(context.facts, progress=context.progress)


def revoke_access(context: StepContext) -> dict[str, Any]:
    bound = context.session.scalars(
        select(Principal).where(Principal.tenant_id == context.tenant_id)
    ).all()
    for principal in bound:
        principal.disabled = True
    return {"disabled_principals": sorted(p.name for p in bound)}


PROVISION = Definition(
    kind="provision",
    steps=(
        Step("provision_infrastructure", provision_infrastructure),
        Step("activate", _transition("provisioned", "infrastructure ready")),
    ),
    on_failure=_fail_tenant,
)

# An upgrade: the plan is switched by change_plan; the infrastructure follows the new tier.
PLAN_CHANGE = Definition(
    kind="plan_change",
    steps=(
        Step("apply_infrastructure", provision_infrastructure),
        Step("activate", _transition("updated", "plan change applied")),
    ),
    on_failure=_fail_tenant,
)


def export_data(context: StepContext) -> dict[str, Any]:
    """Write the tenant's rows to a bundle and verify it: nothing is destroyed without it."""
    path = export_path(context)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    route = TenantRoute(context.tenant_id, context.facts.isolation)
    context.progress("export tenant data")
    export_tenant(context.services.engines, route, path)
    manifest = verify_export(path)
    return {
        "path": str(path.relative_to(context.services.settings.data_dir)),
        "format_version": manifest.format_version,
        "overall_sha256": manifest.overall_sha256,
        "tables": {name: entry.rows for name, entry in manifest.tables.items()},
    }


def export_path(context: StepContext) -> Path:
    return context.services.settings.data_dir / EXPORTS / context.tenant_id / "export.tar"


def _in_data_dir(context: StepContext, recorded: str) -> Path:
    """A path a run recorded, relative to the data directory (step outputs and run inputs
    are read by agents: they never carry a server path). Runs enqueued before this was so
    recorded absolute paths, which the join keeps as they are."""
    return context.services.settings.data_dir / recorded


def schedule_deletion(context: StepContext) -> dict[str, Any]:
    """After the retention period the tenant's infrastructure and data are destroyed."""
    retention = load_billing_policy(context.services.settings.policies_dir).retention_days
    when = context.services.clock() + timedelta(days=retention)
    existing = context.session.scalar(
        select(WorkflowRun).where(
            WorkflowRun.tenant_id == context.tenant_id, WorkflowRun.kind == "delete_tenant"
        )
    )
    if existing is None:  # a resumed step must not schedule a second deletion
        exported = next(s for s in context.run().steps if s.name == "export_data")
        output = exported.output or {}
        digest = output["overall_sha256"]
        existing = enqueue(
            context.session,
            context.tenant(),
            DELETE_TENANT,
            created_by=context.actor,
            # Deletion destroys data only if this very export is still there, unchanged.
            input={"export": output["path"], "overall_sha256": digest},
            not_before=when,
        )
    # A retried deletion run (retry_workflow) has no not_before: it runs when claimed.
    not_before = existing.not_before.isoformat() if existing.not_before else None
    return {"deletion_run": existing.id, "not_before": not_before}


def check_export(context: StepContext) -> dict[str, Any]:
    """Refuse to destroy anything unless the offboarding export is still there and intact."""
    manifest = verify_export(_in_data_dir(context, context.input["export"]))
    if manifest.overall_sha256 != context.input["overall_sha256"]:
        raise ExportCorrupt(
            "The export at the deletion's path is not the one offboarding verified (its "
            "manifest hash differs); nothing was destroyed. Restore the original export or "
            "investigate before retrying.",
            expected=context.input["overall_sha256"],
            found=manifest.overall_sha256,
        )
    return {"verified": True, "overall_sha256": manifest.overall_sha256}


def destroy_infrastructure(context: StepContext) -> dict[str, Any]:
    return context.services.provisioner.destroy(context.facts, progress=context.progress)


OFFBOARD = Definition(
    kind="offboard",
    steps=(
        Step("revoke_access", revoke_access),
        Step("export_data", export_data),
        Step("archive_infrastructure", archive_infrastructure),
        Step("archived", _transition("archive", "offboarded")),
        Step("schedule_deletion", schedule_deletion),
    ),
)

# Scheduled by offboarding for the end of the retention period.
DELETE_TENANT = Definition(
    kind="delete_tenant",
    steps=(
        Step("check_export", check_export),
        Step("destroy_infrastructure", destroy_infrastructure),
        Step("deleted", _transition("delete", "retention period over")),
    ),
)
