"""Principals and API keys: create, list, authenticate. Keys are stored only as hashes."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session, joinedload

from paybill.server.core.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from paybill.server.core.vocabulary import PRINCIPAL_NAME_PATTERN, Role
from paybill.server.domain.acl import role_binding
from paybill.server.store import ApiKey, Principal, Tenant
from paybill.server.store.base import utcnow

KEY_PREFIX = "pb_"
_KEY_SHAPE = re.compile(r"^pb_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$")
# A key's last use is recorded to the minute: writing it on every HTTP request cost each
# call an UPDATE and a commit of its own.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedKey:
    """A freshly minted key: ``plaintext`` is shown once and never stored."""

    plaintext: str
    prefix: str
    key_hash: str


def hash_key(plaintext: str) -> str:
    # Keys carry 256 random bits, so a fast hash is safe here (no dictionary to attack).
    return hashlib.sha256(plaintext.encode()).hexdigest()


def issue_key() -> IssuedKey:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    prefix = "".join(secrets.choice(alphabet) for _ in range(12))
    plaintext = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return IssuedKey(plaintext=plaintext, prefix=prefix, key_hash=hash_key(plaintext))


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput(
            f"Unknown role {value!r}; choose one of: {', '.join(r.value for r in Role)}.",
            role=value,
        ) from None


def add_principal(
    session: Session, name: str, role: Role, tenant_slug: str | None = None
) -> tuple[Principal, IssuedKey]:
    """Create a principal with one API key.

    Raises:
        InvalidInput: bad name, or a tenant binding that does not fit the role.
        NotFound: ``tenant_slug`` names no tenant.
        Conflict: the name is taken.
    """
    if not re.fullmatch(PRINCIPAL_NAME_PATTERN, name):  # ``$`` alone allows a trailing "\n"
        raise InvalidInput(
            f"Principal name {name!r} is invalid: use 1-100 lowercase letters, digits, '.', '_' "
            "or '-', starting with a letter or digit.",
            name=name,
        )
    if name in {r.value for r in Role}:
        raise InvalidInput(f"{name!r} is a role name; choose another principal name.", name=name)
    if role.tenant_scoped and tenant_slug is None:
        raise InvalidInput(f"Role {role.value} is tenant-scoped: pass --tenant SLUG.", role=role)
    if not role.tenant_scoped and tenant_slug is not None:
        raise InvalidInput(
            f"Role {role.value} acts across tenants and takes no tenant binding.", role=role
        )
    tenant_id = None
    if tenant_slug is not None:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == tenant_slug))
        if tenant is None:
            raise NotFound(f"No tenant with slug {tenant_slug!r}.", tenant=tenant_slug)
        tenant_id = tenant.id
    if session.scalar(select(Principal.id).where(Principal.name == name)) is not None:
        raise Conflict(f"A principal named {name!r} already exists.", name=name)
    principal = Principal(name=name, role=role, tenant_id=tenant_id, disabled=False)
    key = issue_key()
    principal.api_keys.append(ApiKey(prefix=key.prefix, key_hash=key.key_hash))
    session.add(principal)
    session.add(role_binding(name, role, tenant_id))
    session.flush()
    return principal, key


def list_principals(session: Session) -> list[Principal]:
    return list(session.scalars(select(Principal).order_by(Principal.name)))


@dataclass(frozen=True)
class ActivePrincipal:
    """What deciding a call needs of an active principal, detached from any session."""

    id: str
    name: str
    role: Role
    tenant_id: str | None


def active_principal(session: Session, name: str) -> ActivePrincipal:
    """Raises: NotFound (no such principal or disabled)."""
    principal = get_principal(session, name)
    return ActivePrincipal(principal.id, principal.name, principal.role, principal.tenant_id)


def get_principal(session: Session, name: str) -> Principal:
    """Raises: NotFound (no such principal or disabled)."""
    principal = session.scalar(select(Principal).where(Principal.name == name))
    if principal is None or principal.disabled:
        raise NotFound(f"No active principal named {name!r}.", name=name)
    return principal


def role_of(session: Session, name: str | None) -> Role | None:
    """The role of the active principal ``name``; None when there is none."""
    if not name:
        return None
    principal = session.scalar(select(Principal).where(Principal.name == name))
    return None if principal is None or principal.disabled else principal.role


def parse_key_prefix(plaintext: str) -> str:
    """The public prefix of a well-formed key ('' for anything else)."""
    match = _KEY_SHAPE.match(plaintext)
    return match.group(1) if match else ""


def authenticate(session: Session, plaintext: str) -> Principal:
    """Resolve a bearer key to its principal.

    Raises:
        Unauthenticated: malformed, unknown, revoked or disabled key (one message for all).
    """
    refused = Unauthenticated("The API key is missing, invalid or revoked.")
    match = _KEY_SHAPE.match(plaintext)
    if match is None:
        raise refused
    # One statement: the key with its principal (whose disabled flag is read fresh each time).
    query = select(ApiKey).options(joinedload(ApiKey.principal))
    key = session.scalar(query.where(ApiKey.prefix == match.group(1)))
    if key is None or key.revoked_at is not None:
        raise refused
    if not hmac.compare_digest(key.key_hash, hash_key(plaintext)) or key.principal.disabled:
        raise refused
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = now
    return key.principal


# The key and its principal's name and flag, as plain columns: no ORM entities to build.
_KEY_ROW = (
    select(
        ApiKey.id,
        ApiKey.key_hash,
        ApiKey.revoked_at,
        ApiKey.last_used_at,
        Principal.name,
        Principal.disabled,
    )
    .join(Principal, ApiKey.principal_id == Principal.id)
    .where(ApiKey.prefix == bindparam("prefix"))
)


def authenticated_name(connection: Connection, plaintext: str) -> str:
    """``authenticate`` for a caller that needs only the principal's name (the HTTP bearer
    check, on every request): the same checks and the same last-use write, on Core rows,
    which cost about a third of the CPU of loading the key and principal entities.

    Raises:
        Unauthenticated: malformed, unknown, revoked or disabled key (one message for all).
    """
    refused = Unauthenticated("The API key is missing, invalid or revoked.")
    match = _KEY_SHAPE.match(plaintext)
    if match is None:
        raise refused
    row = connection.execute(_KEY_ROW, {"prefix": match.group(1)}).first()
    if row is None or row.revoked_at is not None:
        raise refused
    if not hmac.compare_digest(row.key_hash, hash_key(plaintext)) or row.disabled:
        raise refused
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        connection.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
    return str(row.name)


def _named(session: Session, name: str) -> Principal:
    """Raises: NotFound (no principal of that name, disabled or not)."""
    principal = session.scalar(select(Principal).where(Principal.name == name))
    if principal is None:
        raise NotFound(f"No principal named {name!r}.", name=name)
    return principal


def disable_principal(session: Session, name: str) -> Principal:
    """Disable ``name`` and revoke its keys: it can no longer authenticate, and approvals it
    requested can no longer run as it. Idempotent.

    Raises: NotFound (no such principal).
    """
    principal = _named(session, name)
    principal.disabled = True
    now = utcnow()
    for key in principal.api_keys:
        if key.revoked_at is None:
            key.revoked_at = now
    session.flush()
    return principal


def revoke_keys(session: Session, name: str) -> Principal:
    """Revoke every key of ``name`` (it cannot authenticate until it gets a new one).

    Raises: NotFound (no such principal).
    """
    principal = _named(session, name)
    now = utcnow()
    for key in principal.api_keys:
        if key.revoked_at is None:
            key.revoked_at = now
    session.flush()
    return principal


def rotate_key(session: Session, name: str) -> IssuedKey:
    """Revoke every key of ``name`` and issue a new one (its plaintext is returned once).

    Raises:
        NotFound: no such principal.
        InvalidInput: the principal is disabled (a disabled principal gets no key).
    """
    principal = _named(session, name)
    if principal.disabled:
        raise InvalidInput(
            f"Principal {name!r} is disabled; it gets no new key. Add a new principal instead.",
            name=name,
        )
    now = utcnow()
    for old in principal.api_keys:
        if old.revoked_at is None:
            old.revoked_at = now
    key = issue_key()
    principal.api_keys.append(ApiKey(prefix=key.prefix, key_hash=key.key_hash))
    session.flush()
    return key
