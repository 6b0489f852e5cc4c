"""How `paybill approvals` prints approvals and their effects, one printer per effect kind.

Effects hold tenant data (untrusted): every value is printed with control characters escaped,
so a stored value cannot drive the terminal. Unknown kinds and fields fall back to JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

Lines = list[str]
_CONTROL = {c: f"\\x{c:02x}" for c in [*range(32), *range(127, 160)]}
_KEEP_LAYOUT = {k: v for k, v in _CONTROL.items() if k not in (ord("\n"), ord("\t"))}


def clean(value: Any, *, multiline: bool = False) -> str:
    """``value`` as text a terminal prints literally (JSON for anything but a string)."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text.translate(_KEEP_LAYOUT if multiline else _CONTROL)


def tenant_line(approval: dict[str, Any]) -> str:
    tenant = (approval.get("effect") or {}).get("tenant")
    if isinstance(tenant, dict) and tenant.get("slug"):
        return clean(tenant["slug"])
    return clean(approval.get("tenant_id") or "-")


def summary_line(approval: dict[str, Any]) -> str:
    return clean((approval.get("effect") or {}).get("summary") or approval.get("tool", ""))


def render(approval: dict[str, Any]) -> Lines:
    """The whole approval, as `paybill approvals show` prints it."""
    lines = [
        f"Approval {clean(approval['id'])} [{clean(approval['status'])}]",
        f"  tool:         {clean(approval['tool'])}",
        f"  tenant:       {_tenant_facts(approval)}",
        f"  requested by: {clean(approval['requested_by'])} at {clean(approval['created_at'])}",
        f"  expires:      {clean(approval['expires_at'])}",
    ]
    if approval.get("decided_by") or approval.get("decided_at"):
        by = clean(approval.get("decided_by") or "(the server)")
        lines.append(f"  decided by:   {by} at {clean(approval.get('decided_at') or '-')}")
    if approval.get("reason"):
        lines.append(f"  reason:       {clean(approval['reason'])}")
    effect = approval.get("effect")
    if not isinstance(effect, dict):
        lines += ["", "No effect recorded (an approval older than effect binding)."]
        return lines
    lines += [
        "",
        f"Effect: {clean(effect.get('kind'))} (sha256 {clean(approval.get('effect_hash'))})",
        f"  {clean(effect.get('summary', ''))}",
    ]
    details = effect.get("details") or {}
    printer = PRINTERS.get(str(effect.get("kind")), _generic)
    lines += ["  " + line if line else "" for line in printer(details)]
    return lines


def _tenant_facts(approval: dict[str, Any]) -> str:
    tenant = (approval.get("effect") or {}).get("tenant")
    if not isinstance(tenant, dict):
        return tenant_line(approval)
    facts = ", ".join(
        f"{key} {clean(tenant[key])}" for key in ("state", "plan", "isolation") if key in tenant
    )
    return f"{clean(tenant.get('slug', '-'))} ({facts})" if facts else tenant_line(approval)


def _generic(details: dict[str, Any]) -> Lines:
    text = json.dumps(details, indent=2, sort_keys=True, default=str)
    return ["details:", *("  " + clean(line) for line in text.splitlines())]


def _sql_write(d: dict[str, Any]) -> Lines:
    lines = [f"{clean(d.get('operation', 'write'))} on table {clean(d.get('table', '?'))}"]
    lines += [
        "statement:",
        *("  " + s for s in clean(d.get("statement", ""), multiline=True).splitlines()),
    ]
    if d.get("params"):
        lines.append(f"params: {clean(d['params'])}")
    if "rows" in d:
        lines.append(f"rows affected: {clean(d['rows'])}")
    keys = d.get("keys")
    if isinstance(keys, dict):
        columns = keys.get("columns") or []
        lines.append(f"key sample ({', '.join(clean(c) for c in columns)}):")
        for row in keys.get("sample") or []:
            values = [row.get(c) for c in columns] if isinstance(row, dict) else row
            lines.append("  " + ", ".join(clean(v) for v in values))
        if keys.get("more"):
            lines.append(f"  ... and {clean(keys['more'])} more")
    return lines + _rest(d, {"operation", "table", "statement", "params", "rows", "keys"})


_SYMBOLS = {
    ("create",): "+",
    ("update",): "~",
    ("delete",): "-",
    ("delete", "create"): "-/+",
    ("create", "delete"): "+/-",
    ("read",): "<=",
    ("no-op",): " ",
}


