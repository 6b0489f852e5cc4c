"""The first guard: the principal the transport vouches for must exist and be enabled."""

from __future__ import annotations

from sqlalchemy.orm import Session

from paybill.server.core.errors import PaybillError, Unauthenticated
from paybill.server.domain.principals import get_principal
from paybill.server.guards.call import Call, Caller


def load_caller(session: Session, name: str | None) -> Caller:
    """Raises: Unauthenticated when ``name`` is not an active principal."""
    if not name:
        raise Unauthenticated("No principal: the server was started without one.")
    try:
        principal = get_principal(session, name)
    except PaybillError:
        raise Unauthenticated(f"Principal {name!r} is unknown or disabled.") from None
    return Caller(principal.id, principal.name, principal.role, principal.tenant_id)


def authenticate(call: Call) -> None:
    """Raises: Unauthenticated."""
    call.caller = load_caller(call.session, call.principal)
