"""Paybill as an OAuth 2.1 resource server: JWT access tokens signed by a key the test owns,
its JWKS served on 127.0.0.1, checked against a running `paybill serve` with the official MCP
client and a plain HTTP client."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import jwt
import pytest
from mcp import Client
from mcp.client.auth.utils import extract_resource_metadata_from_www_auth
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import ProtectedResourceMetadata
from sqlalchemy import select

from paybill.server.mcp.http_audit import RefusalBudget
from paybill.server.store import AuditEvent, Principal
from tests.support.issuer import Issuer, new_key, running_issuer
from tests.support.served import Served
from tests.support.serving import INITIALIZE, paybill_http


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """Token checks are the HTTP layer's, the same on either store."""
    return str(request.param)


@dataclass
class Protected:
    base: str
    audience: str
    issuer: Issuer

    def token(self, **claims: Any) -> str:
        return self.issuer.token(self.audience, **claims)


def _serve(served: Served, **settings: str) -> Iterator[Protected]:
    with running_issuer() as issuer:
        env = {
            **served.env(),
            "PAYBILL_OAUTH_ISSUER": issuer.url,
            "PAYBILL_OAUTH_JWKS_REFRESH_SECONDS": "0",
            **settings,
        }
        with paybill_http(env, "streamable-http") as port:
            base = f"http://127.0.0.1:{port}"
            yield Protected(base, f"{base}/mcp", issuer)


@pytest.fixture
def protected(served: Served) -> Iterator[Protected]:
    yield from _serve(served)


