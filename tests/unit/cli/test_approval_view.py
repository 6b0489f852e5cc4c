"""`paybill approvals show`: each effect kind printed readably; unknown kinds and fields as
JSON; tenant text never reaches the terminal as control characters."""

from __future__ import annotations

from typing import Any

from paybill.server.cli.approval_view import render, result_summary

SHA = "ab" * 32


def approval(kind: str, details: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": "9b9cc72c-b5f8-42b7-9c60-fa32416c23d1",
        "status": "pending",
        "tool": "run_sql",
        "tenant_id": "t-1",
        "requested_by": "ops",
        "created_at": "2026-12-07T12:00:00+00:00",
        "expires_at": "2026-12-08T12:00:00+00:00",
        "decided_by": None,
        "decided_at": None,
        "reason": None,
        "effect_hash": SHA,
        "effect": {
            "kind": kind,
            "summary": f"a {kind}",
            "tenant": {"slug": "acme", "state": "active", "plan": "pro", "isolation": "bridge"},
            "details": details,
        },
        **extra,
    }


def shown(kind: str, details: dict[str, Any], **extra: Any) -> str:
    return "\n".join(render(approval(kind, details, **extra)))


def test_sql_write_prints_statement_rows_and_key_sample() -> None:
    text = shown(
        "sql_write",
        {
            "operation": "UPDATE",
            "table": "invoices",
            "statement": "UPDATE invoices\nSET paid = true\nWHERE due < :d",
            "params": {"d": "2026-01-01"},
            "rows": 120,
            "keys": {"columns": ["id"], "sample": [[1], [2]], "more": 118},
        },
    )
    assert "tenant:       acme (state active, plan pro, isolation bridge)" in text
    assert f"Effect: sql_write (sha256 {SHA})" in text
    assert "UPDATE on table invoices" in text
    assert "    UPDATE invoices\n    SET paid = true\n    WHERE due < :d" in text
    assert 'params: {"d": "2026-01-01"}' in text
    assert "rows affected: 120" in text
    assert "key sample (id):\n    1\n    2\n    ... and 118 more" in text


def test_isolation_move_prints_tables_and_plan_changes_per_resource() -> None:
    text = shown(
        "isolation_move",
        {
            "plan": {"from": "free", "to": "enterprise"},
            "source": "pooled",
            "target": "silo",
            "tables": {"customers": {"rows": 3, "sha256": "cd" * 32}},
            "total_rows": 3,
            "max_read_only_seconds": 30,
            "terraform": {
                "plan_sha256": "ef" * 32,
                "counts": {"add": 1, "change": 1, "destroy": 1},
                "resources": [
                    {
                        "address": "null_resource.db",
                        "type": "null_resource",
                        "actions": ["create"],
                        "changed": [],
                    },
                    {
                        "address": "null_resource.dns",
                        "type": "null_resource",
                        "actions": ["update"],
                        "changed": [{"attribute": "triggers.host", "before": "a", "after": "b"}],
                    },
                    {"address": "null_resource.old", "actions": ["delete"], "changed": []},
                ],
            },
        },
    )
    assert "plan: free -> enterprise" in text
    assert "data: pooled -> silo" in text
    assert f"customers: 3 rows (sha256 {'cd' * 6}...)" in text
    assert "read-only for at most 30 s" in text
    assert "1 to add, 1 to change, 1 to destroy" in text
    assert "+ null_resource.db (null_resource)" in text
    assert "~ null_resource.dns (null_resource)\n        triggers.host: a -> b" in text
    assert "- null_resource.old" in text


def test_offboarding_prints_the_schedule() -> None:
    text = shown(
        "offboarding",
        {
            "revoke_principals": ["acme-admin", "acme-bot"],
            "export": {"tables": ["customers", "invoices"]},
            "archive": True,
            "deletion": {"retention_days": 30, "after": "2027-01-06"},
        },
    )
    assert "revoke principals: acme-admin, acme-bot" in text
    assert "export tables: customers, invoices" in text
    assert "archive: true" in text
    assert "deletion: after 30 days (not before 2027-01-06)" in text


def test_unknown_kinds_and_fields_fall_back_to_json() -> None:
    text = shown("quota_raise", {"limit": 5})
    assert '  details:\n    {\n      "limit": 5\n    }' in text
    extra = shown("offboarding", {"archive": False, "new_field": "x"})
    assert '"new_field": "x"' in extra


def test_decision_and_missing_effect() -> None:
    decided = approval("call", {"tool": "x", "arguments": {}}, decided_by="boss", reason="ok")
    decided.update(status="rejected", decided_at="2026-12-07T13:00:00+00:00", effect=None)
    text = "\n".join(render(decided))
    assert "decided by:   boss at 2026-12-07T13:00:00+00:00" in text
    assert "reason:       ok" in text
    assert "No effect recorded" in text


def test_control_characters_in_tenant_data_are_escaped() -> None:
    text = shown("sql_write", {"statement": "DELETE FROM t WHERE n = '\x1b[2J'", "table": "t\x07"})
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b[2J" in text


def test_result_summary_names_the_run_to_follow() -> None:
    result = {
        "workflow": {"id": "r-1", "status": "pending"},
        "tenant": {"slug": "acme", "state": "offboarding"},
    }
    assert result_summary("offboard_tenant", result) == [
        "Run r-1 is pending: follow it with get_workflow (workflow_id r-1).",
        "Tenant acme is offboarding.",
    ]
    assert result_summary("run_sql", {"rows_affected": 4, "kind": "write"}) == ["rows affected: 4"]
    assert result_summary("x", None) == []
