"""Read-only pages: tenants (list, detail with usage and runs) and workflow runs."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from paybill.server.console.gateway import ToolRefused
from paybill.server.console.web import PageError, base, console, render, require_viewer

FINISHED = ("succeeded", "failed", "compensated")


async def home(request: Request) -> Response:
    await require_viewer(request)
    return RedirectResponse(f"{base(request)}/approvals", status_code=303)


async def tenants(request: Request) -> Response:
    viewer = await require_viewer(request)
    try:
        listed = await console(request).gateway.call(viewer.name, "list_tenants", limit=100)
    except ToolRefused as refused:
        raise PageError.of(refused) from None
    return render(request, "tenants.html", viewer, tenants=listed["tenants"])


async def tenant(request: Request) -> Response:
    viewer = await require_viewer(request)
    slug = request.path_params["slug"]
    gateway = console(request).gateway
    try:
        found = await gateway.call(viewer.name, "get_tenant", tenant=slug)
    except ToolRefused as refused:
        raise PageError.of(refused) from None
    usage, usage_refused = await gateway.attempt(viewer.name, "get_usage", tenant=slug)
    runs, _ = await gateway.attempt(viewer.name, "list_workflows", tenant=slug, limit=20)
    return render(
        request,
        "tenant.html",
        viewer,
        tenant=found,
        usage=usage,
        usage_refused=usage_refused,
        runs=(runs or {}).get("workflows", []),
    )


async def runs(request: Request) -> Response:
    viewer = await require_viewer(request)
    try:
        listed = await console(request).gateway.call(viewer.name, "list_workflows", limit=100)
    except ToolRefused as refused:
        raise PageError.of(refused) from None
    return render(request, "runs.html", viewer, runs=listed["workflows"])


def _is_plan(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    counts = value.get("counts")
    summary = isinstance(counts, dict) and {"add", "change", "destroy"} <= counts.keys()
    return summary or isinstance(value.get("plan_sha256"), str)


def terraform_summaries(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Terraform plans the run's steps recorded: any object in a step's output shaped like
    a plan summary (``counts`` of add, change and destroy; ``resources``) or naming the
    saved plan it applied (``plan_sha256``), at its top level or one key down
    (``{"terraform": {...}}``). Terraform's outputs are not one."""
    found: list[dict[str, Any]] = []
    for step in run.get("steps", []):
        output = step.get("output")
        if not isinstance(output, dict):
            continue
        candidates = [output, *output.values()]
        found.extend({"step": step.get("name"), **c} for c in candidates if _is_plan(c))
    return found


async def run(request: Request) -> Response:
    viewer = await require_viewer(request)
    try:
        found = await console(request).gateway.call(
            viewer.name, "get_workflow", workflow_id=request.path_params["run_id"]
        )
    except ToolRefused as refused:
        raise PageError.of(refused) from None
    steps = found.get("steps", [])
    done = sum(1 for s in steps if s.get("status") in ("succeeded", "skipped"))
    return render(
        request,
        "run.html",
        viewer,
        run=found,
        done=done,
        finished=found.get("status") in FINISHED,
        terraform=terraform_summaries(found),
    )
