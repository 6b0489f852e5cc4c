"""Approvals: pending first, one approval with its effect, and the decision form."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from paybill.server.console.gateway import ToolRefused
from paybill.server.console.sessions import Viewer
from paybill.server.console.web import (
    PageError,
    base,
    checked_form,
    console,
    field,
    render,
    require_viewer,
)

APPROVAL_ID = r"^[0-9a-f-]{36}$"


async def approvals(request: Request) -> Response:
    viewer = await require_viewer(request)
    gateway = console(request).gateway
    try:
        pending = await gateway.call(viewer.name, "list_approvals", status="pending", limit=200)
        recent = await gateway.call(viewer.name, "list_approvals", status=None, limit=50)
    except ToolRefused as refused:
        if refused.code != "DENIED":
            raise PageError.of(refused) from None
        # The landing page: a role that reads no approvals still gets the console's menu.
        return render(request, "approvals.html", viewer, pending=[], decided=[], refused=refused)
    pending_ids = {a["id"] for a in pending["approvals"]}
    decided = [a for a in recent["approvals"] if a["id"] not in pending_ids]
    return render(request, "approvals.html", viewer, pending=pending["approvals"], decided=decided)


def may_decide(viewer: Viewer, approval: dict[str, Any]) -> bool:
    """Whether to offer the form; the pipeline enforces the same (and more) anyway."""
    return (
        viewer.can_decide
        and approval.get("status") == "pending"
        and approval.get("requested_by") != viewer.name
    )


async def approval(request: Request) -> Response:
    viewer = await require_viewer(request)
    try:
        found = await console(request).gateway.call(
            viewer.name, "get_approval", approval_id=request.path_params["approval_id"]
        )
    except ToolRefused as refused:
        raise PageError.of(refused) from None
    item = found["approval"]
    return render(
        request,
        "approval.html",
        viewer,
        approval=item,
        decidable=may_decide(viewer, item),
        own=item.get("requested_by") == viewer.name,
        # The banner states the stored status; the query only says a decision just happened
        # (a crafted link cannot make a void approval read "approved").
        just=item.get("status") if "decided" in request.query_params else None,
    )


def _run_of(result: dict[str, Any] | None) -> str | None:
    """The workflow run an approved call started, if it names one."""
    if not isinstance(result, dict):
        return None
    workflow = result.get("workflow")
    run_id = workflow.get("id") if isinstance(workflow, dict) else None
    return run_id if isinstance(run_id, str) else None


async def decide(request: Request) -> Response:
    viewer, form = await checked_form(request)
    approval_id = request.path_params["approval_id"]
    decision = field(form, "decision")
    try:
        decided = await console(request).gateway.call(
            viewer.name,
            "decide_approval",
            approval_id=approval_id,
            decision=decision,
            reason=field(form, "comment"),
        )
    except ToolRefused as refused:
        raise PageError.of(refused) from None
    run_id = _run_of(decided.get("result"))
    if run_id is not None:
        return RedirectResponse(f"{base(request)}/runs/{run_id}", status_code=303)
    status = decided["approval"]["status"]
    return RedirectResponse(
        f"{base(request)}/approvals/{approval_id}?decided={status}", status_code=303
    )
