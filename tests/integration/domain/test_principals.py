"""Principals and API keys: keys are shown once, stored hashed, and authenticate."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from paybill.server.core.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from paybill.server.core.vocabulary import Role
from paybill.server.domain.lifecycle import Lifecycle
from paybill.server.domain.principals import (
    LAST_USED_RESOLUTION,
    add_principal,
    authenticate,
    authenticated_name,
    parse_role,
)
from paybill.server.domain.tenants import create_tenant
from paybill.server.store import ApiKey, Principal
from paybill.server.store.base import utcnow
from paybill.server.store.database import Database


def test_key_is_stored_only_as_hash_and_authenticates(db: Database) -> None:
    with db.session() as session:
        _, key = add_principal(session, "alice", Role.PLATFORM_ADMIN)
    with db.session() as session:
        stored = session.scalars(select(ApiKey)).one()
        assert key.plaintext not in (stored.key_hash, stored.prefix)
        assert stored.key_hash == key.key_hash
        assert authenticate(session, key.plaintext).name == "alice"
        assert stored.last_used_at is not None


def test_the_last_use_is_written_at_most_once_a_minute(db: Database) -> None:
    with db.session() as session:
        _, key = add_principal(session, "alice", Role.OPERATOR)
    with db.session() as session:
        authenticate(session, key.plaintext)
    with db.session() as session:
        first = session.scalars(select(ApiKey)).one().last_used_at
        authenticate(session, key.plaintext)
        assert not session.dirty  # nothing to write: used less than a minute ago
    with db.session() as session:
        stored = session.scalars(select(ApiKey)).one()
        assert stored.last_used_at == first
        stored.last_used_at = first - LAST_USED_RESOLUTION
    with db.session() as session:
        authenticate(session, key.plaintext)
    with db.session() as session:
        assert session.scalars(select(ApiKey)).one().last_used_at > first


def test_a_key_used_a_moment_ago_is_refused_once_disabled_or_revoked(db: Database) -> None:
    with db.session() as session:
        principal, key = add_principal(session, "alice", Role.OPERATOR)
    with db.session() as session:
        authenticate(session, key.plaintext)
    with db.session() as session:
        session.get(Principal, principal.id).disabled = True
    with db.session() as session, pytest.raises(Unauthenticated):
        authenticate(session, key.plaintext)
    with db.session() as session:
        session.get(Principal, principal.id).disabled = False
        session.scalars(select(ApiKey)).one().revoked_at = utcnow()
    with db.session() as session, pytest.raises(Unauthenticated):
        authenticate(session, key.plaintext)


@pytest.mark.parametrize(
    "presented",
    ["", "Bearer x", "pb_short_key", "pb_AAAAAAAAAAAA_" + "A" * 43],
)
def test_bad_keys_are_refused(db: Database, presented: str) -> None:
    with db.session() as session:
        add_principal(session, "alice", Role.OPERATOR)
        with pytest.raises(Unauthenticated):
            authenticate(session, presented)


def test_key_with_right_prefix_but_wrong_secret_is_refused(db: Database) -> None:
    with db.session() as session:
        _, key = add_principal(session, "alice", Role.OPERATOR)
        forged = key.plaintext[:-4] + ("AAAA" if not key.plaintext.endswith("AAAA") else "BBBB")
        with pytest.raises(Unauthenticated):
            authenticate(session, forged)


def test_disabled_principal_cannot_authenticate(db: Database) -> None:
    with db.session() as session:
        principal, key = add_principal(session, "alice", Role.OPERATOR)
        principal.disabled = True
        with pytest.raises(Unauthenticated):
            authenticate(session, key.plaintext)


def _name(db: Database, plaintext: str) -> str:
    with db.engine.begin() as connection:
        return authenticated_name(connection, plaintext)


def test_the_name_alone_is_checked_and_its_last_use_written_as_by_authenticate(
    db: Database,
) -> None:
    with db.session() as session:
        principal, key = add_principal(session, "alice", Role.OPERATOR)
        forged = key.plaintext[:-4] + ("AAAA" if not key.plaintext.endswith("AAAA") else "BBBB")
    assert _name(db, key.plaintext) == "alice"
    with db.session() as session:
        first = session.scalars(select(ApiKey)).one().last_used_at
    assert first is not None
    assert _name(db, key.plaintext) == "alice"
    with db.session() as session:
        stored = session.scalars(select(ApiKey)).one()
        assert stored.last_used_at == first  # used less than a minute ago: not written
        stored.last_used_at = first - LAST_USED_RESOLUTION
    _name(db, key.plaintext)
    with db.session() as session:
        assert session.scalars(select(ApiKey)).one().last_used_at > first
    for presented in ("", "pb_short_key", "pb_AAAAAAAAAAAA_" + "A" * 43, forged):
        with pytest.raises(Unauthenticated):
            _name(db, presented)
    with db.session() as session:
        session.get(Principal, principal.id).disabled = True
    with pytest.raises(Unauthenticated):
        _name(db, key.plaintext)
    with db.session() as session:
        session.get(Principal, principal.id).disabled = False
        session.scalars(select(ApiKey)).one().revoked_at = utcnow()
    with pytest.raises(Unauthenticated):
        _name(db, key.plaintext)


def test_tenant_binding_rules(db: Database, lifecycle: Lifecycle) -> None:
    with db.session() as session:
        create_tenant(session, lifecycle, slug="acme", name="Acme", plan_id="free", actor="t")
        agent, _ = add_principal(session, "bot", Role.TENANT_AGENT, "acme")
        assert agent.tenant_id is not None
        with pytest.raises(InvalidInput, match="tenant-scoped"):
            add_principal(session, "bot2", Role.TENANT_ADMIN)
        with pytest.raises(InvalidInput, match="across tenants"):
            add_principal(session, "ops", Role.OPERATOR, "acme")
        with pytest.raises(NotFound):
            add_principal(session, "bot3", Role.TENANT_AGENT, "nope")
        with pytest.raises(Conflict):
            add_principal(session, "bot", Role.TENANT_AGENT, "acme")


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Alice",
        "a b",
        "x" * 101,
        "\uff41lice",
        "-lead",
        "operator",
        "tenant_admin",
        # Names people read: no trailing newline (``$`` alone let it through), bidi or C1.
        "alice\n",
        "alice\u202e",
        "alice\u009b",
    ],
)
def test_bad_names_are_refused(db: Database, name: str) -> None:
    with db.session() as session, pytest.raises(InvalidInput):
        add_principal(session, name, Role.OPERATOR)


def test_unknown_role_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="platform_admin"):
        parse_role("root")


@pytest.mark.parametrize(
    ("slug", "name"),
    [("acme\n", "Acme"), ("acme", "Acme \u202egnp.exe"), ("acme", "Acme\u009b"), ("acme", " ")],
)
def test_bad_tenant_slugs_and_names_are_refused_in_the_domain(
    db: Database, lifecycle: Lifecycle, slug: str, name: str
) -> None:
    """The CLI and the seeders record tenants without the tool's input model."""
    with db.session() as session, pytest.raises(InvalidInput):
        create_tenant(session, lifecycle, slug=slug, name=name, plan_id="free", actor="a")
