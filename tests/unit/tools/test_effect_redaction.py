"""An approval's SQL write effect as a reader sees it (``redaction.visible_effect``): bound
parameters, the values an update sets and the touched rows' keys only where the reader may
see them."""

from __future__ import annotations

from typing import Any

from paybill.server.core.vocabulary import Role
from paybill.server.executors.dataplane.visibility import visible_schema
from paybill.tools.redaction import REDACTED, visible_effect

WIDE = visible_schema(Role.PLATFORM_ADMIN, {"data.pii"})
NARROW = visible_schema(Role.OPERATOR, {"data.pii"})


def _effect(table: str = "customers") -> dict[str, Any]:
    return {
        "kind": "sql_write",
        "summary": f"UPDATE 2 rows in {table} (acme)",
        "tenant": {"slug": "acme"},
        "details": {
            "operation": "UPDATE",
            "table": table,
            "statement": "UPDATE customers SET email=%(email)s WHERE name = 'Ada'",
            "params": {"email": "ada@example.com", "tenant_id_1": "t-1"},
            "values": {"email": "ada@example.com", "country": "GB"},
            "rows": 2,
            "keys": {"columns": ["id"], "sample": [4, 9], "more": False},
            "rows_sha256": "0" * 64,
        },
    }


def test_a_reader_who_sees_everything_sees_the_effect_as_it_is() -> None:
    assert visible_effect("update_rows", _effect(), WIDE, sees_all=True) == _effect()


def test_values_params_and_literals_are_redacted_for_a_narrower_reader() -> None:
    details = visible_effect("update_rows", _effect(), NARROW, sees_all=False)["details"]
    assert details["values"] == {"email": REDACTED, "country": "GB"}
    assert details["params"] == {"email": REDACTED, "tenant_id_1": REDACTED}
    assert "Ada" not in details["statement"] and "ada@" not in str(details)
    # Keys of a visible key column, the counts and the hash stay: they bind the approval.
    assert details["keys"]["sample"] == [4, 9]
    assert (details["rows"], details["rows_sha256"]) == (2, "0" * 64)


def test_keys_of_a_table_the_reader_cannot_see_are_redacted() -> None:
    details = visible_effect("run_sql", _effect("secret_table"), NARROW, sees_all=False)["details"]
    assert details["keys"] == {"columns": ["id"], "sample": REDACTED, "more": False}
