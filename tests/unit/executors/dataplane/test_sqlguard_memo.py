"""The guard's outcome is remembered by its whole input: the same input is answered without
analysing it again, with the value the analysis gives (a refusal stays a refusal); any one
input changed is analysed afresh; whether the caller may write is asked on every call; what
is remembered is bounded and shared with no caller."""

from __future__ import annotations

from typing import Any

import pytest

from paybill.server.core.errors import SqlRejected, Unavailable
from paybill.server.core.vocabulary import Role
from paybill.server.executors.dataplane import sqlguard, sqlguard_budget
from paybill.server.executors.dataplane.sqlguard import (
    Dialect,
    GuardedSql,
    WriteCheck,
    guard_sql,
    statement_kind,
)
from paybill.server.executors.dataplane.sqlguard_memo import (
    MAX_ENTRIES,
    Accepted,
    GuardMemo,
    Memo,
)
from paybill.server.executors.dataplane.visibility import VisibleSchema, visible_schema

ADMIN_PII = visible_schema(Role.TENANT_ADMIN, {"data.sql", "data.pii"})
ADMIN = visible_schema(Role.TENANT_ADMIN, {"data.sql"})  # the plan lacks data.pii
AGENT_PII = visible_schema(Role.TENANT_AGENT, {"data.sql", "data.pii"})  # a role without PII
READ = "SELECT name, email FROM customers WHERE name = 'x' AND id > :low"
WRITE = "UPDATE customers SET name = 'y' WHERE id = :id"


