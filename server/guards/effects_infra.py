"""The effects of an isolation move (``change_plan``) and of offboarding (``offboard_tenant``).

A move's effect is the data it copies (rows and canonical checksums per table, read now) and,
with ``PAYBILL_PROVISIONER=terraform``, the saved Terraform plan for the target facts: planned
and policy-checked before the approval is created, kept for the approval, and applied as is by
the migration run. A drift check re-reads the data, checks the kept file against its hash and
re-plans into a scratch file: any difference voids the approval and nothing runs. A move into
a silo account that does not exist yet creates nothing at approval time: the effect binds the
account to vend, the module and its inputs instead of a plan (``terraform.vend_first``), and
the drift check looks them up again.

Offboarding's effect is what the offboarding run does to this tenant: the principals it
disables, the rows it exports (counts per table), what archiving does with this provisioner,
and when deletion follows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from paybill.server.domain.billing_policy import load_billing_policy
from paybill.server.domain.effects import (
    ISOLATION_MOVE,
    OFFBOARDING,
    Effect,
    sealed_digest,
    tenant_facts,
)
from paybill.server.domain.tenants import get_plan
from paybill.server.executors.dataplane.checksums import gated_checksums
from paybill.server.executors.dataplane.metering import row_counts
from paybill.server.executors.provisioner import TenantFacts
from paybill.server.executors.terraform import vend_first
from paybill.server.executors.terraform.provisioner import TerraformProvisioner
from paybill.server.guards.approval import compared
from paybill.server.guards.call import Call
from paybill.server.store import Approval, Plan, Principal, Tenant
from paybill.server.workflows.engine.worker import tenant_facts as run_facts
from paybill.server.workflows.kinds import migration

TERRAFORM = "terraform"


def facts_after(tenant: Tenant, plan: Plan) -> TenantFacts:
    """The tenant's facts once ``plan`` and its isolation model apply."""
    return TenantFacts(
        id=tenant.id,
        slug=tenant.slug,
        plan=plan.id,
        tier=plan.tier,
        isolation=plan.isolation,
        cloud=tenant.cloud,
        region=tenant.region,
    )


def approved_plan(call: Call) -> dict[str, Any] | None:
    """What of Terraform the approval being executed binds, for the run: the saved plan
    (its file's name and hash) to apply, or (``vend_first``) the account to vend, module and
    inputs to plan with once it exists; None when it binds neither."""
    if call.approval is None or call.approval.effect is None:
        return None
    plan = (call.approval.effect.get("details") or {}).get(TERRAFORM)
    if not isinstance(plan, dict):
        return None
    if isinstance(plan.get(vend_first.KEY), dict):
        return {vend_first.KEY: plan[vend_first.KEY]}
    if not plan.get("plan_file"):
        return None
    return {"plan_file": plan["plan_file"], "plan_sha256": plan["plan_sha256"]}


