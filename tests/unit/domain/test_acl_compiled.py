"""The compiled ACL gives exactly Casbin's answer: random bindings (role hierarchies in
tenant domains and in "*", subjects named like roles, extra permission rows in the store,
values Casbin's adapter tokenises) and random requests, each decided by ``AclIndex`` and by
``casbin.Enforcer.enforce`` (which loads the rules through Casbin's own adapter)."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert

from paybill.server.core.vocabulary import Role
from paybill.server.domain.acl import SUBJECT_PREFIX, Acl, load_permissions, plain_rules
from paybill.server.store import CasbinRule
from paybill.server.store.database import Database, make_engine

ROLES = [role.value for role in Role]
USERS = [*(f"user:p{i}" for i in range(6)), "user:operator"]  # a principal named like a role
NAMES = USERS + ROLES + ["group:a", "group:b"]  # links may chain through any name
DOMAINS = ["*", "t1", "t2", "t3"]
TOOLS = sorted({tool for _, tool, _ in load_permissions()} | {"no_such_tool"})
ACTIONS = ["call", "read"]

# Values Casbin's adapter reads otherwise than stored (blanks stripped, commas and brackets
# tokenised): the ACL then takes Casbin's own load instead of its plain SELECT.
ODD = [" user:p1", "user:p2 ", "a,b", "grp(a, b)", ""]
binding = st.tuples(
    st.one_of(st.sampled_from(NAMES), st.sampled_from(ODD)),
    st.sampled_from([*ROLES, "group:a", "group:b"]),
    st.sampled_from(DOMAINS),
)
permission = st.tuples(
    st.sampled_from([*ROLES, "group:a", "user:p0"]),
    st.sampled_from(TOOLS),
    st.sampled_from(ACTIONS),
)
request = st.tuples(
    st.sampled_from([*NAMES, "user:nobody"]),
    st.sampled_from([*DOMAINS, "t9"]),
    st.sampled_from(TOOLS),
    st.sampled_from(ACTIONS),
)


@pytest.fixture
def store(template_store, tmp_path: Path) -> Iterator[Database]:
    target = tmp_path / "store.db"
    shutil.copyfile(template_store("sqlite"), target)
    database = Database(f"sqlite:///{target}")
    yield database
    database.dispose()


@pytest.fixture
def acl(store: Database) -> Iterator[Acl]:
    reader = make_engine(str(store.engine.url), write_lock=False)
    yield Acl(reader)
    reader.dispose()


def _store_rules(
    store: Database, g: list[tuple[str, str, str]], p: list[tuple[str, str, str]]
) -> None:
    with store.session() as session:
        session.execute(delete(CasbinRule))
        rows = [{"ptype": "g", "v0": a, "v1": b, "v2": c} for a, b, c in g]
        rows += [{"ptype": "p", "v0": a, "v1": b, "v2": c} for a, b, c in p]
        if rows:
            session.execute(insert(CasbinRule), rows)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    bindings=st.lists(binding, max_size=25),
    permissions=st.lists(permission, max_size=4),
    requests=st.lists(request, min_size=20, max_size=60),
)
def test_compiled_decisions_equal_casbins(
    store: Database,
    acl: Acl,
    bindings: list[tuple[str, str, str]],
    permissions: list[tuple[str, str, str]],
    requests: list[tuple[str, str, str, str]],
) -> None:
    _store_rules(store, bindings, permissions)
    acl.reload()
    # Only a value Casbin splits into more fields ("a,b") leaves every decision to Casbin.
    assert acl.compiled or any(name == "a,b" for name, _, _ in bindings)
    for sub, dom, obj, act in requests:
        assert acl.decide(sub, dom, obj, act) == acl.enforce(sub, dom, obj, act), (
            sub,
            dom,
            obj,
            act,
        )
        # The guard's form: a principal's name, its subject never built per decision.
        if act == "call" and sub.startswith(SUBJECT_PREFIX):
            principal = sub.removeprefix(SUBJECT_PREFIX)
            assert acl.allowed(principal, dom, obj) == acl.enforce(sub, dom, obj, act), (
                principal,
                dom,
                obj,
            )


def test_a_deep_chain_stops_where_casbins_does(store: Database, acl: Acl) -> None:
    """Casbin follows at most 9 links: a role 10 links away grants nothing, 9 away does."""
    chain = ["user:deep", *(f"group:{i}" for i in range(12))]
    links = [(a, b, "t1") for a, b in itertools.pairwise(chain)]
    grants = [(chain[9], "get_tenant", "call"), (chain[10], "list_plans", "call")]
    _store_rules(store, links, grants)
    acl.reload()
    for obj in ("get_tenant", "list_plans"):
        assert acl.decide("user:deep", "t1", obj, "call") == acl.enforce(
            "user:deep", "t1", obj, "call"
        )
    assert acl.decide("user:deep", "t1", "get_tenant", "call")
    assert not acl.decide("user:deep", "t1", "list_plans", "call")


def test_a_customised_model_is_not_compiled(store: Database, tmp_path: Path) -> None:
    """Another matcher is Casbin's to evaluate: the ACL says so and decides with Casbin."""
    policies = tmp_path / "policies"
    shutil.copytree(files("paybill.policies"), policies)
    model = (policies / "acl_model.conf").read_text()
    (policies / "acl_model.conf").write_text(
        model.replace("r.act == p.act", 'r.act == p.act && r.dom != "*"')
    )
    reader = make_engine(str(store.engine.url), write_lock=False)
    try:
        assert Acl(reader).compiled
        custom = Acl(reader, policies)
        assert not custom.compiled
        _store_rules(store, [("user:a", "operator", "*")], [])
        custom.reload()
        assert not custom.decide("user:a", "*", "list_plans", "call")
        assert custom.decide("user:a", "t1", "list_plans", "call")
    finally:
        reader.dispose()


