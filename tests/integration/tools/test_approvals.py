"""Approval flow: destructive calls wait; approval runs them; a changed tenant voids it."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, update

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.core.vocabulary import Role
from paybill.server.domain.principals import add_principal
from paybill.server.store import Approval, AuditEvent, Principal
from tests.support.served import Served

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
    assert decided["result"]["tenant"]["state"] == "offboarding"
    run_id = decided["result"]["workflow"]["id"]
    assert decided["result"]["workflow"]["status"] == "pending"
    assert served.drain() == 1
    assert served.ok("ops", "get_tenant", tenant="acme")["state"] == "archived"
    steps = served.ok("ops", "get_workflow", workflow_id=run_id)["steps"]
    assert [(s["name"], s["status"], s["attempts"]) for s in steps] == [
        ("revoke_access", "succeeded", 1),
        ("export_data", "succeeded", 1),
        ("archive_infrastructure", "succeeded", 1),
        ("archived", "succeeded", 1),
        ("schedule_deletion", "succeeded", 1),
    ]
    assert steps[0]["output"] == {"disabled_principals": ["acme-admin", "acme-bot"]}
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
    served.ok("ops", "change_plan", tenant="acme", plan="pro", migrate_isolation=False)
    served.drain()
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
    refused = served.error(
        "ops", "offboard_tenant", tenant="acme", confirm_slug="acme-corp", reason="typo"
    )
    assert refused["code"] == "INVALID_INPUT"
    assert "confirm_slug" in refused["message"]
    assert served.ok("boss", "list_approvals")["approvals"] == []  # nothing to approve
    assert served.ok("ops", "get_tenant", tenant="acme")["state"] == "active"


def test_offboarding_is_refused_in_the_wrong_state(served: Served) -> None:
    approval_id = served.error("ops", "offboard_tenant", **OFFBOARD)["details"]["approval_id"]
    served.ok("boss", "decide_approval", approval_id=approval_id, decision="approve", reason="fine")
    again = served.error("ops", "offboard_tenant", **OFFBOARD)
    assert again["code"] == "INVALID_TRANSITION"
    assert again["details"]["state"] == "offboarding"
    served.drain()
    assert served.error("ops", "offboard_tenant", **OFFBOARD)["details"]["state"] == "archived"


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_racing_decisions_cannot_both_win(served: Served) -> None:
    with served.services.db.session() as session:
        add_principal(session, "boss2", Role.APPROVER)
    approval_id = served.error("ops", "offboard_tenant", **OFFBOARD)["details"]["approval_id"]
    barrier = threading.Barrier(2)
    outcomes: dict[str, dict] = {}

    def decide(principal: str, decision: str) -> None:
        barrier.wait(timeout=10)
        outcomes[principal] = served.call(
            principal,
            "decide_approval",
            approval_id=approval_id,
            decision=decision,
            reason="racing",
        ).payload

    threads = [
        threading.Thread(target=decide, args=("boss", "reject")),
        threading.Thread(target=decide, args=("boss2", "approve")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    codes = sorted(o.get("error", {}).get("code", "ok") for o in outcomes.values())
    assert codes == ["CONFLICT", "ok"]
    served.drain()
    final = served.ok("boss", "list_approvals", status=None)["approvals"][0]["status"]
    state = served.ok("ops", "get_tenant", tenant="acme")["state"]
    assert (final, state) in {("rejected", "active"), ("executed", "archived")}


def test_failed_offboarding_is_reported_not_hidden(served: Served) -> None:
    class Failing:
        name = "failing"

        def archive(self, tenant: object, progress: object = None) -> dict:
            raise ProvisioningFailed("the archive volume is full.")

    served.services.provisioner = Failing()  # type: ignore[assignment]
    approval_id = served.error("ops", "offboard_tenant", **OFFBOARD)["details"]["approval_id"]
    decided = served.ok(
        "boss", "decide_approval", approval_id=approval_id, decision="approve", reason="go on"
    )
    served.drain()
    run = served.ok("ops", "get_workflow", workflow_id=decided["result"]["workflow"]["id"])
    assert run["status"] == "failed"
    assert run["error"]["code"] == "PROVISIONING_FAILED"
    assert "archive volume is full" in run["error"]["message"]
    statuses = [s["status"] for s in run["steps"]]
    assert statuses == ["succeeded", "succeeded", "failed", "pending", "pending"]
    assert served.ok("ops", "get_tenant", tenant="acme")["state"] == "offboarding"


def _approval(served: Served, approval_id: str) -> Approval:
    with served.services.db.session() as session:
        found = session.get(Approval, approval_id)
        assert found is not None
        return found


def _last_refusal(served: Served) -> AuditEvent:
    with served.services.db.session() as session:
        return session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()


def test_a_disabled_requester_voids_the_approval_with_a_clear_refusal(served: Served) -> None:
    approval_id = served.error("ops", "offboard_tenant", **OFFBOARD)["details"]["approval_id"]
    with served.services.db.session() as session:
        session.execute(update(Principal).where(Principal.name == "ops").values(disabled=True))
    void = served.error(
        "boss", "decide_approval", approval_id=approval_id, decision="approve", reason="late"
    )
    assert void["code"] == "CONFLICT"  # not UNAUTHENTICATED: the approver is authenticated
    assert "disabled" in (_last_refusal(served).detail or "")
    assert void["details"] == {"approval_id": approval_id, "reason": "requester_disabled"}
    assert "requester 'ops' is disabled" in void["message"]
    assert "void" in void["message"] and "Nothing ran" in void["message"]
    approval = _approval(served, approval_id)
    assert (approval.status, approval.reason) == ("void", "the requester ops is disabled")
    assert served.ok("admin", "get_tenant", tenant="acme")["state"] == "active"


def test_tampered_arguments_void_the_approval_as_tampering(served: Served) -> None:
    approval_id = served.error("ops", "offboard_tenant", **OFFBOARD)["details"]["approval_id"]
    with served.services.db.session() as session:
        session.execute(
            update(Approval)
            .where(Approval.id == approval_id)
            .values(arguments={**OFFBOARD, "reason": "rewritten in the database"})
        )
    void = served.error(
        "boss", "decide_approval", approval_id=approval_id, decision="approve", reason="looks ok"
    )
    assert void["code"] == "CONFLICT"
    assert void["details"] == {"approval_id": approval_id, "reason": "arguments_tampered"}
    assert "no longer match the hash" in void["message"]
    assert "tampering" in void["message"]
    assert "tenant changed" not in void["message"]
    refusal = _last_refusal(served)
    assert (refusal.tool, refusal.rule) == ("decide_approval", "execute:CONFLICT")
    assert "tampering" in (refusal.detail or "")
    approval = _approval(served, approval_id)
    assert approval.status == "void"
    assert approval.reason == "tampered: the stored arguments no longer match their hash"
    assert served.ok("ops", "get_tenant", tenant="acme")["state"] == "active"


def test_a_tampered_tool_is_tampering_too(served: Served) -> None:
    approval_id = served.error("ops", "offboard_tenant", **OFFBOARD)["details"]["approval_id"]
    with served.services.db.session() as session:
        session.execute(
            update(Approval).where(Approval.id == approval_id).values(tool="resume_tenant")
        )
    void = served.error(
        "boss", "decide_approval", approval_id=approval_id, decision="approve", reason="looks ok"
    )
    assert void["details"]["reason"] == "arguments_tampered"


def test_racing_identical_requests_share_one_pending_approval(served: Served) -> None:
    """50 callers at once, two principals: one pending approval per requester, every loser
    names its requester's; once one executes, nothing of that effect is left pending."""
    with served.services.db.session() as session:
        add_principal(session, "ops2", Role.OPERATOR)
    callers = 50
    # Deriving the offboarding effect counts the tenant's rows, in one of its data slots:
    # room for every racer, so the race is about the approval, not the tenant's slots.
    served.services.tenant_slots.limit = callers
    barrier = threading.Barrier(callers)
    answers: list[tuple[str, dict]] = []

    def request(n: int) -> None:
        barrier.wait(timeout=30)
        principal = "ops" if n % 2 else "ops2"
        answers.append((principal, served.call(principal, "offboard_tenant", **OFFBOARD).payload))

    threads = [threading.Thread(target=request, args=(n,)) for n in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(answers) == callers
    codes = {a["error"]["code"] for _, a in answers}
    assert codes == {"APPROVAL_REQUIRED"}, [a["error"] for _, a in answers if "error" in a]
    by_requester = {
        who: {a["error"]["details"]["approval_id"] for p, a in answers if p == who}
        for who in ("ops", "ops2")
    }
    assert [len(ids) for ids in by_requester.values()] == [1, 1]
    ids = by_requester["ops"] | by_requester["ops2"]
    assert len(ids) == 2  # another requester's approval is never shared (four-eyes)
    pending = served.ok("boss", "list_approvals")["approvals"]
    assert sorted(p["id"] for p in pending) == sorted(ids)

    decided = served.ok(
        "boss",
        "decide_approval",
        approval_id=by_requester["ops"].pop(),
        decision="approve",
        reason="once",
    )
    assert decided["approval"]["status"] == "executed"
    assert served.ok("boss", "list_approvals")["approvals"] == []
    other = served.ok("boss", "list_approvals", status="void")["approvals"]
    assert [a["id"] for a in other] == list(by_requester["ops2"])
    assert "executed as approval" in other[0]["reason"]
