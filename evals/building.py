"""Small builders for transcript lines, shared by the scenario and attack generators."""

from __future__ import annotations

from typing import Any

Line = dict[str, Any]

PLATFORM = [
    {"name": "admin", "role": "platform_admin"},
    {"name": "ops", "role": "operator"},
    {"name": "boss", "role": "approver"},
    {"name": "billing", "role": "billing_agent"},
]
TENANT_ROLES = [
    {"name": "acme-admin", "role": "tenant_admin", "tenant": "acme"},
    {"name": "acme-bot", "role": "tenant_agent", "tenant": "acme"},
    {"name": "globex-admin", "role": "tenant_admin", "tenant": "globex"},
    {"name": "globex-bot", "role": "tenant_agent", "tenant": "globex"},
]
CUSTOMERS = [
    {"name": "Ada Lovelace", "country": "GB"},
    {"name": "Grace Hopper", "country": "US"},
    {"name": "Alan Turing", "country": "GB"},
]
TICKET = {
    "customer_id": 1,
    "subject": "Invoice question",
    "body": "Why was I charged twice?",
    "status": "open",
    "priority": "normal",
}


def standard_tenants(**overrides: Any) -> list[Line]:
    """acme on free (pooled) and globex on pro (onboarded on free: pooled storage, so it
    runs on SQLite), each with customers and a ticket."""
    acme = {
        "slug": "acme",
        "name": "Acme Corp",
        "plan": "free",
        "rows": {"customers": CUSTOMERS, "support_tickets": [TICKET]},
    }
    globex = {
        "slug": "globex",
        "name": "Globex",
        "plan": "pro",
        "onboard_plan": "free",
        "rows": {"customers": CUSTOMERS[:2]},
    }
    acme.update(overrides.get("acme", {}))
    globex.update(overrides.get("globex", {}))
    return [acme, globex]


def header(
    scenario: str,
    description: str,
    principal: str = "ops",
    role: str = "operator",
    *,
    tenant: str | None = "acme",
    tenants: list[Line] | None = None,
    principals: list[Line] | None = None,
    **extra: Any,
) -> Line:
    return {
        "scenario": scenario,
        "description": description,
        "principal": principal,
        "role": role,
        "tenant": tenant,
        "seed": {
            "principals": PLATFORM + TENANT_ROLES if principals is None else principals,
            "tenants": standard_tenants() if tenants is None else tenants,
        },
        **extra,
    }


def ok(tool: str, arguments: Line | None = None, *, as_: str | None = None, **kw: Any) -> Line:
    """A step expected to succeed; ``match`` and ``capture`` pass through."""
    line: Line = {"tool": tool, "arguments": arguments or {}}
    if as_:
        line["as"] = as_
    line["expect"] = {"is_error": False, **({"match": kw["match"]} if "match" in kw else {})}
    if "capture" in kw:
        line["capture"] = kw["capture"]
    if "note" in kw:
        line["note"] = kw["note"]
    return line


def err(
    tool: str,
    arguments: Line | None,
    code: str,
    *,
    as_: str | None = None,
    match: Line | None = None,
    capture: dict[str, str] | None = None,
    note: str | None = None,
) -> Line:
    """A step expected to be refused with ``code`` (and to change nothing)."""
    line: Line = {"tool": tool, "arguments": arguments or {}}
    if as_:
        line["as"] = as_
    line["expect"] = {"is_error": True, "code": code, **({"match": match} if match else {})}
    if capture:
        line["capture"] = capture
    if note:
        line["note"] = note
    return line


def wait(run: str = "${run}", status: str = "succeeded", as_: str | None = None) -> Line:
    """Follow a workflow run until it finishes (the worker runs it in the background)."""
    return ok(
        "get_workflow",
        {"workflow_id": run, "wait_seconds": 30},
        as_=as_,
        match={"id": run, "status": status},
    )
