"""Who is calling over HTTP: ``Authorization: Bearer`` with an API key or, when an issuer is
configured, an OAuth access token (``oauth``). Anything else is refused: 401 (or 403 for a
token that cannot do what it claims), typed, with ``WWW-Authenticate`` naming the protected
resource metadata, and audited."""

from __future__ import annotations

import logging

import anyio
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from starlette.types import ASGIApp, Receive, Scope, Send

from paybill.server.core.errors import (
    Denied,
    InternalError,
    PaybillError,
    Unauthenticated,
    Unavailable,
)
from paybill.server.core.settings import Settings
from paybill.server.domain.principals import authenticated_name
from paybill.server.domain.token_principals import principal_for_token
from paybill.server.mcp.http_audit import RefusalRecorder, refusal_entry
from paybill.server.mcp.json_response import send_json
from paybill.server.mcp.oauth import JwtVerifier, TokenRefused, looks_like_jwt
from paybill.server.store.database import Database
from paybill.server.store.outage import unavailable

log = logging.getLogger("paybill.http")
FORBIDDEN_REASONS = {"insufficient_scope"}


class BearerAuth:
    """Refuses any HTTP request without a valid bearer credential.

    The authenticated principal is handed to the SDK as the request's user, so tools read it
    with ``get_access_token()`` and a session stays bound to the principal that opened it.
    """

    def __init__(
        self,
        app: ASGIApp,
        db: Database,
        refusals: RefusalRecorder,
        settings: Settings,
        verifier: JwtVerifier | None = None,
        resource_metadata_url: str | None = None,
    ) -> None:
        self.app = AuthContextMiddleware(app)
        self.db, self.refusals, self.settings = db, refusals, settings
        self.verifier = verifier
        self.metadata_url = resource_metadata_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        credential = header[7:].strip() if header.lower().startswith("bearer ") else ""
        try:
            if not credential:
                raise Unauthenticated(self._how_to_authenticate(), reason="no_credential")
            principal = await anyio.to_thread.run_sync(self._principal_for, credential)
        except (Unauthenticated, Denied) as refused:
            client = str((scope.get("client") or ("unknown", 0))[0])
            entry = refusal_entry(client, str(scope.get("path", "")), credential, refused)
            await anyio.to_thread.run_sync(self.refusals.record_entry, client, entry)
            await self._refuse(send, refused, has_credential=bool(credential))
            return
        except Exception as exc:
            # Never the server's bare 500: the store is down (503, retry) or something broke.
            log.exception("authenticating an HTTP request failed")
            await _failed(send, unavailable(exc) or InternalError())
            return
        # The token field carries a public prefix only, never the secret.
        token = AccessToken(token=credential[:15], client_id=principal, scopes=[])
        scope["user"] = AuthenticatedUser(token)
        await self.app(scope, receive, send)

    def _principal_for(self, credential: str) -> str:
        """Raises: Unauthenticated or Denied (with ``details.reason``)."""
        if self.verifier is not None and looks_like_jwt(credential):
            try:
                verified = self.verifier.verify(credential)
            except TokenRefused as refused:
                if refused.reason in FORBIDDEN_REASONS:
                    raise Denied(refused.message, reason=refused.reason) from None
                raise refused.error() from None
            with self.db.session() as session:
                return principal_for_token(session, verified.claims, self.settings)
        with self.db.engine.begin() as connection:
            return authenticated_name(connection, credential)

    def _how_to_authenticate(self) -> str:
        if self.verifier is None:
            return (
                "Send 'Authorization: Bearer <api key>'; create a key with `paybill principal add`."
            )
        return (
            "Send 'Authorization: Bearer <access token>' from the issuer named in the "
            "resource metadata, or an API key (`paybill principal add`)."
        )

    async def _refuse(self, send: Send, error: PaybillError, has_credential: bool) -> None:
        """RFC 6750 §3: ``error`` only when a credential was sent; RFC 9728 §5.1: where the
        resource metadata is."""
        forbidden = isinstance(error, Denied)
        parts = ['realm="paybill"']
        if has_credential:
            code = "insufficient_scope" if forbidden else "invalid_token"
            description = error.message.replace('"', "'")[:300]
            parts += [f'error="{code}"', f'error_description="{description}"']
        if self.metadata_url is not None:
            parts.append(f'resource_metadata="{self.metadata_url}"')
        challenge = ("Bearer " + ", ".join(parts)).encode("latin-1", "replace")
        await _answer(send, 403 if forbidden else 401, error, [(b"www-authenticate", challenge)])


async def _failed(send: Send, error: PaybillError) -> None:
    """503 with ``Retry-After`` while the store is unreachable; 500 for anything else."""
    if isinstance(error, Unavailable):
        retry = str(error.details["retry_after_seconds"]).encode()
        await _answer(send, 503, error, [(b"retry-after", retry)])
    else:
        await _answer(send, 500, error, [])


async def _answer(
    send: Send, status: int, error: PaybillError, headers: list[tuple[bytes, bytes]]
) -> None:
    await send_json(send, status, error.to_payload(), headers)
