"""The lifecycle guard: a tool's lifecycle action, and data calls, only in states that allow
them (``policies/lifecycle.yaml`` for actions; the data states below for reads and writes)."""

from __future__ import annotations

from paybill.server.core.errors import InvalidTransition
from paybill.server.domain.suspensions import check_resume
from paybill.server.guards.call import Call
from paybill.server.guards.spec import DataMode

# States whose data is served: an updating tenant (a plan change or an isolation migration
# in flight) and an archived one are read-only; a suspended one serves nothing.
DATA_STATES: dict[DataMode, tuple[str, ...]] = {
    "read": ("active", "updating", "archived"),
    "write": ("active",),
}


def check_action(call: Call) -> None:
    """Raises: InvalidTransition when the tool's lifecycle action is illegal in the tenant's
    state (InvalidInput if the spec names no such action); Denied when the caller's role may
    not lift the tenant's suspension (an operator's suspension is not billing's to lift)."""
    action, tenant = call.spec.lifecycle_action, call.tenant
    if action and tenant is not None:
        call.services.lifecycle.target_state(tenant, action)
        if action == "resume":
            check_resume(call.session, tenant, call.caller.role)


def require_data_state(call: Call, mode: DataMode) -> None:
    """Raises: InvalidTransition when the tenant's state does not serve ``mode``."""
    tenant = call.target()
    if tenant.state not in DATA_STATES[mode]:
        raise InvalidTransition(
            tenant=tenant.slug,
            state=tenant.state,
            action=f"{mode} data",
            allowed=call.services.lifecycle.allowed_actions(tenant.state),
        )


def check_data_state(call: Call) -> None:
    """Raises: InvalidTransition for a data call the tenant's state does not serve."""
    mode = call.data_mode
    if mode is not None:
        require_data_state(call, mode)
