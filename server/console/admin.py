"""The audit log (filters, chain verification) and principals (disable, rotate a key)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from paybill.server.console.gateway import ToolRefused
from paybill.server.console.web import (
    PageError,
    base,
    checked_form,
    console,
    render,
    require_viewer,
)

FILTERS = ("tenant", "principal", "tool", "decision")
PAGE = 100  # audit events a page


async def audit(request: Request) -> Response:
    viewer = await require_viewer(request)
    filters = {k: v for k in FILTERS if (v := request.query_params.get(k, "").strip())}
    arguments: dict[str, Any] = {**filters, "limit": PAGE, "verify": viewer.platform}
    before = request.query_params.get("before_id")
    if before:
        arguments["before_id"] = before  # the tool validates it (a typed INVALID_INPUT)
    try:
        found = await console(request).gateway.call(viewer.name, "get_audit_log", **arguments)
    except ToolRefused as refused:
        raise PageError.of(refused) from None
    return render(
        request,
        "audit.html",
        viewer,
        events=found["events"],
        verification=found.get("verification"),
        filters=filters,
        older=found.get("next_before_id"),
    )


async def principals(request: Request) -> Response:
    viewer = await require_viewer(request)
    try:
        found = await console(request).gateway.call(viewer.name, "list_principals")
    except ToolRefused as refused:
        raise PageError.of(refused) from None
    return render(request, "principals.html", viewer, principals=found["principals"])


async def disable(request: Request) -> Response:
    viewer, _form = await checked_form(request)
    try:
        await console(request).gateway.call(
            viewer.name, "disable_principal", name=request.path_params["name"]
        )
    except ToolRefused as refused:
        raise PageError.of(refused) from None
    return RedirectResponse(f"{base(request)}/principals", status_code=303)


async def rotate(request: Request) -> Response:
    viewer, _form = await checked_form(request)
    try:
        rotated = await console(request).gateway.call(
            viewer.name, "rotate_principal_key", name=request.path_params["name"]
        )
    except ToolRefused as refused:
        raise PageError.of(refused) from None
    # Rendered in this response only (Cache-Control: no-store): never shown again.
    return render(
        request, "rotated.html", viewer, principal=rotated["principal"], key=rotated["api_key"]
    )
