"""MCP tools: typed input and output models, one module per noun, run by the guard pipeline."""

from paybill.server.guards.spec import ToolSpec
from paybill.tools import (
    approvals,
    audit_log,
    billing,
    data,
    offboarding,
    plan_changes,
    plans,
    principals,
    rows,
    runs,
    tenants,
    usage,
    workflows,
)


def all_tools() -> list[ToolSpec]:
    """Every tool Paybill serves, in a stable order."""
    specs = [
        *plans.TOOLS,
        *tenants.TOOLS,
        *plan_changes.TOOLS,
        *billing.TOOLS,
        *offboarding.TOOLS,
        *workflows.TOOLS,
        *approvals.TOOLS,
        *audit_log.TOOLS,
        *data.TOOLS,
        *rows.TOOLS,
        *usage.TOOLS,
        *runs.TOOLS,
        *principals.TOOLS,
    ]
    names = [s.name for s in specs]
    if len(names) != len(set(names)):
        raise RuntimeError("tool names must be unique")
    return specs
