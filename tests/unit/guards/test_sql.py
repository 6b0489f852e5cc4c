"""SQL guard: run_sql's statement validated once, writes only for writers of the tenant."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from paybill.server.core.errors import Denied, SqlRejected
from paybill.server.executors.dataplane.sqlguard import TENANT_PARAM
from paybill.server.guards.sql import check_sql, statement
from tests.support.guard_calls import (
    ACME_ADMIN,
    ACME_BOT,
    ADMIN,
    FREE,
    PRO,
    make_call,
    plan,
    services,
    shipped,
    tenant,
)

WRITER = frozenset({"run_sql", "insert_rows"})
READER = frozenset({"run_sql"})
SQL_ONLY = plan("pro", tier=1, features=("data.read", "data.sql"))
APPROVED: Any = SimpleNamespace(id="appr-1")  # stands for the Approval row being executed


@pytest.mark.parametrize(
    ("situation", "caller", "grants", "plan", "sql", "expected"),
    [
        ("select", ACME_BOT, READER, PRO, "SELECT name FROM customers", "read"),
        (
            "update by a platform writer",
            ADMIN,
            WRITER,
            FREE,
            "UPDATE customers SET name = 'x'",
            "write",
        ),
        ("update by a tenant writer", ACME_ADMIN, WRITER, PRO, "DELETE FROM customers", "write"),
        ("update by a reader", ACME_BOT, READER, PRO, "DELETE FROM customers", "write_not_allowed"),
        (
            "tenant writer whose plan lacks data.write",
            ACME_ADMIN,
            WRITER,
            SQL_ONLY,
            "DELETE FROM customers",
            "write_not_allowed",
        ),
        ("two statements", ADMIN, WRITER, FREE, "SELECT 1; SELECT 2", "statement_count"),
        ("hidden table", ADMIN, WRITER, FREE, "SELECT * FROM casbin_rules", "unknown_table"),
        ("ddl", ADMIN, WRITER, FREE, "DROP TABLE customers", "statement_type"),
    ],
)
def test_statements(situation, caller, grants, plan, sql, expected) -> None:
    call = make_call(
        shipped("run_sql"),
        caller=caller,
        target=tenant(on=plan),
        arguments={"tenant": "acme", "sql": sql},
        grants=grants,
    )
    if expected in ("read", "write"):
        if expected == "write":
            call.approval = APPROVED  # writes run only as an approved call
        check_sql(call)
        assert call.statement().kind == expected, situation
        assert TENANT_PARAM in call.statement().sql  # scoped to the tenant
        return
    with pytest.raises(SqlRejected) as refused:
        check_sql(call)
    assert refused.value.details["rule"] == expected, situation
    assert call.sql is None


def test_the_statement_is_guarded_once() -> None:
    call = make_call(
        shipped("run_sql"),
        target=tenant(),
        arguments={"tenant": "acme", "sql": "SELECT name FROM customers"},
        grants=WRITER,
    )
    first = statement(call)
    check_sql(call)
    assert call.statement() is first


def test_tools_without_sql_are_not_guarded() -> None:
    call = make_call(shipped("query_table"), arguments={"tenant": "acme", "table": "customers"})
    check_sql(call)
    assert call.sql is None


@pytest.mark.parametrize(
    ("situation", "approval", "dry_run", "refused"),
    [
        ("a write nobody approved", None, False, True),
        ("its dry run (says what it would do)", None, True, False),
        ("the approved execution", "approved", False, False),
    ],
)
def test_a_write_runs_only_as_an_approved_call(situation, approval, dry_run, refused) -> None:
    """A backstop behind the approval guard: a spec that ran SQL without asking for an
    approval would still not write."""
    call = make_call(
        shipped("run_sql"),
        caller=ADMIN,
        target=tenant(on=FREE),
        arguments={"tenant": "acme", "sql": "DELETE FROM customers", "dry_run": dry_run},
        grants=WRITER,
    )
    call.approval = APPROVED if approval else None
    if not refused:
        check_sql(call)
        assert call.statement().kind == "write", situation
        return
    with pytest.raises(Denied, match="only through an approval"):
        check_sql(call)


class CountingAcl:
    """An ACL that records what it was asked and grants nothing; or fails, like a store gone."""

    def __init__(self, fails: Exception | None = None) -> None:
        self.asked: list[str] = []
        self.fails = fails

    def allowed(self, principal: str, domain: str, tool: str) -> bool:
        self.asked.append(tool)
        if self.fails is not None:
            raise self.fails
        return False


def test_a_read_asks_the_acl_nothing() -> None:
    """Whether the caller may write costs an enforcement: a SELECT never needs to know."""
    acl = CountingAcl()
    call = make_call(
        shipped("run_sql"),
        caller=ACME_BOT,
        target=tenant(on=PRO),
        arguments={"tenant": "acme", "sql": "SELECT name FROM customers"},
        grants=READER,
        services_=services(acl=acl),
    )
    check_sql(call)
    assert call.statement().kind == "read"
    assert acl.asked == []


def test_a_write_asks_the_acl_once_and_is_refused() -> None:
    acl = CountingAcl()
    call = make_call(
        shipped("run_sql"),
        caller=ACME_BOT,
        target=tenant(on=PRO),
        arguments={"tenant": "acme", "sql": "DELETE FROM customers"},
        grants=READER,
        services_=services(acl=acl),
    )
    with pytest.raises(SqlRejected) as refused:
        check_sql(call)
    assert refused.value.details["rule"] == "write_not_allowed"
    assert acl.asked == ["insert_rows"]


def test_a_failing_writer_check_is_not_turned_into_a_rejection() -> None:
    """The guard refuses what it cannot analyse, but an error of the writer check (the store
    gone, say) is the caller's to see as itself: it is not the statement's fault."""
    gone = ConnectionError("store gone")
    call = make_call(
        shipped("run_sql"),
        caller=ACME_BOT,
        target=tenant(on=PRO),
        arguments={"tenant": "acme", "sql": "DELETE FROM customers"},
        grants=READER,
        services_=services(acl=CountingAcl(fails=gone)),
    )
    with pytest.raises(ConnectionError) as raised:
        check_sql(call)
    assert raised.value is gone
    assert call.sql is None
