"""Id-taking tools are no oracle: a record the caller may not see (another tenant's, or one
of a kind its roles show nowhere) gets the same NOT_FOUND as an id that does not exist; a
record it may see but not act on gets the ACL's DENIED."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from paybill.server.store import Tenant, WorkflowRun
from tests.support.served import Served

UNKNOWN = "unknown"
# (principal, tool, whose record: acme's, globex's or an unknown id, the answer)
TABLE = [
    ("acme-admin", "decide_approval", "globex", "NOT_FOUND"),
    ("acme-admin", "decide_approval", UNKNOWN, "NOT_FOUND"),
    ("acme-admin", "decide_approval", "acme", "DENIED"),  # it lists acme's approvals
    ("acme-bot", "decide_approval", "globex", "NOT_FOUND"),
    ("acme-bot", "decide_approval", UNKNOWN, "NOT_FOUND"),
    ("acme-bot", "decide_approval", "acme", "NOT_FOUND"),  # it sees no approvals at all
    ("billing", "decide_approval", "globex", "NOT_FOUND"),
    ("billing", "decide_approval", UNKNOWN, "NOT_FOUND"),
    ("boss", "decide_approval", UNKNOWN, "NOT_FOUND"),
    ("acme-bot", "get_workflow", "globex", "NOT_FOUND"),
    ("acme-bot", "get_workflow", UNKNOWN, "NOT_FOUND"),
    ("acme-bot", "get_workflow", "acme", "ok"),
    ("acme-admin", "retry_workflow", "globex", "NOT_FOUND"),
    ("acme-admin", "retry_workflow", UNKNOWN, "NOT_FOUND"),
    ("acme-admin", "retry_workflow", "acme", "DENIED"),  # it reads acme's runs
    ("acme-bot", "break_workflow_lock", "globex", "NOT_FOUND"),
    ("acme-bot", "break_workflow_lock", UNKNOWN, "NOT_FOUND"),
    ("billing", "retry_workflow", "globex", "DENIED"),  # it reads every run (get_workflow)
    ("billing", "retry_workflow", UNKNOWN, "NOT_FOUND"),
    ("ops", "break_workflow_lock", "globex", "DENIED"),
    ("ops", "break_workflow_lock", UNKNOWN, "NOT_FOUND"),
]
EXTRA = {
    "decide_approval": {"decision": "approve", "reason": "probing"},
    "break_workflow_lock": {"reason": "probing"},
}


def _ids(served: Served) -> dict[str, dict[str, str]]:
    approvals = {
        slug: served.error(
            "ops", "offboard_tenant", tenant=slug, confirm_slug=slug, reason="contract end"
        )["details"]["approval_id"]
        for slug in ("acme", "globex")
    }
    with served.services.db.session() as session:
        runs = {
            slug: session.scalars(
                select(WorkflowRun.id)
                .join(Tenant, Tenant.id == WorkflowRun.tenant_id)
                .where(Tenant.slug == slug)
            ).first()
            for slug in ("acme", "globex")
        }
    unknown = str(uuid.uuid4())
    return {
        "approval": {**approvals, UNKNOWN: unknown},
        "run": {**runs, UNKNOWN: unknown},
    }


def _arguments(tool: str, record: str) -> dict[str, Any]:
    key = "approval_id" if tool == "decide_approval" else "workflow_id"
    return {key: record, **EXTRA.get(tool, {})}


def test_an_id_the_caller_may_not_see_is_not_found(served: Served) -> None:
    ids = _ids(served)
    answers = []
    for principal, tool, whose, _ in TABLE:
        record = ids["approval" if tool == "decide_approval" else "run"][whose]
        outcome = served.call(principal, tool, **_arguments(tool, record))
        code = outcome.payload["error"]["code"] if outcome.is_error else "ok"
        answers.append((principal, tool, whose, code))
        if code == "NOT_FOUND":  # the same answer, word for word, as for an unknown id
            assert record in outcome.payload["error"]["message"]
    assert answers == TABLE


@pytest.mark.parametrize("tool", ["decide_approval", "get_workflow"])
def test_not_found_refusals_are_audited(served: Served, tool: str) -> None:
    ids = _ids(served)
    record = ids["approval" if tool == "decide_approval" else "run"]["globex"]
    served.error("acme-bot", tool, **_arguments(tool, record))
    events = served.ok("admin", "get_audit_log", limit=1)["events"]
    assert (events[0]["principal"], events[0]["tool"], events[0]["rule"]) == (
        "acme-bot",
        tool,
        "authorise:NOT_FOUND",
    )
