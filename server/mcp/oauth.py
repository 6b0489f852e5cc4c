"""OAuth 2.1 access tokens (JWTs) for the HTTP transports: Paybill as a resource server.

A token is accepted only when its signature verifies with a key the issuer publishes (JWKS,
fetched once and cached; an unknown ``kid`` refetches it, at most every
``oauth_jwks_refresh_seconds``, so rotation works and random kids cannot hammer the
issuer), with an allowed asymmetric algorithm, the configured ``iss``, this server's
resource URL in ``aud``, and ``exp``/``nbf`` within the leeway. Every refusal names its
reason (``details.reason``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import httpx2
import jwt
from mcp.server.auth.provider import AccessToken

from paybill.server.core.errors import Unauthenticated
from paybill.server.core.settings import Settings

DISCOVERY = ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration")
# A JWT has three dot-separated base64url parts; API keys start with "pb_".
JWT_SHAPE = 3


class TokenRefused(Exception):
    """A token not accepted, and why (``reason``: expired, wrong_audience... docs/oauth.md)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message

    def error(self) -> Unauthenticated:
        return Unauthenticated(self.message, reason=self.reason)


@dataclass(frozen=True)
class VerifiedToken:
    claims: dict[str, Any]
    scopes: tuple[str, ...]


def looks_like_jwt(token: str) -> bool:
    return len(token.split(".")) == JWT_SHAPE and not token.startswith("pb_")


class JwtVerifier:
    """Verifies access tokens for one resource (``audience``). Also the MCP SDK's
    ``TokenVerifier`` (``verify_token``), for code built on the SDK's auth settings."""

    def __init__(self, settings: Settings, audience: str) -> None:
        if settings.oauth_issuer is None:
            raise ValueError("OAuth needs PAYBILL_OAUTH_ISSUER")
        self.issuer = settings.oauth_issuer
        self.audience = audience
        self.algorithms = list(settings.oauth_algorithms)
        self.leeway = settings.oauth_leeway_seconds
        self.required_scopes = list(settings.oauth_required_scopes)
        self._jwks_url = settings.oauth_jwks_url
        self._refresh_seconds = settings.oauth_jwks_refresh_seconds
        self._client: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def verify(self, token: str) -> VerifiedToken:
        """Raises: TokenRefused (why, for the 401 or 403)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise TokenRefused("malformed", "The bearer token is not a JWT.") from None
        algorithm = header.get("alg")
        if algorithm not in self.algorithms:
            raise TokenRefused(
                "algorithm_not_allowed",
                f"Tokens signed with {algorithm!r} are not accepted; allowed: "
                f"{', '.join(self.algorithms)}.",
            )
        key = self._signing_key(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRefused("expired", "The token has expired; get a new one.") from None
        except jwt.ImmatureSignatureError:
            raise TokenRefused("not_yet_valid", "The token is not valid yet (nbf).") from None
        except jwt.InvalidAudienceError:
            raise TokenRefused(
                "wrong_audience",
                f"The token was not issued for this server: its aud must be {self.audience}.",
            ) from None
        except jwt.InvalidIssuerError:
            raise TokenRefused(
                "wrong_issuer", f"The token was not issued by {self.issuer}."
            ) from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenRefused("malformed", f"The token has no {exc.claim!r} claim.") from None
        except jwt.InvalidSignatureError:
            raise TokenRefused("bad_signature", "The token's signature does not verify.") from None
        except jwt.InvalidTokenError:
            raise TokenRefused("malformed", "The token cannot be verified.") from None
        scopes = tuple(str(claims.get("scope", "")).split())
        missing = [s for s in self.required_scopes if s not in scopes]
        if missing:
            raise TokenRefused(
                "insufficient_scope", f"The token lacks the scope(s) {', '.join(missing)}."
            )
        return VerifiedToken(claims, scopes)

    async def verify_token(self, token: str) -> AccessToken | None:
        """The SDK's ``TokenVerifier``: None for any refusal (the SDK keeps no reason)."""
        try:
            verified = self.verify(token)
        except TokenRefused:
            return None
        return AccessToken(
            token=token,
            client_id=str(verified.claims.get("sub", "")),
            scopes=list(verified.scopes),
            expires_at=int(verified.claims["exp"]),
            resource=self.audience,
            subject=verified.claims.get("sub"),
            claims=verified.claims,
        )

    def _signing_key(self, token: str) -> Any:
        try:
            return self._jwks().get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError:
            raise TokenRefused(
                "issuer_unreachable", "The issuer's signing keys cannot be fetched right now."
            ) from None
        except (jwt.PyJWKClientError, jwt.DecodeError):
            raise TokenRefused(
                "unknown_key", "The token names no signing key the issuer publishes (kid)."
            ) from None

    def _jwks(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._client is None:
                url = self._jwks_url or _discover_jwks(self.issuer)
                self._client = jwt.PyJWKClient(
                    url,
                    cache_keys=True,
                    lifespan=300,
                    timeout=5,
                    cooldown_duration=self._refresh_seconds,
                )
            return self._client


def _discover_jwks(issuer: str) -> str:
    """The jwks_uri of the issuer's metadata (RFC 8414, then OpenID Connect Discovery)."""
    for suffix in DISCOVERY:
        try:
            answer = httpx2.get(issuer.rstrip("/") + suffix, timeout=5)
            uri = answer.json().get("jwks_uri") if answer.status_code == 200 else None
        except (httpx2.HTTPError, ValueError):
            continue
        if isinstance(uri, str) and uri.startswith(("https://", "http://")):
            return uri
    raise TokenRefused(
        "issuer_unreachable",
        "The issuer's metadata (and with it its signing keys) cannot be fetched; set "
        "PAYBILL_OAUTH_JWKS_URL or check PAYBILL_OAUTH_ISSUER.",
    )
