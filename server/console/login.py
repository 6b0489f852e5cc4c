"""Log in with a principal's API key, log out."""

from __future__ import annotations

import anyio
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from paybill.server.console.security import same_origin
from paybill.server.console.sessions import COOKIE, LOGIN_COOKIE, LOGIN_SECONDS, end_sessions
from paybill.server.console.web import (
    PageError,
    base,
    checked_form,
    client,
    console,
    current_viewer,
    field,
    render,
)
from paybill.server.core.errors import PaybillError, Unauthenticated
from paybill.server.domain.principals import authenticate
from paybill.server.domain.principals import parse_key_prefix as key_prefix

REFUSED = "The API key is missing, invalid or revoked. Check it and try again."


def _cookie_path(request: Request) -> str:
    return base(request) or "/"


def _secure(request: Request) -> bool:
    return console(request).secure_cookie or request.url.scheme == "https"


def _login_page(request: Request, status: int = 200, error: str | None = None) -> Response:
    cookie, nonce = console(request).codec.login_token()
    response = render(request, "login.html", None, status, login_csrf=nonce, error=error)
    response.set_cookie(
        LOGIN_COOKIE,
        cookie,
        max_age=LOGIN_SECONDS,
        path=_cookie_path(request),
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )
    return response


async def login_form(request: Request) -> Response:
    if await current_viewer(request) is not None:
        return RedirectResponse(f"{base(request)}/approvals", status_code=303)
    return _login_page(request)


async def login(request: Request) -> Response:
    parts = console(request)
    form = await request.form()
    key = field(form, "api_key")
    where = client(request)
    if not same_origin(request, parts.allowed_hosts) or not parts.codec.login_ok(
        request.cookies.get(LOGIN_COOKIE), field(form, "csrf")
    ):
        message = "The login form's security token is missing or wrong; reload and try again."
        await anyio.to_thread.run_sync(
            lambda: parts.refusals.record(where, request.url.path, "DENIED", message)
        )
        raise PageError(403, "DENIED", message)
    try:
        # A store statement when the buckets are shared: off the event loop.
        await anyio.to_thread.run_sync(parts.login_limiter.take, where)
    except PaybillError as limited:
        raise PageError(429, limited.code, limited.message) from None

    def check() -> str | None:
        try:
            with parts.services.db.session() as session:
                return authenticate(session, key).name
        except Unauthenticated:
            return None

    name = await anyio.to_thread.run_sync(check)
    if name is None:
        await anyio.to_thread.run_sync(
            lambda: parts.refusals.record(
                where, request.url.path, "UNAUTHENTICATED", "Console login refused.", key=key
            )
        )
        return _login_page(request, 401, REFUSED)
    token, _data = parts.codec.issue(name, key_prefix(key))
    response = RedirectResponse(f"{base(request)}/approvals", status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=parts.codec.max_age,
        path=_cookie_path(request),
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )
    response.delete_cookie(LOGIN_COOKIE, path=_cookie_path(request))
    return response


async def logout(request: Request) -> Response:
    viewer, _form = await checked_form(request)
    services = console(request).services

    def end() -> None:
        with services.db.session() as session:
            end_sessions(session, viewer.name)

    # Server-side: a copy of the cookie no longer works either (sessions are stateless).
    await anyio.to_thread.run_sync(end)
    response = RedirectResponse(f"{base(request)}/login", status_code=303)
    response.delete_cookie(COOKIE, path=_cookie_path(request), httponly=True, samesite="strict")
    return response
