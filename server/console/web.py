"""What every console route shares: the console's parts, the logged-in viewer, checked
forms, rendering and the typed errors pages show."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from paybill.server.console.gateway import Gateway, ToolRefused
from paybill.server.console.refusals import ConsoleRefusals
from paybill.server.console.security import same_origin
from paybill.server.console.sessions import COOKIE, SessionCodec, Viewer, csrf_ok, viewer_of
from paybill.server.core.ratelimit import Limiter
from paybill.server.workflows.engine.services import Services

# HTTP status of a page showing a tool's typed error.
STATUS = {
    "UNAUTHENTICATED": 401,
    "DENIED": 403,
    "NOT_FOUND": 404,
    "INVALID_INPUT": 400,
    "INVALID_TRANSITION": 409,
    "CONFLICT": 409,
    "APPROVAL_REQUIRED": 409,
    "QUOTA_EXCEEDED": 429,
    "BILLING_BLOCKED": 402,
    "UNAVAILABLE": 503,
}


@dataclass(frozen=True)
class Console:
    services: Services
    gateway: Gateway
    codec: SessionCodec
    templates: Jinja2Templates
    refusals: ConsoleRefusals
    login_limiter: Limiter
    allowed_hosts: list[str] | None  # None: any Host (behind a proxy that checks it)
    secure_cookie: bool


class PageError(Exception):
    """A typed error shown as a page: code, a message that says what to do, HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    @classmethod
    def of(cls, refused: ToolRefused) -> PageError:
        return cls(STATUS.get(refused.code, 500), refused.code, refused.message)


class LoginRequired(Exception):
    """No valid session on a page: the browser is sent to the login form."""


def console(request: Request) -> Console:
    found: Console = request.app.state.console
    return found


def base(request: Request) -> str:
    """The mount path ('' standalone, '/console' beside the MCP server)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def current_viewer(request: Request) -> Viewer | None:
    parts = console(request)
    data = parts.codec.read(request.cookies.get(COOKIE))
    if data is None:
        return None

    def look() -> Viewer | None:
        with parts.services.db.session() as session:
            return viewer_of(session, data)

    return await anyio.to_thread.run_sync(look)


async def require_viewer(request: Request) -> Viewer:
    """Raises: LoginRequired."""
    viewer = await current_viewer(request)
    if viewer is None:
        raise LoginRequired()
    return viewer


async def checked_form(request: Request) -> tuple[Viewer, FormData]:
    """The viewer and the form of a POST that passed the Host/Origin, session and CSRF
    checks; a refusal is audited and shown as a typed error.

    Raises: PageError (403 for a forged form, 401 without a session).
    """
    parts = console(request)
    form = await request.form()
    viewer = await current_viewer(request)
    token = form.get("csrf")
    path = request.url.path
    refusal: PageError | None = None
    if not same_origin(request, parts.allowed_hosts):
        refusal = PageError(403, "DENIED", "The form came from another site; nothing changed.")
    elif viewer is None:
        refusal = PageError(
            401, "UNAUTHENTICATED", "Your session has ended or is missing; log in again."
        )
    elif not isinstance(token, str) or not csrf_ok_for(parts, request, token):
        refusal = PageError(
            403,
            "DENIED",
            "The form's security token is missing or wrong (a forged or stale form); nothing "
            "changed. Reload the page and submit it again.",
        )
    if refusal is not None or viewer is None:
        refusal = refusal or PageError(401, "UNAUTHENTICATED", "Log in again.")
        name = viewer.name if viewer else None
        await anyio.to_thread.run_sync(
            lambda: parts.refusals.record(
                client(request), path, refusal.code, refusal.message, principal=name
            )
        )
        raise refusal
    return viewer, form


def csrf_ok_for(parts: Console, request: Request, token: str) -> bool:
    data = parts.codec.read(request.cookies.get(COOKIE))
    return data is not None and csrf_ok(data, token)


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def render(
    request: Request,
    template: str,
    viewer: Viewer | None,
    status: int = 200,
    **context: Any,
) -> Response:
    parts = console(request)
    return parts.templates.TemplateResponse(
        request,
        template,
        {"base": base(request), "viewer": viewer, **context},
        status_code=status,
    )
