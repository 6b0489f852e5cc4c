"""SQL guard golden files: every rejected case fails with its rule; accepted ones are scoped."""

from __future__ import annotations

import re

import pytest

from paybill.evals.sql_corpus import Case, load
from paybill.server.core.errors import SqlRejected
from paybill.server.core.vocabulary import Role
from paybill.server.executors.dataplane.sqlguard import TENANT_PARAM, guard_sql
from paybill.server.executors.dataplane.visibility import visible_schema

REJECTED = load("rejected")
ACCEPTED = load("accepted")
AGENT = visible_schema(Role.TENANT_AGENT, {"data.read", "data.sql"})
DATE_PARTS = {"DAY", "MONTH", "YEAR", "HOUR", "WEEK"}
INTERVAL_TEXT = re.compile(r"^[0-9a-zA-Z .:+-]+$")


def test_enough_golden_cases() -> None:
    assert len(REJECTED) >= 150
    assert len({c.id for c in REJECTED}) == len(REJECTED), "case names must be unique"


@pytest.mark.parametrize("case", REJECTED, ids=lambda c: c.id)
@pytest.mark.parametrize("dialect", ["postgres", "sqlite"])
def test_rejected(case: Case, dialect: str) -> None:
    with pytest.raises(SqlRejected) as refused:
        guard_sql(
            case.sql,
            case.params,
            schema=AGENT,
            dialect=dialect,
            allow_write=case.writer,
            max_rows=100,
        )
    assert case.expect_code == "SQL_REJECTED"
    assert refused.value.details["rule"] == case.expect_rule, refused.value.message


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.id)
@pytest.mark.parametrize("dialect", ["postgres", "sqlite"])
def test_accepted_statements_are_scoped_and_capped(case: Case, dialect: str) -> None:
    if case.backend not in (None, dialect):
        with pytest.raises(SqlRejected):
            guard_sql(
                case.sql,
                case.params,
                schema=AGENT,
                dialect=dialect,
                allow_write=False,
                max_rows=100,
            )
        return
    guarded = guard_sql(
        case.sql, case.params, schema=AGENT, dialect=dialect, allow_write=False, max_rows=100
    )
    assert guarded.kind == "read"
    assert guarded.limit is not None and guarded.limit <= 101
    marker = f"%({TENANT_PARAM})s" if dialect == "postgres" else f":{TENANT_PARAM}"
    assert guarded.sql.count(marker) >= len(guarded.tables), guarded.sql
    # Comments never reach the database (a % in one would break psycopg's placeholders).
    assert "/*" not in guarded.sql and "--" not in guarded.sql
    # String literals are bound parameters; only sqlglot's own date-part keywords and
    # interval texts (a number and a unit, checked by the guard) stay quoted.
    quoted = set(re.findall(r"'([^']*)'", guarded.sql))
    assert all(INTERVAL_TEXT.match(q) for q in quoted - DATE_PARTS), guarded.sql
