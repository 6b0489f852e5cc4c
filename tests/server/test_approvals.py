"""Approval flow: destructive calls wait; approval runs them; a changed tenant voids it."""

from __future__ import annotations

from tests.server.conftest import Served

OFFBOARD = {"tenant": "acme", "confirm_slug": "acme", "reason": "contract ended"}


def test_offboarding_waits_for_approval_then_runs(served: Served) -> None:
    pending = served.error("ops", "offboard_tenant", **OFFBOARD)
    assert pending["code"] == "APPROVAL_REQUIRED"
    approval_id = pending["details"]["approval_id"]
    assert served.ok("ops", "get_tenant", tenant="acme")["state"] == "active"
    listed = served.ok("boss", "list_approvals")["approvals"]
    assert [(a["id"], a["tool"], a["status"]) for a in listed] == [
        (approval_id, "offboard_tenant", "pending")
    ]
    decided = served.ok(
        "boss", "decide_approval", approval_id=approval_id, decision="approve", reason="ok by me"
    )
    assert decided["approval"]["status"] == "executed"
    assert decided["result"]["tenant"]["state"] == "archived"
    steps = decided["result"]["workflow"]["steps"]
    assert [s["name"] for s in steps] == [
        "start",
        "revoke_access",
        "archive_infrastructure",
        "archived",
    ]
    assert steps[1]["output"] == {"disabled_principals": ["acme-admin", "acme-bot"]}
    assert served.error("acme-bot", "list_plans")["code"] == "UNAUTHENTICATED"
    again = served.error(
        "boss", "decide_approval", approval_id=approval_id, decision="approve", reason="twice"
    )
    assert again["code"] == "CONFLICT"


def test_same_request_reuses_the_pending_approval(served: Served) -> None:
    first = served.error("ops", "offboard_tenant", **OFFBOARD)["details"]["approval_id"]
    second = served.error("ops", "offboard_tenant", **OFFBOARD)["details"]["approval_id"]
    assert first == second


def test_changed_tenant_voids_the_approval(served: Served) -> None:
    approval_id = served.error("ops", "offboard_tenant", **OFFBOARD)["details"]["approval_id"]
    served.ok("ops", "change_plan", tenant="acme", plan="pro")
    void = served.error(
        "boss", "decide_approval", approval_id=approval_id, decision="approve", reason="late"
    )
    assert void["code"] == "CONFLICT"
    assert "void" in void["message"]
    assert served.ok("boss", "list_approvals", status="void")["approvals"][0]["id"] == approval_id
    assert served.ok("ops", "get_tenant", tenant="acme")["state"] == "active"


def test_rejection_runs_nothing(served: Served) -> None:
    approval_id = served.error("ops", "offboard_tenant", **OFFBOARD)["details"]["approval_id"]
    decided = served.ok(
        "boss", "decide_approval", approval_id=approval_id, decision="reject", reason="no way"
    )
    assert (decided["approval"]["status"], decided["result"]) == ("rejected", None)
    assert served.ok("ops", "get_tenant", tenant="acme")["state"] == "active"


def test_requester_cannot_approve_own_request(served: Served) -> None:
    approval_id = served.error("admin", "offboard_tenant", **OFFBOARD)["details"]["approval_id"]
    own = served.error(
        "admin", "decide_approval", approval_id=approval_id, decision="approve", reason="mine"
    )
    assert own["code"] == "DENIED"


def test_confirm_slug_must_match(served: Served) -> None:
    approval_id = served.error(
        "ops", "offboard_tenant", tenant="acme", confirm_slug="acme-corp", reason="typo"
    )["details"]["approval_id"]
    refused = served.error(
        "boss", "decide_approval", approval_id=approval_id, decision="approve", reason="ok"
    )
    assert refused["code"] == "INVALID_INPUT"
    assert served.ok("ops", "get_tenant", tenant="acme")["state"] == "active"


def test_offboarding_is_refused_in_the_wrong_state(served: Served) -> None:
    approval_id = served.error("ops", "offboard_tenant", **OFFBOARD)["details"]["approval_id"]
    served.ok("boss", "decide_approval", approval_id=approval_id, decision="approve", reason="fine")
    again = served.error("ops", "offboard_tenant", **OFFBOARD)
    assert again["code"] == "INVALID_TRANSITION"
    assert again["details"]["state"] == "archived"
