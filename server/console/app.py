"""The console's Starlette app: routes, templates, static files, error pages, headers."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp

from paybill.server.console import admin, approvals, login, pages
from paybill.server.console.gateway import Gateway
from paybill.server.console.refusals import ConsoleRefusals
from paybill.server.console.security import HostCheck, SecurityHeaders
from paybill.server.console.sessions import SessionCodec
from paybill.server.console.web import Console, LoginRequired, PageError, base, render
from paybill.server.domain.shared_rates import alongside
from paybill.server.guards.pipeline import Pipeline

HERE = Path(__file__).parent
log = logging.getLogger("paybill.console")


def templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every value is escaped; tenant text is data, never markup
        undefined=jinja2.ChainableUndefined,  # a missing effect field renders empty
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return Jinja2Templates(env=env)


ROUTES = [
    Route("/", pages.home, name="home"),
    Route("/login", login.login_form, methods=["GET"]),
    Route("/login", login.login, methods=["POST"]),
    Route("/logout", login.logout, methods=["POST"]),
    Route("/tenants", pages.tenants),
    Route("/tenants/{slug}", pages.tenant),
    Route("/runs", pages.runs),
    Route("/runs/{run_id}", pages.run),
    Route("/approvals", approvals.approvals),
    Route("/approvals/{approval_id}", approvals.approval, methods=["GET"]),
    Route("/approvals/{approval_id}/decide", approvals.decide, methods=["POST"]),
    Route("/audit", admin.audit),
    Route("/principals", admin.principals),
    Route("/principals/{name}/disable", admin.disable, methods=["POST"]),
    Route("/principals/{name}/rotate", admin.rotate, methods=["POST"]),
    Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
]


async def _page_error(request: Request, exc: Exception) -> Response:
    error = exc if isinstance(exc, PageError) else PageError(500, "INTERNAL", str(exc))
    return render(request, "error.html", None, error.status, error=error)


async def _login_required(request: Request, exc: Exception) -> Response:
    return RedirectResponse(f"{base(request)}/login", status_code=303)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        error = PageError(404, "NOT_FOUND", "No such page. Use the menu to find your way.")
    elif status == 405:
        error = PageError(405, "INVALID_INPUT", "That page does not take this kind of request.")
    else:
        error = PageError(status, "INVALID_INPUT", "The request could not be read.")
    return render(request, "error.html", None, status, error=error)


async def _internal(request: Request, exc: Exception) -> Response:
    reference = uuid.uuid4().hex[:12]
    log.error("console error (reference %s)", reference, exc_info=exc)
    error = PageError(
        500,
        "INTERNAL",
        f"Something went wrong on the server (reference {reference}); nothing more is shown "
        "here. Try again, or give an operator the reference.",
    )
    return render(request, "error.html", None, 500, error=error)


def console_app(
    pipeline: Pipeline,
    *,
    allowed_hosts: list[str] | None,
    codec: SessionCodec | None = None,
) -> ASGIApp:
    """The console over ``pipeline``'s services.

    ``allowed_hosts``: the Host values it answers (``security.console_hosts``); None accepts
    any (a proxy in front checks it).

    Raises: InvalidInput when the session key file cannot be created or read.
    """
    services = pipeline.services
    settings = services.settings
    parts = Console(
        services=services,
        gateway=Gateway(pipeline),
        codec=codec or SessionCodec.from_settings(settings),
        templates=templates(),
        refusals=ConsoleRefusals(services.db, services.audit),
        # Shared by the replicas where the call rates are: it bounds key guessing per client.
        login_limiter=alongside(
            services.rate_limiter, settings.console_login_per_minute, "console-login"
        ),
        allowed_hosts=allowed_hosts,
        secure_cookie=settings.console_secure_cookie,
    )
    app = Starlette(
        routes=ROUTES,
        exception_handlers={
            PageError: _page_error,
            LoginRequired: _login_required,
            HTTPException: _http_error,
            Exception: _internal,
        },
    )
    app.state.console = parts
    return SecurityHeaders(HostCheck(app, allowed_hosts))
