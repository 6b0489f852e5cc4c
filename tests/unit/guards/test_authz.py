"""Authz guard: the Casbin ACL (tenants as domains), plan entitlements, and writer status
read from the same single ACL consultation."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from paybill.server.core.errors import Denied
from paybill.server.core.vocabulary import Role
from paybill.server.domain.acl import CASBIN_LOGGERS, Acl
from paybill.server.domain.principals import add_principal
from paybill.server.domain.tenants import create_tenant
from paybill.server.guards.authenticate import load_caller
from paybill.server.guards.authz import authorise, check_acl, check_entitlement, may_write_data
from paybill.server.guards.sql import check_sql
from paybill.server.store import Tenant
from paybill.server.store.database import Database, make_engine
from tests.support.guard_calls import (
    ACME_ADMIN,
    ACME_BOT,
    ADMIN,
    LIFECYCLE,
    GrantedAcl,
    make_call,
    plan,
    services,
    shipped,
    tenant,
)

PRINCIPALS = {
    "admin": (Role.PLATFORM_ADMIN, None),
    "ops": (Role.OPERATOR, None),
    "boss": (Role.APPROVER, None),
    "acme-admin": (Role.TENANT_ADMIN, "acme"),
    "acme-bot": (Role.TENANT_AGENT, "acme"),
}


@pytest.fixture
def bound(store: Database) -> Iterator[tuple[Session, Acl]]:
    """Tenants acme and globex, a principal per role, and the ACL over their bindings."""
    with Session(store.engine, expire_on_commit=False) as session:
        for slug in ("acme", "globex"):
            create_tenant(session, LIFECYCLE, slug=slug, name=slug, plan_id="free", actor="t")
        for name, (role, slug) in PRINCIPALS.items():
            add_principal(session, name, role, slug)
        session.commit()
        # As in the server: the ACL reads bindings on an engine of its own, which must not
        # queue behind the call's SQLite write lock.
        reader = make_engine(str(store.engine.url), write_lock=False)
        yield session, Acl(reader)
        reader.dispose()


def _call(session: Session, acl: Acl, principal: str, tool: str, target: str | None):
    found = session.query(Tenant).filter_by(slug=target).one() if target else None
    return make_call(
        shipped(tool),
        caller=load_caller(session, principal),
        target=found,
        session=session,
        services_=services(acl=acl),
        validated=False,
    )


@pytest.mark.parametrize(
    ("principal", "tool", "tenant_slug", "expected"),
    [
        ("ops", "get_tenant", "acme", None),
        ("ops", "decide_approval", "acme", "for this tenant"),
        ("ops", "insert_rows", "acme", "for this tenant"),
        ("boss", "decide_approval", "globex", None),
        ("admin", "create_tenant", None, None),
        ("acme-admin", "create_tenant", None, "platform-wide"),
        ("acme-admin", "insert_rows", "acme", None),
        ("acme-admin", "insert_rows", "globex", "for this tenant"),
        ("acme-bot", "get_tenant", "acme", None),
        ("acme-bot", "get_tenant", "globex", "for this tenant"),
        ("acme-bot", "suspend_tenant", "acme", "for this tenant"),
        ("acme-bot", "insert_rows", "acme", "for this tenant"),
    ],
)
def test_acl(bound, principal: str, tool: str, tenant_slug: str | None, expected) -> None:
    session, acl = bound
    call = _call(session, acl, principal, tool, tenant_slug)
    if expected is None:
        check_acl(call)
        assert tool in call.grants
        assert call.decided_by == f"acl:{call.caller.role.value}:{tool}"
        return
    with pytest.raises(Denied) as refused:
        check_acl(call)
    assert refused.value.message.startswith(
        f"Role {call.caller.role.value} may not call {tool} {expected}."
    )
    assert refused.value.details == {"role": call.caller.role.value, "tool": tool}


def test_a_customised_acl_model_is_enforced_as_written(store: Database, tmp_path: Path) -> None:
    """The guard asks Casbin itself, so a stricter matcher in PAYBILL_POLICIES_DIR holds: here
    one that refuses every platform-wide ("*") request, which the packaged model allows."""
    policies = tmp_path / "policies"
    shutil.copytree(files("paybill.policies"), policies)
    model = (policies / "acl_model.conf").read_text()
    matcher = next(line for line in model.splitlines() if line.startswith("m ="))
    (policies / "acl_model.conf").write_text(model.replace(matcher, f'{matcher} && r.dom != "*"'))
    with Session(store.engine, expire_on_commit=False) as session:
        add_principal(session, "admin", Role.PLATFORM_ADMIN, None)
        session.commit()
        reader = make_engine(str(store.engine.url), write_lock=False)
        try:
            packaged, strict = Acl(reader), Acl(reader, policies)
            for acl, refused in ((packaged, False), (strict, True)):
                call = _call(session, acl, "admin", "create_tenant", None)
                if not refused:
                    check_acl(call)
                    continue
                with pytest.raises(Denied, match="may not call create_tenant platform-wide"):
                    check_acl(call)
        finally:
            reader.dispose()


class CountingAcl:
    """Records how often the guards consult the ACL."""

    def __init__(self, acl: Acl) -> None:
        self.acl, self.consulted = acl, []

    def sync(self, version: int) -> None:
        self.acl.sync(version)

    def allowed(self, principal: str, domain: str, tool: str) -> bool:
        self.consulted.append(("allowed", principal, domain, tool))
        return self.acl.allowed(principal, domain, tool)


@pytest.mark.parametrize(
    ("principal", "sql", "expected_kind"),
    [
        ("admin", "DELETE FROM customers", "write"),
        ("ops", "SELECT name FROM customers", "read"),
    ],
)
def test_writer_status_is_one_more_enforcement_in_the_tenants_domain(
    bound, principal: str, sql: str, expected_kind: str
) -> None:
    session, acl = bound
    counting = CountingAcl(acl)
    call = _call(session, acl, principal, "run_sql", "acme")
    call.services = services(acl=counting)
    # A dry run: the statement is guarded and classified, and nothing needs an approval.
    arguments = {"tenant": "acme", "sql": sql, "dry_run": True}
    call.arguments = call.spec.input_model.model_validate(arguments)
    authorise(call)
    check_sql(call)
    assert call.statement().kind == expected_kind
    tenant_id = call.target().id
    # Writer status is asked only of a write: a read needs no second enforcement.
    writer = [("allowed", principal, tenant_id, "insert_rows")] if expected_kind == "write" else []
    assert counting.consulted == [("allowed", principal, tenant_id, "run_sql"), *writer]


@pytest.mark.parametrize(
    ("situation", "caller", "features", "expected"),
    [
        ("tenant caller, plan has the feature", ACME_BOT, ("data.read", "data.sql"), None),
        ("tenant caller, plan lacks it", ACME_BOT, ("data.read",), "DENIED"),
        ("platform caller, plan lacks it", ADMIN, ("data.read",), None),
    ],
)
def test_entitlements(situation, caller, features, expected) -> None:
    call = make_call(
        shipped("run_sql"),
        caller=caller,
        target=tenant(on=plan(features=features)),
        arguments={"tenant": "acme", "sql": "SELECT 1"},
    )
    if expected is None:
        check_entitlement(call)
        return
    with pytest.raises(Denied) as refused:
        check_entitlement(call)
    assert refused.value.details == {"plan": "free", "feature": "data.sql"}, situation
    assert "upgrade the plan" in refused.value.message


@pytest.mark.parametrize(
    ("situation", "caller", "grants", "features", "expected"),
    [
        ("platform writer", ADMIN, {"insert_rows"}, (), True),
        ("platform reader", ADMIN, {"query_table"}, ("data.write",), False),
        ("tenant writer on a writing plan", ACME_ADMIN, {"insert_rows"}, ("data.write",), True),
        ("tenant writer, plan without data.write", ACME_ADMIN, {"insert_rows"}, (), False),
        ("tenant reader", ACME_BOT, {"run_sql"}, ("data.write",), False),
    ],
)
def test_writer_status(situation, caller, grants, features, expected) -> None:
    call = make_call(
        caller=caller,
        target=tenant(on=plan(features=features)),
        services_=services(acl=GrantedAcl(grants)),
    )
    assert may_write_data(call) is expected, situation


@pytest.mark.parametrize("customised", [False, True])
def test_a_denied_writer_check_logs_nothing(
    bound,
    store: Database,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    customised: bool,
) -> None:
    """Writer status is asked of every read of tenant data and is mostly denied: neither the
    compiled ACL nor Casbin (a customised model) logs the refusal. Casbin's loggers start
    disabled, but a logging setup (uvicorn's dictConfig) enables them again: as here."""
    session, acl = bound
    if customised:
        policies = tmp_path / "policies"
        shutil.copytree(files("paybill.policies"), policies)
        model = (policies / "acl_model.conf").read_text()
        (policies / "acl_model.conf").write_text(model.replace("r.act == p.act", "p.act == r.act"))
        acl = Acl(make_engine(str(store.engine.url), write_lock=False), policies)
        assert not acl.compiled
    for name in CASBIN_LOGGERS:  # after the enforcers are made: each disables them anew
        monkeypatch.setattr(logging.getLogger(name), "disabled", False)
    call = _call(session, acl, "ops", "run_sql", "acme")
    with caplog.at_level(logging.DEBUG):
        assert may_write_data(call) is False
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
