"""`paybill approvals ...` on a real store, through click's runner: every command is a tool
call through the guard pipeline, so refusals are typed, change nothing and are audited."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from click.testing import CliRunner, Result
from sqlalchemy import select, update

from paybill.server.cli.main import cli
from paybill.server.store import Approval, AuditEvent
from paybill.server.store.base import utcnow
from tests.support.served import Served

OFFBOARD = {"tenant": "acme", "confirm_slug": "acme", "reason": "contract ended"}


def paybill(served: Served, *args: str, principal: str | None = None) -> Result:
    env = served.env()
    env.pop("PAYBILL_PRINCIPAL", None)
    if principal is not None:
        env["PAYBILL_PRINCIPAL"] = principal
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def pending(served: Served, requester: str = "ops") -> str:
    refused = served.error(requester, "offboard_tenant", **OFFBOARD)
    assert refused["code"] == "APPROVAL_REQUIRED"
    return str(refused["details"]["approval_id"])


def status_of(served: Served, approval_id: str) -> str:
    with served.services.db.session() as session:
        return str(session.get_one(Approval, approval_id).status)


def last_event(served: Served) -> AuditEvent:
    with served.services.db.session() as session:
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert event is not None
        return event


def tenant_state(served: Served) -> Any:
    return served.ok("admin", "get_tenant", tenant="acme")["state"]


def test_list_and_show_print_the_pending_approval_and_its_effect(served: Served) -> None:
    approval_id = pending(served)
    listed = paybill(served, "approvals", "list", principal="boss")
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if line.startswith(approval_id))
    assert "pending" in row and "acme" in row and "ops" in row
    assert "offboard_tenant" in row  # the summary of the call's effect
    as_json = json.loads(paybill(served, "approvals", "list", "--json", principal="boss").output)
    assert [a["id"] for a in as_json["approvals"]] == [approval_id]
    none_rejected = paybill(served, "approvals", "list", "--status", "rejected", principal="boss")
    assert none_rejected.output.strip() == "No rejected approvals."

    shown = paybill(served, "approvals", "show", approval_id, "--principal", "boss")
    assert shown.exit_code == 0, shown.output
    text = shown.output
    assert f"Approval {approval_id} [pending]" in text
    assert "requested by: ops" in text
    assert "tenant:       acme (state active, plan free, isolation pooled)" in text
    assert "Effect: " in text and "sha256" in text
    assert '"confirm_slug": "acme"' in text or "offboard" in text
    assert last_event(served).tool == "get_approval"  # audited as the tool call it is


def test_approve_runs_the_call_and_prints_the_run_to_follow(served: Served) -> None:
    approval_id = pending(served)
    approved = paybill(
        served, "approvals", "approve", approval_id, "--comment", "contract over", principal="boss"
    )
    assert approved.exit_code == 0, approved.output
    assert f"Approval {approval_id} is executed (offboard_tenant)." in approved.output
    assert "Run " in approved.output and "get_workflow" in approved.output
    assert tenant_state(served) == "offboarding"
    with served.services.db.session() as session:
        approval = session.get_one(Approval, approval_id)
        assert (approval.decided_by, approval.reason) == ("boss", "contract over")


def test_reject_runs_nothing(served: Served) -> None:
    approval_id = pending(served)
    rejected = paybill(
        served, "approvals", "reject", approval_id, "--comment", "not yet", principal="boss"
    )
    assert rejected.exit_code == 0, rejected.output
    assert f"Approval {approval_id} is rejected" in rejected.output
    assert tenant_state(served) == "active"


def refused(served: Served, result: Result, code: str) -> None:
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith(f"refused: {code}: "), result.stderr
    assert "Traceback" not in result.output
    event = last_event(served)
    assert (event.decision, event.error_code) == ("denied", code)


def test_the_requester_cannot_approve_its_own_request(served: Served) -> None:
    approval_id = pending(served, requester="admin")
    result = paybill(
        served, "approvals", "approve", approval_id, "--comment", "mine", principal="admin"
    )
    refused(served, result, "DENIED")
    assert "someone other than its requester" in result.stderr
    assert last_event(served).principal == "admin"
    assert (status_of(served, approval_id), tenant_state(served)) == ("pending", "active")


def test_unknown_approval_is_not_found(served: Served) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    result = paybill(served, "approvals", "approve", missing, "--comment", "what", principal="boss")
    refused(served, result, "NOT_FOUND")
    shown = paybill(served, "approvals", "show", missing, principal="boss")
    refused(served, shown, "NOT_FOUND")


def test_deciding_twice_is_a_conflict_and_changes_nothing(served: Served) -> None:
    approval_id = pending(served)
    first = paybill(served, "approvals", "reject", approval_id, "--comment", "no", principal="boss")
    refused(served, first, "INVALID_INPUT")  # the tool's rule: a reason of 3 characters or more
    assert status_of(served, approval_id) == "pending"
    assert (
        paybill(
            served, "approvals", "reject", approval_id, "--comment", "not now", principal="boss"
        ).exit_code
        == 0
    )
    again = paybill(
        served,
        "approvals",
        "approve",
        approval_id,
        "--comment",
        "changed my mind",
        principal="boss",
    )
    refused(served, again, "CONFLICT")
    assert "already rejected" in again.stderr
    assert (status_of(served, approval_id), tenant_state(served)) == ("rejected", "active")


def test_an_expired_approval_is_refused_and_voided(served: Served) -> None:
    approval_id = pending(served)
    with served.services.db.session() as session:
        session.execute(
            update(Approval)
            .where(Approval.id == approval_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    result = paybill(
        served, "approvals", "approve", approval_id, "--comment", "too late", principal="boss"
    )
    refused(served, result, "CONFLICT")
    assert "expired" in result.stderr
    assert (status_of(served, approval_id), tenant_state(served)) == ("void", "active")


def test_a_dry_run_decision_of_an_expired_approval_changes_nothing(served: Served) -> None:
    approval_id = pending(served)
    with served.services.db.session() as session:
        session.execute(
            update(Approval)
            .where(Approval.id == approval_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    error = served.error(
        "boss",
        "decide_approval",
        approval_id=approval_id,
        decision="approve",
        reason="just looking",
        dry_run=True,
    )
    assert error["code"] == "CONFLICT" and "expired" in error["message"]
    assert status_of(served, approval_id) == "pending"  # a dry run voids nothing


def test_a_role_that_may_not_decide_is_refused(served: Served) -> None:
    approval_id = pending(served, requester="admin")
    as_operator = paybill(
        served, "approvals", "approve", approval_id, "--comment", "me too", principal="ops"
    )
    refused(served, as_operator, "DENIED")
    as_agent = paybill(
        served, "approvals", "approve", approval_id, "--comment", "me too", principal="acme-bot"
    )
    refused(served, as_agent, "NOT_FOUND")  # an approval it may not see does not exist for it
    unknown = paybill(served, "approvals", "list", principal="nobody")
    refused(served, unknown, "UNAUTHENTICATED")
    assert (status_of(served, approval_id), tenant_state(served)) == ("pending", "active")


def test_no_principal_is_a_usage_error(served: Served) -> None:
    result = paybill(served, "approvals", "list")
    assert result.exit_code == 2
    assert "--principal NAME or set PAYBILL_PRINCIPAL" in result.stderr
