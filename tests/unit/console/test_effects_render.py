"""An approval's effect renders by kind, and any shape of details (unknown kinds, missing
or mistyped fields) still renders, escaped, through the generic fallback."""

from __future__ import annotations

from typing import Any

import pytest

from paybill.server.console.app import templates
from paybill.server.console.pages import terraform_summaries

SQL = {
    "kind": "sql_write",
    "summary": "DELETE 3 rows from customers",
    "tenant": {"slug": "acme", "state": "active", "plan": "pro", "isolation": "bridge"},
    "details": {
        "operation": "delete",
        "table": "customers",
        "statement": "DELETE FROM customers WHERE name = '<b>x</b>'",
        "params": {},
        "rows": 3,
        "keys": {"columns": ["id"], "sample": [[1], [2]], "more": 1},
    },
    "sha256": "ab" * 32,
}
MOVE = {
    "kind": "isolation_move",
    "summary": "Move acme from pooled to silo",
    "tenant": None,
    "details": {
        "plan": {"from": "free", "to": "enterprise"},
        "source": "pooled",
        "target": "silo",
        "tables": {"customers": {"rows": 5, "sha256": "cd" * 32}},
        "total_rows": 5,
        "max_read_only_seconds": 60,
        "steps": ["provision_target", "copy_data"],
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
                    "address": "null_resource.tag",
                    "type": "null_resource",
                    "actions": ["update"],
                    "changed": [{"attribute": "isolation", "before": "pooled", "after": "silo"}],
                },
                {
                    "address": "null_resource.old",
                    "type": "null_resource",
                    "actions": ["delete"],
                    "changed": [],
                },
            ],
        },
    },
}
OFFBOARDING = {
    "kind": "offboarding",
    "summary": "Offboard globex",
    "details": {
        "revoke_principals": ["globex-admin"],
        "export": {"tables": {"customers": 4}, "total_rows": 4},
        "archive": True,
        "deletion": {"retention_days": 30, "after": "2027-01-06T00:00:00Z"},
    },
}
CALL = {"kind": "call", "summary": "x", "details": {"tool": "t", "arguments": {"a": [1, None]}}}
ODD: list[dict[str, Any]] = [
    {"kind": "future_kind", "summary": "?", "details": {"nested": {"deep": [1, {"x": "y"}]}}},
    {"kind": "sql_write", "details": {"keys": "not a mapping", "rows": None}},
    {"kind": "isolation_move", "details": {"tables": ["wrong", "shape"], "terraform": None}},
    {"kind": "isolation_move", "details": {"terraform": {"resources": [{"actions": "delete"}]}}},
    {"kind": "offboarding", "details": {"deletion": "soon", "export": None}},
    {"details": None},
    {},
]


def render(effect: dict[str, Any]) -> str:
    return templates().env.get_template("effect.html").render(effect=effect)


def test_a_sql_write_shows_the_statement_rows_and_key_sample() -> None:
    html = render(SQL)
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert "<strong>3</strong>" in html and "(1 more not shown)" in html
    assert html.count("<td>1</td>") >= 1 and "tenant-provided" in html


def test_a_move_shows_tables_and_the_plan_diff_coloured_by_action() -> None:
    html = render(MOVE)
    for cls in ("add", "change", "destroy"):
        assert f'<tr class="{cls}">' in html, cls
    assert "+1 to add" in html and "-1 to destroy" in html
    assert '<td class="before">pooled</td>' in html and '<td class="after">silo</td>' in html
    assert "free → enterprise" in html and "<code>customers</code>" in html


def test_an_offboarding_shows_its_schedule() -> None:
    html = render(OFFBOARDING)
    assert "30 days of retention, counted from: 2027-01-06" in html and "globex-admin" in html
    assert "4 rows: " in html


@pytest.mark.parametrize("effect", [CALL, *ODD])
def test_any_shape_renders(effect: dict[str, Any]) -> None:
    html = render(effect)
    assert "All details" in html
    assert "built-in method" not in html and "Undefined" not in html


def test_a_run_shows_recorded_plan_summaries_only() -> None:
    plan = {"plan_sha256": "ab" * 32, "counts": {"add": 1, "change": 0, "destroy": 0}}
    run = {
        "steps": [
            {"name": "provision", "output": {"terraform": {"db_name": "x"}}},  # outputs
            {"name": "plan", "output": {"terraform": plan}},
            {"name": "apply", "output": {**plan, "resources": []}},
            {"name": "saved", "output": {"terraform": {"id": "1"}, "plan_sha256": "cd" * 32}},
            {"name": "noop", "output": None},
        ]
    }
    assert [s["step"] for s in terraform_summaries(run)] == ["plan", "apply", "saved"]


def test_a_move_into_an_account_not_created_yet_shows_what_is_bound_instead() -> None:
    bound = {
        "account": {"account_name": "paybill-acme", "account_email": "paybill+acme@example.com"},
        "module": {"path": "terraform_modules/aws", "sha256": "12" * 32},
        "variables": {"tier": "enterprise"},
    }
    terraform = {"plan_file": None, "counts": None, "resources": [], "vend_first": bound}
    why = "not planned yet: created only after approval"
    effect = {**MOVE, "details": {**MOVE["details"], "terraform": {**terraform, "why": why}}}

    html = render(effect)

    assert why in html and "paybill+acme@example.com" in html
    assert "<code>terraform_modules/aws</code> <code>1212121212121212</code>" in html
    assert "to add" not in html