class IsolationMoveEffect:
    """``change_plan`` across isolation models (rule ``isolation_move``)."""

    def derive(self, call: Call, *, preview: bool) -> Effect:
        tenant, args = call.target(), call.arguments
        new = get_plan(call.session, args.plan)
        upgrade = new.tier > tenant.plan.tier
        settings = call.services.settings
        # Ends the store transaction first: none is held while the rows or Terraform run.
        checks = gated_checksums(
            call.services.engines, call.route(), settings.statement_timeout_ms, call.tenant_work
        )
        key = call.services.audit.key
        tables = {
            name: {"rows": c.rows, "sha256": sealed_digest(key, c.sha256)}
            for name, c in checks.items()
        }
        total = sum(c.rows for c in checks.values())
        facts = tenant_facts(tenant)
        terraform = None
        provisioner = call.services.provisioner
        # A downgrade moves at the period end, planned then: a plan saved now would be stale.
        if upgrade and isinstance(provisioner, TerraformProvisioner):
            terraform = provisioner.plan_saved(facts_after(tenant, new), keep=not preview).summary
        holding = sum(1 for c in checks.values() if c.rows)
        summary = (
            f"Move {tenant.slug} from {tenant.isolation.value} to {new.isolation.value} "
            f"({_count(total, 'row')} in {_count(holding, 'table')}), plan {tenant.plan_id} → "
            f"{new.id}"
        )
        if not upgrade:
            summary += ", at the end of the billing period"
        if terraform is not None and terraform.get(vend_first.KEY):
            account = terraform[vend_first.KEY]["account"]
            name = account.get("account_name") or account.get("project_id")
            summary += (
                f"; Terraform: planned after approval, once the {tenant.cloud.value} account "
                f"{name} is created"
            )
        elif terraform is not None:
            counts = terraform["counts"]
            summary += (
                f"; Terraform: {counts['add']} to add, {counts['change']} to change, "
                f"{counts['destroy']} to destroy"
            )
        details: dict[str, Any] = {
            "plan": {"from": tenant.plan_id, "to": new.id},
            "source": tenant.isolation.value,
            "target": new.isolation.value,
            "when": "now" if upgrade else "period_end",
            "tables": tables,
            "total_rows": total,
            "max_read_only_seconds": migration.MAX_READ_ONLY_SECONDS,
            "steps": [step.name for step in migration.ISOLATION_MIGRATION.steps],
            TERRAFORM: terraform,
        }
        return Effect(kind=ISOLATION_MOVE, summary=summary, tenant=facts, details=details)

    def drift(self, call: Call, approval: Approval) -> str | None:
        approved = ((approval.effect or {}).get("details") or {}).get(TERRAFORM)
        why = self._plan_file_problem(call, approved)
        if why is None:
            why = self._compared(call, approval, approved)
        if why is not None:
            self._discard(call, approved)
        return why

    def _plan_file_problem(self, call: Call, approved: Any) -> str | None:
        if not isinstance(approved, dict) or not approved.get("plan_file"):
            return None
        provisioner = call.services.provisioner
        if not isinstance(provisioner, TerraformProvisioner):
            return (
                "the approved Terraform plan cannot run: the server no longer provisions "
                "through Terraform"
            )
        facts = facts_after(call.target(), get_plan(call.session, call.arguments.plan))
        return provisioner.saved_plan_problem(facts, approved["plan_file"], approved["plan_sha256"])

    def _compared(self, call: Call, approval: Approval, approved: Any) -> str | None:
        now = self.derive(call, preview=True)
        planned = now.details.get(TERRAFORM)
        if isinstance(approved, dict) and isinstance(planned, dict):
            # A fresh plan file never hashes like the kept one (Terraform stamps each plan):
            # the kept file was checked against its own hash above; compare what it does.
            same_file = {k: approved.get(k) for k in ("plan_sha256", "plan_file")}
            now = Effect(
                kind=now.kind,
                summary=now.summary,
                tenant=now.tenant,
                details={**now.details, TERRAFORM: {**planned, **same_file}},
            )
            if {**planned, **same_file} != approved:
                return (
                    "the infrastructure drifted: a fresh Terraform plan no longer matches the "
                    "approved one"
                )
        return compared(approval, now)

    def _discard(self, call: Call, approved: Any) -> None:
        """The voided approval's plan file will never be applied: remove it now."""
        provisioner = call.services.provisioner
        if (
            isinstance(approved, dict)
            and approved.get("plan_file")
            and isinstance(provisioner, TerraformProvisioner)
            and call.tenant is not None
        ):
            facts = facts_after(call.tenant, get_plan(call.session, call.arguments.plan))
            provisioner.discard_saved(facts, approved["plan_file"])


def _archive(call: Call, tenant: Tenant) -> dict[str, Any]:
    """What the archive step does for this tenant's provisioner and cloud."""
    provisioner = call.services.provisioner
    if isinstance(provisioner, TerraformProvisioner):
        does = provisioner.archive_does(run_facts(tenant))
    else:  # the local provisioner's objects, whatever the tenant's cloud
        does = "makes the tenant's database objects read-only; the data is kept"
    return {"provisioner": provisioner.name, "cloud": tenant.cloud.value, "does": does}


class OffboardingEffect:
    """``offboard_tenant`` (rule ``always``).

    Bound: the principals that lose access, the row count of every table the export writes,
    what archiving does and the retention. A write between request and decision changes the
    counts and voids the approval: the approver approved archiving (and, after the retention,
    deleting) the data as it was then. Counts, not checksums: an edit that keeps every count
    does not void it (the export is taken and verified by the run whatever the values are)."""

    def derive(self, call: Call, *, preview: bool) -> Effect:
        tenant = call.target()
        settings = call.services.settings
        rows = row_counts(
            call.services.engines, call.route(), settings.statement_timeout_ms, call.tenant_work
        )
        names = sorted(
            call.session.scalars(select(Principal.name).where(Principal.tenant_id == tenant.id))
        )
        retention = load_billing_policy(settings.policies_dir).retention_days
        archive = _archive(call, tenant)
        total = sum(rows.values())
        summary = (
            f"Offboard {tenant.slug}: revoke {_count(len(names), 'principal')}, export "
            f"{_count(total, 'row')} in {_count(sum(1 for n in rows.values() if n), 'table')}, "
            f"archive read-only, delete {retention} days after it is archived"
        )
        details = {
            "revoke_principals": names,
            "export": {"tables": rows, "total_rows": total},
            "archive": archive,
            "deletion": {"retention_days": retention, "after": "archived"},
        }
        return Effect(
            kind=OFFBOARDING, summary=summary, tenant=tenant_facts(tenant), details=details
        )

    def drift(self, call: Call, approval: Approval) -> str | None:
        return compared(approval, self.derive(call, preview=False))


ISOLATION_MOVE_EFFECT = IsolationMoveEffect()
OFFBOARDING_EFFECT = OffboardingEffect()


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"