def _post(protected: Protected, token: str | None) -> httpx2.Response:
    headers = {"Accept": "application/json, text/event-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx2.post(f"{protected.base}/mcp", json=INITIALIZE, headers=headers, timeout=30)


def _call(protected: Protected, token: str, tool: str, arguments: dict[str, Any]) -> Any:
    async def main() -> Any:
        client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"})
        async with Client(streamable_http_client(protected.audience, http_client=client)) as mcp:
            return await mcp.call_tool(tool, arguments)

    return asyncio.run(main())


def test_a_token_for_a_principal_works_with_the_official_client(
    served: Served, protected: Protected
) -> None:
    result = _call(protected, protected.token(sub="ops"), "get_tenant", {"tenant": "acme"})
    assert not result.is_error and result.structured_content["slug"] == "acme"
    # The call runs as that principal: its role's refusals apply.
    refused = _call(protected, protected.token(sub="acme-bot"), "get_tenant", {"tenant": "globex"})
    assert refused.is_error
    with served.services.db.session() as session:
        principals = session.scalars(
            select(AuditEvent.principal).where(AuditEvent.tool == "get_tenant")
        ).all()
    assert principals == ["ops", "acme-bot"]
    # API keys keep working beside tokens.
    assert _post(protected, served.keys["ops"]).status_code == 200


def _none_token(protected: Protected) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    claims = jwt.decode(protected.token(), options={"verify_signature": False})
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


REFUSED: dict[str, tuple[Any, int, str]] = {
    "expired": (lambda p: p.token(lifetime=-3600), 401, "expired"),
    "not yet valid": (lambda p: p.token(nbf=2_000_000_000), 401, "not_yet_valid"),
    "wrong audience": (
        lambda p: p.issuer.token("https://other.example/mcp"),
        401,
        "wrong_audience",
    ),
    "wrong issuer": (lambda p: p.token(iss="https://evil.example"), 401, "wrong_issuer"),
    "alg none": (_none_token, 401, "algorithm_not_allowed"),
    "HS256 with the public key's bytes": (
        lambda p: p.token(key="a-shared-secret-of-32-bytes-long!", algorithm="HS256"),
        401,
        "algorithm_not_allowed",
    ),
    "unknown kid": (lambda p: p.token(key=new_key(), kid="stranger"), 401, "unknown_key"),
    "known kid, other key": (lambda p: p.token(key=new_key()), 401, "bad_signature"),
    "no exp": (lambda p: p.token(exp=None), 401, "malformed"),
    "not a JWT": (lambda _p: "abc.def.ghi", 401, "malformed"),
    "unknown principal": (lambda p: p.token(sub="nobody"), 401, "unknown_principal"),
    "claims a wider role": (
        lambda p: p.token(sub="ops", paybill_role="platform_admin"),
        403,
        "claims_mismatch",
    ),
    "claims another tenant": (
        lambda p: p.token(sub="acme-bot", paybill_tenant="globex"),
        403,
        "claims_mismatch",
    ),
}


def test_bad_tokens_are_refused_with_their_reason(served: Served, protected: Protected) -> None:
    # One server for every case: each starts a process.
    for index, (case, (build, status, reason)) in enumerate(REFUSED.items()):
        token = build(protected)
        answer = _post(protected, token)
        assert answer.status_code == status, (case, answer.text)
        error = answer.json()["error"]
        assert error["code"] == ("DENIED" if status == 403 else "UNAUTHENTICATED"), case
        assert error["details"]["reason"] == reason, case
        challenge = answer.headers["www-authenticate"]
        assert ("insufficient_scope" if status == 403 else 'error="invalid_token"') in challenge
        assert extract_resource_metadata_from_www_auth(answer) == (
            f"{protected.base}/.well-known/oauth-protected-resource/mcp"
        ), case
        if index >= RefusalBudget().per_client:
            continue  # beyond a client's refusals on record a minute: counted, not recorded
        with served.services.db.session() as session:
            refusal = session.scalars(
                select(AuditEvent)
                .where(AuditEvent.tool == "<http>")
                .order_by(AuditEvent.id.desc())
                .limit(1)
            ).one()
        assert refusal.arguments["reason"] == reason, case
        assert token[:20] not in json.dumps(refusal.arguments), case  # a digest, never the token


def test_a_client_without_a_token_finds_the_issuer(protected: Protected) -> None:
    answer = _post(protected, None)
    assert answer.status_code == 401
    assert "error=" not in answer.headers["www-authenticate"]  # RFC 6750: no credential sent
    where = extract_resource_metadata_from_www_auth(answer)
    assert where is not None
    metadata = ProtectedResourceMetadata.model_validate(httpx2.get(where, timeout=10).json())
    assert str(metadata.resource) == protected.audience
    assert [str(s).rstrip("/") for s in metadata.authorization_servers] == [protected.issuer.url]


def test_rotated_keys_are_fetched_again(protected: Protected) -> None:
    assert _post(protected, protected.token()).status_code == 200
    fetched = protected.issuer.fetches
    protected.issuer.rotate()
    assert _post(protected, protected.token()).status_code == 200
    assert protected.issuer.fetches == fetched + 1


def test_required_scopes_are_enforced(served: Served) -> None:
    for protected in _serve(served, PAYBILL_OAUTH_REQUIRED_SCOPES='["paybill.admin"]'):
        lacking = _post(protected, protected.token(scope="paybill"))
        assert lacking.status_code == 403
        assert lacking.json()["error"]["details"]["reason"] == "insufficient_scope"
        assert _post(protected, protected.token(scope="paybill paybill.admin")).status_code == 200


def test_principals_are_created_from_tokens_only_when_configured(served: Served) -> None:
    claims = {"sub": "acme-agent-2", "paybill_role": "tenant_agent", "paybill_tenant": "acme"}
    for protected in _serve(served, PAYBILL_OAUTH_CREATE_PRINCIPALS="true"):
        result = _call(protected, protected.token(**claims), "get_tenant", {"tenant": "acme"})
        assert not result.is_error
        other = _call(protected, protected.token(**claims), "get_tenant", {"tenant": "globex"})
        assert other.is_error  # a tenant agent of acme, as the claims said
    with served.services.db.session() as session:
        created = session.scalars(select(Principal).where(Principal.name == "acme-agent-2")).one()
        assert created.role.value == "tenant_agent"