def test_plain_rows_are_read_directly_and_odd_ones_left_to_casbin(store: Database) -> None:
    _store_rules(store, [("user:a", "operator", "t1")], [("operator", "get_tenant", "call")])
    assert plain_rules(store.engine) == (
        [("operator", "get_tenant", "call")],
        [("user:a", "operator", "t1")],
    )
    for odd in ODD:
        _store_rules(store, [(odd, "operator", "t1")], [])
        assert plain_rules(store.engine) is None, odd


def test_a_permission_also_stored_as_a_row_keeps_the_others(store: Database, acl: Acl) -> None:
    """Casbin's add_policies adds nothing when one rule exists already: a stored copy of one
    permission would have dropped every other permission of the file."""
    _store_rules(store, [("user:a", "operator", "*")], [("operator", "get_tenant", "call")])
    acl.reload()
    for decide in (acl.decide, acl.enforce):
        assert decide("user:a", "*", "get_tenant", "call")
        assert decide("user:a", "*", "list_plans", "call")


# (principal, domain, tool, allowed): "u" is an approver everywhere and a tenant_agent in t1.
MIXED = [
    ("u", "t1", "decide_approval", True),  # the platform role holds in a tenant
    ("u", "t1", "run_sql", True),  # the tenant role in its tenant
    ("u", "t2", "decide_approval", True),  # a tenant it has no binding in
    ("u", "t2", "run_sql", False),  # the tenant role only in its tenant
    ("u", "*", "decide_approval", True),
    ("u", "*", "run_sql", False),
    ("u", "t1", "no_such_tool", False),  # deny by default: unknown tool
    ("nobody", "t1", "list_plans", False),  # unknown principal
    ("approver", "t1", "list_plans", False),  # a principal named like a role is not it
    ("a", "t1", "list_plans", False),  # a tenant binding holds in its tenant only
    ("a", "t9", "get_tenant", False),  # unknown domain
    ("a", "t3", "get_tenant", True),
]


def test_platform_and_tenant_bindings_combine_as_casbins(store: Database, acl: Acl) -> None:
    bindings = [
        ("user:u", "approver", "*"),
        ("user:u", "tenant_agent", "t1"),
        ("user:a", "tenant_admin", "t3"),
    ]
    _store_rules(store, bindings, [])
    acl.reload()
    assert acl.compiled
    for principal, domain, tool, expected in MIXED:
        casbin = acl.enforce(f"{SUBJECT_PREFIX}{principal}", domain, tool, "call")
        assert acl.allowed(principal, domain, tool) == casbin == expected, (principal, domain)
