"""The visible schema is built once per audience (PII or not) and handed out as fresh
dicts: what one caller does with its copy changes nothing another caller sees."""

from __future__ import annotations

import pytest

from paybill.server.core.vocabulary import Role
from paybill.server.executors.dataplane.schema import HIDDEN_COLUMNS, TENANT_TABLES
from paybill.server.executors.dataplane.visibility import type_name, visible_schema


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("features", [set(), {"data.pii"}, {"data.sql", "data.pii"}])
def test_the_schema_is_the_declared_tables_less_hidden_and_pii_columns(
    role: Role, features: set[str]
) -> None:
    pii = role in (Role.PLATFORM_ADMIN, Role.TENANT_ADMIN) and "data.pii" in features
    expected = {
        name: {
            c.name: type_name(c)
            for c in table.columns
            if c.name not in HIDDEN_COLUMNS and (pii or not c.info.get("pii"))
        }
        for name, table in TENANT_TABLES.items()
    }
    assert visible_schema(role, features).tables == expected
    assert ("email" in expected["customers"]) is pii


def test_each_caller_gets_its_own_dicts() -> None:
    first = visible_schema(Role.TENANT_AGENT, set())
    first.tables["customers"]["email"] = "varchar"
    first.tables.pop("invoices")
    again = visible_schema(Role.TENANT_AGENT, set())
    assert "email" not in again.columns("customers") and "invoices" in again.tables