@pytest.fixture(autouse=True)
def analyses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements the guard parsed (analysed rather than answered from memory)."""
    sqlguard.clear_memo()
    parsed: list[str] = []
    real = sqlguard._parse

    def counted(sql: str) -> Any:
        parsed.append(sql)
        return real(sql)

    monkeypatch.setattr(sqlguard, "_parse", counted)
    return parsed


def _guard(
    sql: str = READ,
    params: dict[str, Any] | None = None,
    *,
    schema: VisibleSchema = ADMIN_PII,
    dialect: Dialect = "postgres",
    allow_write: WriteCheck = False,
    max_rows: int = 100,
    max_value_chars: int | None = 1000,
) -> GuardedSql:
    return guard_sql(
        sql,
        {"low": 1} if params is None else params,
        schema=schema,
        dialect=dialect,
        allow_write=allow_write,
        max_rows=max_rows,
        max_value_chars=max_value_chars,
    )


def _rule(**kwargs: Any) -> str:
    with pytest.raises(SqlRejected) as refused:
        _guard(**kwargs)
    return str(refused.value.details["rule"])


def test_the_same_input_is_answered_from_memory_with_the_same_value(
    analyses: list[str],
) -> None:
    first = _guard()
    second = _guard()
    assert analyses == [READ]
    assert second == first
    assert second is not first and second.params is not first.params
    first.params["low"] = 99  # a caller changing its statement's values changes no other's
    assert _guard().params == {"low": 1, "__p1": "x"}


def test_parameter_values_are_passed_on_not_remembered(analyses: list[str]) -> None:
    assert _guard(params={"low": 1}).params == {"low": 1, "__p1": "x"}
    assert _guard(params={"low": 7}).params == {"low": 7, "__p1": "x"}
    assert analyses == [READ]


@pytest.mark.parametrize(
    "changed",
    [
        {"schema": ADMIN},  # the plan without data.pii: email is hidden
        {"schema": AGENT_PII},  # a role that sees no PII
        {"max_rows": 5},
        {"max_value_chars": None},
        {"max_value_chars": 10},
        {"dialect": "sqlite"},
        {"params": {}},  # a parameter missing
        {"sql": READ + " "},
    ],
    ids=["plan", "role", "rows", "no_value_bound", "value_bound", "dialect", "params", "text"],
)
def test_any_one_input_changed_is_analysed_afresh(
    changed: dict[str, Any], analyses: list[str]
) -> None:
    _guard()
    try:
        expected: GuardedSql | str = _guard(**changed)
    except SqlRejected as refused:
        expected = str(refused.details["rule"])
    assert len(analyses) == 2
    sqlguard.clear_memo()
    try:
        assert _guard(**changed) == expected
    except SqlRejected as refused:
        assert refused.details["rule"] == expected


def test_a_removed_column_is_refused_after_being_accepted() -> None:
    assert "email" in _guard(schema=ADMIN_PII).sql
    assert _rule(schema=ADMIN) == "unknown_column"
    assert _rule(schema=AGENT_PII) == "unknown_column"
    assert "email" in _guard(schema=ADMIN_PII).sql


def test_a_changed_guard_limit_is_analysed_afresh(
    analyses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    joined = "SELECT c.id FROM customers c JOIN invoices i ON i.customer_id = c.id"
    _guard(joined, {})
    monkeypatch.setattr(sqlguard_budget, "MAX_JOINS", 0)
    assert _rule(sql=joined, params={}) == "too_complex"
    assert len(analyses) == 2


def test_a_refusal_stays_a_refusal(analyses: list[str]) -> None:
    errors = []
    for _ in range(2):
        with pytest.raises(SqlRejected) as refused:
            _guard("SELECT secret FROM customers", {})
        errors.append(refused.value)
    assert analyses == ["SELECT secret FROM customers"]
    assert errors[0] is not errors[1]
    assert (errors[1].message, errors[1].details) == (errors[0].message, errors[0].details)
    assert errors[1].details["rule"] == "unknown_column"


def test_whether_the_caller_may_write_is_asked_on_every_call(analyses: list[str]) -> None:
    asked: list[bool] = []

    def may(answer: bool) -> WriteCheck:
        def check() -> bool:
            asked.append(answer)
            return answer

        return check

    first = _guard(WRITE, {"id": 3}, allow_write=may(True))
    again = _guard(WRITE, {"id": 4}, allow_write=may(True))
    assert (first.kind, again.params) == ("write", {"id": 4, "__p0": "y"})
    assert again.touched == first.touched and again.operation == "UPDATE"
    assert _rule(sql=WRITE, params={"id": 3}, allow_write=may(False)) == "write_not_allowed"
    assert asked == [True, True, False]
    assert analyses == [WRITE]


def test_a_refused_writer_is_not_remembered_for_the_next_caller(analyses: list[str]) -> None:
    assert _rule(sql=WRITE, params={"id": 3}, allow_write=False) == "write_not_allowed"
    assert _guard(WRITE, {"id": 3}, allow_write=True).kind == "write"
    assert len(analyses) == 2


def test_a_failing_write_check_raises_its_own_error_on_a_hit_too() -> None:
    _guard(WRITE, {"id": 3}, allow_write=True)

    def down() -> bool:
        raise Unavailable()

    with pytest.raises(Unavailable):
        _guard(WRITE, {"id": 3}, allow_write=down)


def test_a_read_never_asks_whether_the_caller_may_write() -> None:
    def never() -> bool:
        raise AssertionError("asked")

    for _ in range(2):
        assert _guard(allow_write=never).kind == "read"


def test_refusals_of_the_moment_are_not_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    real = sqlguard.qualify

    def deep(*_args: Any, **_kwargs: Any) -> Any:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(sqlguard, "qualify", deep)
    assert _rule() == "too_complex"
    monkeypatch.setattr(sqlguard, "qualify", real)
    assert _guard().kind == "read"


def test_memory_is_bounded() -> None:
    memo = GuardMemo(max_entries=2)
    entry = Memo(Accepted("SELECT 1", (), "read", frozenset(), 1, None, None), asks_write=False)
    for key in ("a", "b", "a", "c"):  # "a" used again: "b" is the least recently used
        memo.put(key, entry) if memo.get(key) is None else None
    assert len(memo) == 2 and memo.get("b") is None and memo.get("a") is entry

    for n in range(MAX_ENTRIES + 20):
        _guard(f"SELECT id FROM customers LIMIT {n + 1}", {})
    assert len(sqlguard._memo) == MAX_ENTRIES


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("SELECT 1", "read"),
        ("WITH a AS (SELECT 1) SELECT * FROM a", "read"),
        ("SELECT 1 UNION SELECT 2", "read"),
        (WRITE, "write"),
        ("DELETE FROM customers", "write"),
        ("INSERT INTO customers VALUES (1)", None),
        ("SELECT 1; DELETE FROM customers", None),
        ("not sql at all (", None),
    ],
)
def test_the_statement_kind_is_the_guards(sql: str, kind: str | None) -> None:
    assert statement_kind(sql) == kind
