"""Which principal an OAuth access token acts as (docs/oauth.md, "Claims").

The principal claim (``sub`` by default) names a Paybill principal; its role and tenant
binding are the principal's, as for an API key. Role and tenant claims, when a token has
them, must match the principal's: a token cannot widen what its principal may do. An unknown
principal is refused unless creating principals from tokens is turned on.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from paybill.server.core.errors import Denied, InvalidInput, NotFound, Unauthenticated
from paybill.server.core.settings import Settings
from paybill.server.domain.principals import add_principal, parse_role
from paybill.server.store import Principal, Tenant


def principal_for_token(session: Session, claims: dict[str, Any], settings: Settings) -> str:
    """The name of the principal ``claims`` act as.

    Raises:
        Unauthenticated: no principal claim, an unknown principal (creation off, or claims
            that cannot create one) or a disabled one.
        Denied: a role or tenant claim that is not the principal's.
    """
    name = claims.get(settings.oauth_principal_claim)
    if not isinstance(name, str) or not name:
        raise Unauthenticated(
            f"The token has no {settings.oauth_principal_claim!r} claim naming a principal.",
            reason="no_principal",
        )
    role_claim = claims.get(settings.oauth_role_claim)
    tenant_claim = claims.get(settings.oauth_tenant_claim)
    principal = session.scalar(select(Principal).where(Principal.name == name))
    if principal is None:
        principal = _created(session, name, role_claim, tenant_claim, settings)
    if principal.disabled:
        raise Unauthenticated(f"Principal {name!r} is disabled.", reason="principal_disabled")
    if role_claim is not None and role_claim != principal.role.value:
        raise Denied(
            f"The token claims role {role_claim!r}; principal {name!r} has "
            f"{principal.role.value}. Issue the token with the principal's role.",
            reason="claims_mismatch",
        )
    if tenant_claim is not None and tenant_claim != _tenant_slug(session, principal):
        raise Denied(
            f"The token claims tenant {tenant_claim!r}, which is not principal {name!r}'s.",
            reason="claims_mismatch",
        )
    return principal.name


def _created(session: Session, name: str, role: Any, tenant: Any, settings: Settings) -> Principal:
    if not settings.oauth_create_principals:
        raise Unauthenticated(
            f"No principal named {name!r}: an operator creates it with `paybill principal "
            "add` (tokens do not create principals unless PAYBILL_OAUTH_CREATE_PRINCIPALS).",
            reason="unknown_principal",
        )
    if not isinstance(role, str) or (tenant is not None and not isinstance(tenant, str)):
        raise Unauthenticated(
            f"Principal {name!r} does not exist and the token's {settings.oauth_role_claim!r} "
            "claim cannot create it.",
            reason="unknown_principal",
        )
    try:
        # Its API key is never shown: the principal authenticates with tokens.
        principal, _key = add_principal(session, name, parse_role(role), tenant)
    except (InvalidInput, NotFound) as exc:
        raise Unauthenticated(
            f"Principal {name!r} cannot be created from the token: {exc.message}",
            reason="unknown_principal",
        ) from None
    return principal


def _tenant_slug(session: Session, principal: Principal) -> str | None:
    if principal.tenant_id is None:
        return None
    return session.scalar(select(Tenant.slug).where(Tenant.id == principal.tenant_id))
