"""Billing admission: calls that start billed work need a subscription in good standing
(not past_due or canceled). A tool names its gate in ``ToolSpec.billing_gate``."""

from __future__ import annotations

from paybill.server.domain.billing import require_good_standing
from paybill.server.guards.call import Call
from paybill.server.store import Plan

# Provisioning and upgrades need a subscription in good standing, retried or not.
BILLED_KINDS = ("provision", "plan_change", "isolation_migration")


def upgrade(call: Call) -> str | None:
    """A change to a plan of a higher tier (``arguments.plan``); an unknown plan is the
    handler's NOT_FOUND, not a billing matter."""
    new = call.session.get(Plan, call.arguments.plan)
    if new is not None and new.tier > call.target().plan.tier:
        return "upgrade"
    return None


def billed_retry(call: Call) -> str | None:
    """A retry of a billed kind of run; the retry guard has admitted the run before."""
    if call.retry is None:
        raise RuntimeError(f"{call.spec.name}: the billing gate for retries needs the retry guard")
    kind = call.retry.run.kind
    return f"retry the {kind} run of" if kind in BILLED_KINDS else None


def check_billing(call: Call) -> None:
    """Raises: BillingBlocked when the call needs admission and the subscription is
    past_due or canceled."""
    gate = call.spec.billing_gate
    if gate is None:
        return
    what = gate(call)
    if what is not None:
        require_good_standing(call.target(), what)