def _resource(resource: dict[str, Any]) -> Lines:
    actions = tuple(resource.get("actions") or ())
    symbol = _SYMBOLS.get(actions, "?")
    kind = f" ({clean(resource['type'])})" if resource.get("type") else ""
    lines = [f"{symbol} {clean(resource.get('address', '?'))}{kind}"]
    for change in resource.get("changed") or []:
        attribute = clean(change.get("attribute", "?"))
        before, after = clean(change.get("before")), clean(change.get("after"))
        lines.append(f"    {attribute}: {before} -> {after}")
    return lines


def _terraform(plan: dict[str, Any]) -> Lines:
    counts = plan.get("counts") or {}
    lines = [
        f"terraform plan {clean(plan.get('plan_sha256', '?'))}: "
        f"{clean(counts.get('add', 0))} to add, {clean(counts.get('change', 0))} to change, "
        f"{clean(counts.get('destroy', 0))} to destroy"
    ]
    for resource in plan.get("resources") or []:
        lines += ["  " + line for line in _resource(resource)]
    return lines


def _isolation_move(d: dict[str, Any]) -> Lines:
    plan = d.get("plan") or {}
    lines = [
        f"plan: {clean(plan.get('from', '?'))} -> {clean(plan.get('to', '?'))}",
        f"data: {clean(d.get('source', '?'))} -> {clean(d.get('target', '?'))}",
    ]
    tables = d.get("tables") or {}
    if tables:
        lines.append("tables copied:")
        for name, facts in sorted(tables.items()):
            facts = facts if isinstance(facts, dict) else {}
            digest = clean(facts.get("sha256", ""))[:12]
            lines.append(
                f"  {clean(name)}: {clean(facts.get('rows', '?'))} rows (sha256 {digest}...)"
            )
    if "total_rows" in d:
        lines.append(f"total rows: {clean(d['total_rows'])}")
    if "max_read_only_seconds" in d:
        lines.append(f"read-only for at most {clean(d['max_read_only_seconds'])} s")
    terraform = d.get("terraform")
    lines += _terraform(terraform) if isinstance(terraform, dict) else ["terraform: none"]
    keys = {
        "plan",
        "source",
        "target",
        "tables",
        "total_rows",
        "max_read_only_seconds",
        "terraform",
    }
    return lines + _rest(d, keys)


def _offboarding(d: dict[str, Any]) -> Lines:
    lines = []
    revoke = d.get("revoke_principals")
    if revoke is not None:
        lines.append(f"revoke principals: {', '.join(clean(p) for p in revoke) or 'none'}")
    export = d.get("export")
    if isinstance(export, dict):
        lines.append(f"export tables: {', '.join(clean(t) for t in export.get('tables') or [])}")
    if "archive" in d:
        lines.append(f"archive: {clean(d['archive'])}")
    deletion = d.get("deletion")
    if isinstance(deletion, dict):
        lines.append(
            f"deletion: after {clean(deletion.get('retention_days', '?'))} days "
            f"(not before {clean(deletion.get('after', '?'))})"
        )
    return lines + _rest(d, {"revoke_principals", "export", "archive", "deletion"})


def _call(d: dict[str, Any]) -> Lines:
    text = json.dumps(d.get("arguments", {}), indent=2, sort_keys=True, default=str)
    lines = [f"call: {clean(d.get('tool', '?'))}", "arguments:"]
    return (
        lines + ["  " + clean(line) for line in text.splitlines()] + _rest(d, {"tool", "arguments"})
    )


def _rest(d: dict[str, Any], shown: set[str]) -> Lines:
    """Fields this printer does not know yet, so nothing of the effect goes unseen."""
    rest = {k: v for k, v in d.items() if k not in shown}
    return _generic(rest) if rest else []


PRINTERS: dict[str, Callable[[dict[str, Any]], Lines]] = {
    "sql_write": _sql_write,
    "isolation_move": _isolation_move,
    "offboarding": _offboarding,
    "call": _call,
}


def result_summary(tool: str, result: dict[str, Any] | None) -> Lines:
    """What the approved call did, in a line or two: the run to follow, rows written."""
    if not result:
        return []
    lines: Lines = []
    run = result.get("workflow")
    if isinstance(run, dict) and run.get("id"):
        lines.append(
            f"Run {clean(run['id'])} is {clean(run.get('status', '?'))}: follow it with "
            f"get_workflow (workflow_id {clean(run['id'])})."
        )
    tenant = result.get("tenant")
    if isinstance(tenant, dict) and tenant.get("slug"):
        lines.append(f"Tenant {clean(tenant['slug'])} is {clean(tenant.get('state', '?'))}.")
    for key in ("rows_affected", "rows_updated", "rows_deleted", "rows_inserted"):
        if result.get(key) is not None:
            lines.append(f"{key.replace('_', ' ')}: {clean(result[key])}")
    return lines or [f"{clean(tool)} returned: {clean(result)[:500]}"]
