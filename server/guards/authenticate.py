"""The first guard: the principal the transport vouches for must exist and be enabled."""

from __future__ import annotations

from sqlalchemy.orm import Session

from paybill.server.core.errors import PaybillError, Unauthenticated
from paybill.server.domain.principals import ActivePrincipal, active_principal
from paybill.server.guards.call import Call, Caller


def _caller(principal: ActivePrincipal) -> Caller:
    return Caller(principal.id, principal.name, principal.role, principal.tenant_id)


def load_caller(session: Session, name: str | None) -> Caller:
    """Raises: Unauthenticated when ``name`` is not an active principal."""
    if not name:
        raise Unauthenticated("No principal: the server was started without one.")
    try:
        return _caller(active_principal(session, name))
    except PaybillError:
        raise Unauthenticated(f"Principal {name!r} is unknown or disabled.") from None


def authenticate(call: Call) -> None:
    """Raises: Unauthenticated.

    Active principals are cached by name under the store's principals version (any write to
    ``principals`` moves it), so a disabled principal is refused on the next call. Unknown
    or disabled names are not cached. Bearer keys are verified by the transport per request.
    """
    name, cache = call.principal, call.services.principals
    version = call.versions().principals if name else 0
    found = cache.get(version, name) if name else None
    if found is None:
        call.caller = load_caller(call.session, name)
        cache.put(version, call.caller.name, _snapshot(call.caller))
        return
    call.caller = _caller(found)


def _snapshot(caller: Caller) -> ActivePrincipal:
    return ActivePrincipal(caller.id, caller.name, caller.role, caller.tenant_id)
