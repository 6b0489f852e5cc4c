"""Who may call what, written out by hand from the role design (ARCHITECTURE.md section 7),
not derived from policies/acl_policy.csv, so a policy edit that widens access fails the
tests that use it (the policy table, the tool lists)."""

from __future__ import annotations

from paybill.tools import all_tools

READ = {"list_plans", "get_tenant", "list_tenants", "get_workflow", "list_workflows"}
# Console-only principal management: platform_admin alone.
PRINCIPALS = {"list_principals", "disable_principal", "rotate_principal_key"}
DATA_READ = {"describe_schema", "query_table", "get_usage"}
DATA_WRITE = {"insert_rows", "update_rows", "delete_rows"}
ALLOWED = {
    "admin": {t.name for t in all_tools()},
    "ops": {t.name for t in all_tools()}
    - {"decide_approval", "break_workflow_lock", "set_billing_state"}
    - DATA_WRITE
    - PRINCIPALS,
    "boss": READ | {"list_approvals", "get_approval", "decide_approval", "get_audit_log"},
    "billing": READ | {"suspend_tenant", "resume_tenant", "get_usage", "set_billing_state"},
    # Tenant-scoped principals are bound to acme; acme's free plan lacks audit.export and
    # data.sql, so get_audit_log and run_sql are refused by entitlement.
    "acme-admin": READ
    | DATA_READ
    | DATA_WRITE
    | {"change_plan", "offboard_tenant", "list_approvals", "get_approval"},
    "acme-bot": READ | DATA_READ,
}
