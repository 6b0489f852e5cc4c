"""The guard's sqlglot schema is kept per visible schema, by its whole content: a caller who
may see a PII column and one who may not never share one, whichever came first, and an entry
is rebuilt after a bounded number of statements."""

from __future__ import annotations

import pytest

from paybill.server.core.errors import SqlRejected
from paybill.server.core.vocabulary import Role
from paybill.server.executors.dataplane import sqlguard_schema
from paybill.server.executors.dataplane.sqlguard import guard_sql
from paybill.server.executors.dataplane.sqlguard_schema import mapping_schema
from paybill.server.executors.dataplane.visibility import VisibleSchema, visible_schema

ADMIN_PII = visible_schema(Role.TENANT_ADMIN, {"data.sql", "data.pii"})
ADMIN = visible_schema(Role.TENANT_ADMIN, {"data.sql"})
EMAIL = "SELECT email FROM customers"


def _guard(sql: str, schema: VisibleSchema) -> str:
    return guard_sql(sql, {}, schema=schema, dialect="postgres", allow_write=False, max_rows=10).sql


def test_one_schema_per_content_and_none_shared_across_contents() -> None:
    again = VisibleSchema({t: dict(c) for t, c in ADMIN_PII.tables.items()})
    assert mapping_schema(again) is mapping_schema(ADMIN_PII)
    assert mapping_schema(ADMIN) is not mapping_schema(ADMIN_PII)


@pytest.mark.parametrize("first", [ADMIN_PII, ADMIN])
def test_a_hidden_column_stays_hidden_whichever_schema_was_used_first(
    first: VisibleSchema,
) -> None:
    sqlguard_schema._cache.clear()
    for schema in (first, ADMIN if first is ADMIN_PII else ADMIN_PII):
        if schema is ADMIN_PII:
            assert "email" in _guard(EMAIL, schema)
        else:
            with pytest.raises(SqlRejected) as refused:
                _guard(EMAIL, schema)
            assert refused.value.details["rule"] == "unknown_column"


def test_an_entry_is_rebuilt_after_its_uses() -> None:
    sqlguard_schema._cache.clear()
    first = mapping_schema(ADMIN)
    for _ in range(sqlguard_schema._USES - 1):
        assert mapping_schema(ADMIN) is first
    assert mapping_schema(ADMIN) is not first
