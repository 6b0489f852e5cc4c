"""Signed console sessions and their CSRF tokens.

A session cookie holds the principal's name, the prefix of the API key it logged in with,
a per-session CSRF token and the time it was issued, signed with the console key (a file
created 0600 in the data directory, like the audit key). Nothing else is kept server-side:
a session is valid while its signature and age hold *and* its key is still active, so
revoking or rotating the key, or disabling the principal, ends it at the next request.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from paybill.server.core.settings import Settings
from paybill.server.core.vocabulary import Role
from paybill.server.domain.audit_key import ensure_key
from paybill.server.store import ApiKey, Principal
from paybill.server.store.base import utcnow

COOKIE = "paybill_console"
LOGIN_COOKIE = "paybill_console_login"  # the login form's CSRF token, before any session
LOGIN_SECONDS = 600


@dataclass(frozen=True)
class SessionData:
    principal: str
    key_prefix: str
    csrf: str
    issued_at: float = 0.0  # seconds since the epoch, to the microsecond


@dataclass(frozen=True)
class Viewer:
    """The logged-in principal as the console shows it (the pipeline checks it again)."""

    name: str
    role: Role
    tenant_id: str | None
    csrf: str

    @property
    def can_decide(self) -> bool:
        return self.role in (Role.APPROVER, Role.PLATFORM_ADMIN)

    @property
    def platform(self) -> bool:
        return not self.role.tenant_scoped


class SessionCodec:
    """Signs and reads session and login cookies."""

    def __init__(self, secret: bytes, max_age: int) -> None:
        self.max_age = max_age
        self._session = URLSafeTimedSerializer(secret, salt="paybill-console-session")
        self._login = URLSafeTimedSerializer(secret, salt="paybill-console-login")

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionCodec:
        """Raises: InvalidInput when the key file cannot be created or read."""
        key, _created = ensure_key(settings.console_secret_path)
        return cls(key.secret, settings.console_session_seconds)

    def issue(self, principal: str, key_prefix: str) -> tuple[str, SessionData]:
        data = SessionData(principal, key_prefix, secrets.token_urlsafe(32), time.time())
        token = self._session.dumps(
            {"p": principal, "k": key_prefix, "c": data.csrf, "i": data.issued_at}
        )
        return token, data

    def read(self, token: str | None) -> SessionData | None:
        """The session a cookie holds; None when missing, forged or expired."""
        if not token:
            return None
        try:
            raw = self._session.loads(token, max_age=self.max_age)
        except BadSignature:  # also SignatureExpired
            return None
        if not isinstance(raw, dict) or not all(isinstance(raw.get(k), str) for k in "pkc"):
            return None
        issued = raw.get("i")
        if not isinstance(issued, float | int) or isinstance(issued, bool):
            return None
        return SessionData(raw["p"], raw["k"], raw["c"], float(issued))

    def login_token(self) -> tuple[str, str]:
        """(cookie value, form value) for the login form's CSRF check."""
        nonce = secrets.token_urlsafe(32)
        return self._login.dumps(nonce), nonce

    def login_ok(self, cookie: str | None, form: str) -> bool:
        if not cookie or not form:
            return False
        try:
            nonce = self._login.loads(cookie, max_age=LOGIN_SECONDS)
        except BadSignature:
            return False
        return isinstance(nonce, str) and hmac.compare_digest(nonce, form)


def csrf_ok(session: SessionData, form_token: str) -> bool:
    return bool(form_token) and hmac.compare_digest(session.csrf, form_token)


def viewer_of(db_session: Session, data: SessionData) -> Viewer | None:
    """The session's principal while the key it logged in with is active; None otherwise
    (the key was revoked or rotated, the principal disabled or renamed, or it logged out
    since)."""
    key = db_session.scalar(select(ApiKey).where(ApiKey.prefix == data.key_prefix))
    if key is None or key.revoked_at is not None:
        return None
    principal = key.principal
    if principal.disabled or principal.name != data.principal:
        return None
    ended = principal.sessions_valid_after
    if ended is not None and data.issued_at <= ended.timestamp():
        return None  # logged out since this session was issued
    return Viewer(principal.name, principal.role, principal.tenant_id, data.csrf)


def end_sessions(db_session: Session, principal: str) -> None:
    """Log ``principal`` out of every console session issued until now."""
    found = db_session.scalar(select(Principal).where(Principal.name == principal))
    if found is not None:
        found.sessions_valid_after = utcnow()
